"""Finite-width networks in any abc-parametrization (TP4 Sections 3-6) and coordinate checks.

>>> from infwidth.parametrization import mup
>>> from infwidth.nn import AbcMLP
>>> net = AbcMLP(mup(2), width=64, d_in=3, seed=0)
>>> round(net.multiplier(3) * 64 ** 0.5, 12)
1.0
"""

from infwidth.nn.coordcheck import CoordCheckResult, QuantityFit, coord_check, predicted_exponents
from infwidth.nn.losses import LOSSES, loss_value
from infwidth.nn.mlp import AbcMLP

__all__ = [
    "AbcMLP",
    "CoordCheckResult",
    "LOSSES",
    "QuantityFit",
    "coord_check",
    "loss_value",
    "predicted_exponents",
]
