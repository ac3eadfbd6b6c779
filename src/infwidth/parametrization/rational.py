"""Exact rational numbers for scaling exponents.

Exponents such as a_l, b_l, c are exact rationals (``fractions.Fraction``): the
classification of Theorems 3.3-3.8 depends on equalities like ``r == 0`` that
floating point cannot decide.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any, Union

from infwidth.errors import InfwidthError

RationalLike = Union[int, float, str, Fraction]  # noqa: UP007 (runtime alias on Python 3.10)


def to_fraction(value: RationalLike, what: str = "value") -> Fraction:
    """Convert ``value`` to an exact ``Fraction``.

    Inputs: an int, a Fraction, a Decimal, a string such as ``"1/2"``, ``"-0.5"`` or ``"3"``,
    or a float whose decimal form is exactly its binary value (``0.5``, ``-0.25``); NumPy integers,
    floats (float64, float32, ...) and 0-d arrays count as the Python number they hold.
    Output: the exact Fraction. Raises ``InfwidthError`` for anything else, e.g. the
    float ``0.1`` (not exactly representable: pass the string ``"1/10"`` instead).
    """
    value = _unwrap_numpy(value)
    if isinstance(value, bool):
        raise InfwidthError(f"{what} must be a number, not a boolean ({value!r}).")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InfwidthError(f"{what} must be finite, got {value!r}.")
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InfwidthError(f"{what} must be finite, got {value!r}.")
        exact = Fraction(value)
        if exact != Fraction(repr(value)):
            raise InfwidthError(
                f"{what} = {value!r} is not exactly representable as a float; "
                f"pass it as an exact string such as '{Fraction(repr(value))}'."
            )
        return exact
    if isinstance(value, str):
        text = value.strip()
        try:
            result = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise InfwidthError(
                f"{what} = {value!r} is not a rational number; use forms like 1/2, -0.5 or 3."
            ) from None
        return result
    raise InfwidthError(f"{what} must be a number or a string like '1/2', got {type(value).__name__}.")


def _unwrap_numpy(value: Any) -> Any:
    """A NumPy scalar or 0-d array as the Python number it holds (``np.float64(0.5)`` -> ``0.5``); else ``value``."""
    if type(value).__module__ == "numpy":
        if getattr(value, "ndim", 0) != 0:
            raise InfwidthError(f"expected one number, got a NumPy array of shape {value.shape}.")
        return value.item()
    return value


def to_fractions(values: Iterable[RationalLike], what: str = "value") -> tuple[Fraction, ...]:
    """Convert every element of the ordered sequence ``values`` (list, tuple, NumPy vector, ...) with
    :func:`to_fraction`. An unordered collection (set, dict) or a bare string is refused: its order (which
    layer gets which exponent) would be arbitrary."""
    if isinstance(values, (Set, Mapping)):
        raise InfwidthError(f"{what} must be an ordered sequence (list or tuple, one entry per layer), not a "
                            f"{type(values).__name__}: its order would decide which layer gets which exponent.")
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InfwidthError(f"{what} must be a sequence of numbers such as [-1/2, 0, 1/2] (or use parse_list for "
                            f"a string like '-1/2,0,1/2'), got {type(values).__name__} {values!r}.")
    return tuple(to_fraction(v, f"{what}[{i}]") for i, v in enumerate(values))


def parse_list(text: str, what: str) -> tuple[Fraction, ...]:
    """Parse a comma-separated list such as ``"-1/2, 0, 1/2"`` into Fractions."""
    parts = [p for p in (s.strip() for s in text.split(",")) if p]
    if not parts:
        raise InfwidthError(f"{what} is empty; give comma-separated numbers such as '-1/2,0,1/2'.")
    return tuple(to_fraction(p, f"{what} entry {i + 1}") for i, p in enumerate(parts))


def fmt(value: Fraction) -> str:
    """Format a Fraction as ``"1/2"``, ``"-1"`` or ``"0"``."""
    return str(value)


def fmt_all(values: Sequence[Fraction]) -> list[str]:
    """Format a sequence of Fractions as strings."""
    return [fmt(v) for v in values]
