"""Plot exact phase-diagram slices (see ``infwidth.parametrization.phase``)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from infwidth.parametrization.abc import AbcParametrization
from infwidth.parametrization.phase import REGIMES, PhaseSlice, axis_value, parse_axis
from infwidth.parametrization.presets import PRESETS, preset
from infwidth.viz import save_figure

COLORS = ("#f4c7c3", "#e6e6e6", "#1f77b4", "#d62728")  # unstable, trivial, kernel, feature learning


def _in_slice(p: AbcParametrization, s: PhaseSlice) -> tuple[Fraction, Fraction, Fraction] | None:
    """If some Eq. (5) shift of ``p`` by theta agrees with the slice's base off the two
    axes, return (x, y, theta); else None."""
    base = s.base
    if p.depth != base.depth:
        return None
    ax, ay = parse_axis(s.x_axis, base.depth), parse_axis(s.y_axis, base.depth)
    coords = [("c", -1)] + [(k, i) for i in range(base.depth + 1) for k in ("a", "b")]
    fixed = [co for co in coords if co not in (ax, ay)]
    # shift theta moves a by +theta, b by -theta, c by -2 theta
    sign = {"a": Fraction(1), "b": Fraction(-1), "c": Fraction(-2)}
    kind, _ = fixed[0]
    theta = (axis_value(base, fixed[0]) - axis_value(p, fixed[0])) / sign[kind]
    q = p.shift(theta)
    if all(axis_value(q, co) == axis_value(base, co) for co in fixed):
        return axis_value(q, ax), axis_value(q, ay), theta
    return None


def plot_phase_slices(slices: list[PhaseSlice], out: Path) -> None:
    """One panel per slice: regions coloured by regime, presets marked. Writes a PNG."""
    n = len(slices)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 5.6 * rows), squeeze=False)
    cmap = ListedColormap(COLORS)
    for idx, s in enumerate(slices):
        ax = axes[idx // cols][idx % cols]
        grid = np.array(s.regime, dtype=float)
        xs = [float(x) for x in s.xs]
        ys = [float(y) for y in s.ys]
        h = xs[1] - xs[0] if len(xs) > 1 else 1.0
        ax.imshow(grid, origin="lower", cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest",
                  extent=(xs[0] - h / 2, xs[-1] + h / 2, ys[0] - h / 2, ys[-1] + h / 2), aspect="auto")
        # Nontrivial sets are faces (lines): thicken them so they read at any resolution.
        for code in (2, 3):
            yy, xx = np.nonzero(grid == code)
            if len(xx):
                ax.scatter(np.array(xs)[xx], np.array(ys)[yy], s=14, marker="s", color=COLORS[code],
                           linewidths=0)
        placed: list[tuple[Fraction, Fraction]] = []
        for name in PRESETS:
            if name == "mfp" and s.base.depth > 1:
                continue  # TP4 marks MFP at depth 1 only (deeper it is muP's point, up to Eq. (5))
            p = preset(name, s.base.depth)
            found = _in_slice(p, s)
            if found is None:
                continue
            at, shifted = found[:2], found[2] != 0
            same = p == s.base
            # hollow markers keep the regime colour underneath visible
            ax.plot(float(at[0]), float(at[1]), marker="*" if same else "o", ms=16 if same else 10,
                    mec="black", mfc="none", mew=1.4, zorder=5)
            dy = 8 - 14 * placed.count(at)  # stack labels of presets that coincide
            placed.append(at)
            ax.annotate(name + (" (Eq. 5 shift)" if shifted else ""), (float(at[0]), float(at[1])),
                        xytext=(9, dy), textcoords="offset points", fontsize=9, weight="bold",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        b = s.base
        ax.set_title(f"slice through {b.name} (L = {b.depth})", fontsize=11)
        ax.set_xlabel(_label(s.x_axis, b.depth))
        ax.set_ylabel(_label(s.y_axis, b.depth))
        ax.grid(alpha=0.25, lw=0.5)
    for idx in range(n, rows * cols):
        axes[idx // cols][idx % cols].axis("off")
    handles = [Patch(color=c, label=r) for c, r in zip(COLORS, REGIMES)]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("Exact slices of abc-parametrization space (other exponents fixed at the base preset)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    save_figure(fig, out, dpi=110)


def _label(axis: str, depth: int) -> str:
    kind, idx = parse_axis(axis, depth)
    return "c (LR = η n^-c)" if kind == "c" else f"{kind}_{idx + 1}"
