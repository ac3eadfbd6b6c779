"""Exact 2-D slices of abc-parametrization space (the geometry behind TP4 Figs. 2, 5).

A slice fixes every coordinate of a base parametrization but two, which vary on a
rational grid; every grid point is classified exactly. Nontrivial parametrizations
lie on faces of the stable polyhedron (Theorem 3.4), so in a generic slice the
kernel and feature-learning sets are line segments: an exact grid whose step divides
the faces' intercepts puts grid points on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from infwidth.errors import InfwidthError
from infwidth.parametrization.abc import AbcParametrization
from infwidth.parametrization.classify import classify

REGIMES = ("unstable", "trivial", "kernel", "feature learning")


def parse_axis(name: str, depth: int) -> tuple[str, int]:
    """Parse an axis name: ``c``, ``a1``..``a{L+1}``, ``b1``.., or ``a_out``/``b_out`` (= layer L+1).

    Returns (kind, layer index 0-based; -1 for c).
    """
    key = name.strip().lower().replace("_", "")
    if key == "c":
        return "c", -1
    m = re.fullmatch(r"([ab])(\d+|out)", key)
    if not m:
        raise InfwidthError(
            f"unknown axis {name!r}; use c, a1..a{depth + 1}, b1..b{depth + 1}, a_out or b_out."
        )
    layer = depth + 1 if m.group(2) == "out" else int(m.group(2))
    if not 1 <= layer <= depth + 1:
        raise InfwidthError(f"axis {name!r} names layer {layer}, but layers run 1..{depth + 1}.")
    return m.group(1), layer - 1


def axis_value(p: AbcParametrization, axis: tuple[str, int]) -> Fraction:
    """The coordinate of ``p`` on ``axis``."""
    kind, idx = axis
    return p.c if kind == "c" else (p.a if kind == "a" else p.b)[idx]


def set_axis(p: AbcParametrization, axis: tuple[str, int], value: Fraction) -> AbcParametrization:
    """``p`` with one coordinate replaced."""
    kind, idx = axis
    if kind == "c":
        return p.with_c(value)
    a, b = list(p.a), list(p.b)
    (a if kind == "a" else b)[idx] = value
    return AbcParametrization(a, b, p.c, p.name)


@dataclass(frozen=True)
class PhaseSlice:
    """A classified grid: ``regime[i][j]`` is the index into REGIMES at (xs[j], ys[i])."""

    base: AbcParametrization
    x_axis: str
    y_axis: str
    xs: tuple[Fraction, ...]
    ys: tuple[Fraction, ...]
    regime: tuple[tuple[int, ...], ...]

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in REGIMES}
        for row in self.regime:
            for k in row:
                out[REGIMES[k]] += 1
        return out


def grid(lo: Fraction, hi: Fraction, step: Fraction) -> tuple[Fraction, ...]:
    """lo, lo + step, ..., up to hi inclusive (exact)."""
    if step <= 0 or hi < lo:
        raise InfwidthError("a slice needs lo <= hi and a positive step.")
    n = int((hi - lo) / step)
    if n > 2000:
        raise InfwidthError(f"the slice has {n + 1} points per axis; use a larger step (at most 2001).")
    return tuple(lo + k * step for k in range(n + 1))


def phase_slice(
    base: AbcParametrization,
    x_axis: str,
    y_axis: str,
    x_range: tuple[Fraction, Fraction],
    y_range: tuple[Fraction, Fraction],
    step: Fraction,
) -> PhaseSlice:
    """Classify the parametrizations ``base`` with (x_axis, y_axis) set to grid values."""
    ax = parse_axis(x_axis, base.depth)
    ay = parse_axis(y_axis, base.depth)
    if ax == ay:
        raise InfwidthError(f"the two axes must differ (both are {x_axis!r}).")
    xs, ys = grid(*x_range, step), grid(*y_range, step)
    rows = []
    for y in ys:
        py = set_axis(base, ay, y)
        rows.append(tuple(REGIMES.index(classify(set_axis(py, ax, x)).regime) for x in xs))
    return PhaseSlice(base, x_axis, y_axis, xs, ys, tuple(rows))
