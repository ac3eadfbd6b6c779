"""One entry point for the infinite-width limit of a training routine: ``limit_of(spec, param, routine)``.

Dynamical Dichotomy (TP4 Corollary 3.9): a nontrivial stable parametrization either learns features --
its limit is computed from the Tensor Program of the routine (:func:`infwidth.limits.tensor_program`,
executed exactly or by particles) and is deterministic -- or is in the kernel regime -- its limit is
kernel gradient descent (Eq. (9), :func:`infwidth.kernels.kernel_limit`), driven by the random initial
function f_0, a Gaussian process when a_{L+1} + b_{L+1} = 1/2. :func:`limit_of` classifies once and
dispatches; unstable and trivial parametrizations get an InfwidthError. The result is an
:class:`infwidth.arch.TrainingLimit`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from infwidth.arch import MLPSpec, Routine, TrainingLimit
from infwidth.errors import InfwidthError
from infwidth.kernels import kernel_limit
from infwidth.limits.builders import tensor_program
from infwidth.limits.linear import run_linear
from infwidth.limits.particles import run_particles
from infwidth.limits.polynomial import run_polynomial
from infwidth.parametrization import classify

BACKENDS = ("auto", "linear", "polynomial", "particles")


def limit_of(spec: MLPSpec, param: Any, routine: Routine, *, backend: str = "auto", particles: int = 200_000,
             replicas: int = 16, seed: int = 0, budget: float = 2e7, samples: int | None = None) -> TrainingLimit:
    """The infinite-width limit of ``routine`` on ``AbcMLP(spec, param, n)`` (module docstring).

    Feature learning: ``backend`` "auto" (linear for linear phi, polynomial for polynomial phi -- falling back to
    particles past ``budget`` monomial products, noted in ``note`` -- particles otherwise), "linear",
    "polynomial" or "particles" (``particles``, ``replicas``, ``seed``). Kernel regime: ``samples`` Monte Carlo
    draws of f_0 (default: exact mean and variance for mse, 512 draws otherwise; ``seed``).
    Raises InfwidthError for unstable or trivial parametrizations and for mismatched spec/param/routine.
    """
    spec.check(param)
    routine.check(spec)
    if backend not in BACKENDS:
        raise InfwidthError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}.")
    cl = classify(param)
    if not cl.stable:
        raise InfwidthError(f"parametrization {param.describe()} is unstable ({'; '.join(cl.failed_conditions)}): "
                            "its training blows up as the width grows, so it has no limit (TP4 Theorem 3.3).")
    if cl.kernel_regime:
        if spec.decoupled_backprop:
            raise InfwidthError("decoupled backprop applies to feature-learning limits only, not the kernel regime.")
        return kernel_limit(spec, param, routine, samples=samples, seed=seed)
    if not cl.feature_learning:
        raise InfwidthError(f"parametrization {param.describe()} has a trivial limit (the function does not move "
                            "as n -> infinity); pick a nontrivial one, e.g. mup.")
    return _feature_learning_limit(spec, param, routine, backend, particles, replicas, seed, budget)


def _feature_learning_limit(spec: MLPSpec, param: Any, routine: Routine, backend: str, particles: int,
                            replicas: int, seed: int, budget: float) -> TrainingLimit:
    t0 = time.perf_counter()
    b = tensor_program(spec, param, routine)
    choice = {"linear": "linear", "polynomial": "polynomial"}.get(spec.activation.kind, "particles") \
        if backend == "auto" else backend
    note = ""
    if choice == "linear":
        r = run_linear(b.program)
    elif choice == "polynomial":
        try:
            r = run_polynomial(b.program, budget=budget)
        except InfwidthError as e:
            if backend != "auto" or "budget" not in str(e):
                raise
            note = f"{e} Fell back to particles."
            r = run_particles(b.program, particles=particles, replicas=replicas, seed=seed)
    else:
        r = run_particles(b.program, particles=particles, replicas=replicas, seed=seed)
    val, se = b.collect(r.values), b.collect(r.stderr)
    zeros = np.zeros_like(val["f"])
    f_eval, f_eval_se = val.get("f_eval"), se.get("f_eval")
    return TrainingLimit("feature learning", r.backend, val["f"], zeros, se["f"], val["loss"], se["loss"],
                         b.eval_steps, f_eval, None if f_eval is None else np.zeros_like(f_eval), f_eval_se,
                         None, False, note, time.perf_counter() - t0)
