"""Infinite-width limits of training by the Tensor Programs technique (TP4 Sections 6-8), and ``limit_of``.

* :mod:`~infwidth.limits.program` -- the IR (Definition 7.1);
* executors: :func:`run_finite` (width n), :func:`run_linear` (exact, linear programs),
  :func:`run_polynomial` (exact, polynomial programs), :func:`run_particles` (Monte Carlo);
* :mod:`~infwidth.limits.builders` -- :func:`tensor_program`: a training routine on an MLPSpec as a program
  (Algorithm 1, step 1);
* :func:`limit_of` -- the limit of a routine whatever the regime (Tensor Program or kernel GD), a
  :class:`~infwidth.arch.TrainingLimit`;
* :mod:`~infwidth.limits.linear_network` -- the linear 1-hidden-layer muP limit as a torch module.
"""

from infwidth.limits._engine import LimitResult
from infwidth.limits.builders import (
    KernelRegimeError,
    MLPProgram,
    layer_roles,
    mlp_sgd_program,
    tensor_program,
)
from infwidth.limits.finite import run_finite
from infwidth.limits.limit_of import limit_of
from infwidth.limits.linear import run_linear
from infwidth.limits.particles import run_particles
from infwidth.limits.polynomial import run_polynomial
from infwidth.limits.program import LinComb, Program

__all__ = [
    "KernelRegimeError",
    "LimitResult",
    "LinComb",
    "MLPProgram",
    "Program",
    "layer_roles",
    "limit_of",
    "mlp_sgd_program",
    "run_finite",
    "run_linear",
    "run_particles",
    "run_polynomial",
    "tensor_program",
]
