"""Finite-width networks in any abc-parametrization (TP4 Sections 3-6) and coordinate checks.

>>> from infwidth.arch import MLPSpec
>>> from infwidth.parametrization import mup
>>> from infwidth.nn import AbcMLP
>>> net = AbcMLP(MLPSpec(2, d_in=3), mup(2), width=64, seed=0)
>>> round(net.multiplier(3) * 64 ** 0.5, 12)
1.0
"""

from infwidth.nn.coordcheck import CoordCheckResult, QuantityFit, coord_check, predicted_exponents
from infwidth.nn.losses import LOSSES, loss_value
from infwidth.nn.mlp import AbcMLP
from infwidth.nn.train import Trajectory, train

__all__ = [
    "AbcMLP",
    "CoordCheckResult",
    "LOSSES",
    "QuantityFit",
    "coord_check",
    "loss_value",
    "predicted_exponents",
    "Trajectory",
    "train",
]
