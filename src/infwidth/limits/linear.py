"""Exact linear backend: every Z is a linear combination of independent standard Gaussians.

When every Nonlin is linear (affine) in its vector arguments (e.g. phi = identity), Definition
7.3 keeps each Z^h in the span of finitely many independent standard Gaussians: initial vectors
and each new ZHat direction add one Gaussian only if they are linearly independent of the
family so far (degenerate covariances add none), ZDot coefficients E[dZ^x/dZhat] are exact
(Stein's lemma with exact second moments), and Moments of products are exact inner products.
No sampling is involved; results are exact up to floating point.
"""

from __future__ import annotations

from infwidth.limits.polynomial import PolyBackend
from infwidth.limits.program import Program
from infwidth.limits.zrules import LimitResult, run_limit


def run_linear(program: Program, keep_z: bool = False, budget: float = 1e8) -> LimitResult:
    """Exact limits of a linear program; InfwidthError if some vector is not linear."""
    backend = PolyBackend(
        "linear", budget=budget, max_vector_degree=1,
        hint="use --backend polynomial (polynomial phi) or --backend particles (any phi).",
    )
    return run_limit(program, backend, keep_z=keep_z)
