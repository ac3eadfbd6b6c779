"""Named parametrizations of TP4 Table 1 (and SP as PyTorch ships it)."""

from __future__ import annotations

import numbers
from collections.abc import Callable

from infwidth.errors import InfwidthError
from infwidth.parametrization.abc import AbcParametrization

H = "1/2"


def _check_depth(depth: int) -> None:
    """``depth`` must be an integer L >= 1 (Python or NumPy; not a bool, not a float)."""
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 1:
        raise InfwidthError(f"depth must be an integer L >= 1 (hidden layers), got {depth!r}.")


def sp(depth: int) -> AbcParametrization:
    """Standard parametrization, PyTorch default: a_l = 0, b_1 = 0, b_l = 1/2, c = 0."""
    _check_depth(depth)
    return AbcParametrization([0] * (depth + 1), [0] + [H] * depth, 0, "sp")


def sp_stable(depth: int) -> AbcParametrization:
    """SP with learning rate 1/n (c = 1): Table 1's SP column."""
    _check_depth(depth)
    return AbcParametrization([0] * (depth + 1), [0] + [H] * depth, 1, "sp_stable")


def ntp(depth: int) -> AbcParametrization:
    """Neural tangent parametrization: a_1 = 0, a_l = 1/2 (l >= 2), b_l = 0, c = 0."""
    _check_depth(depth)
    return AbcParametrization([0] + [H] * depth, [0] * (depth + 1), 0, "ntp")


def mfp(depth: int) -> AbcParametrization:
    """Mean-field parametrization, 1 hidden layer only: a = (0, 1), b = (0, 0), c = -1."""
    _check_depth(depth)
    if depth != 1:
        raise InfwidthError(
            f"the mean-field preset mfp is defined only for depth 1 (got depth {depth}); "
            "use mup, which equals mfp up to the Eq. (5) symmetry at depth 1 and extends to any depth."
        )
    return AbcParametrization([0, 1], [0, 0], -1, "mfp")


def mup(depth: int) -> AbcParametrization:
    """Maximal update parametrization (Definition 5.1): a = (-1/2, 0, ..., 0, 1/2), b_l = 1/2, c = 0."""
    _check_depth(depth)
    return AbcParametrization(["-1/2"] + [0] * (depth - 1) + [H], [H] * (depth + 1), 0, "mup")


PRESETS: dict[str, Callable[[int], AbcParametrization]] = {
    "sp": sp,
    "sp_stable": sp_stable,
    "ntp": ntp,
    "mfp": mfp,
    "mup": mup,
}


def preset(name: str, depth: int) -> AbcParametrization:
    """Look up a preset by name (sp, sp_stable, ntp, mfp, mup) at the given depth."""
    key = name.strip().lower().replace("-", "_")
    if key == "mup" or key == "μp":
        key = "mup"
    if key not in PRESETS:
        raise InfwidthError(
            f"unknown parametrization {name!r}; choose one of: {', '.join(PRESETS)}."
        )
    return PRESETS[key](depth)
