"""One entry point for the infinite-width limit of SGD on an MLP, whatever the regime.

Dynamical Dichotomy (TP4 Corollary 3.9): a nontrivial stable parametrization either learns
features (its limit is computed by the Tensor Programs engine, :mod:`infwidth.limits.builders`) or
is in the kernel regime (its limit is kernel gradient descent, :mod:`infwidth.kernels`). The user
does not need to know which: :func:`compute_mlp_limit` classifies and dispatches.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError


def _info(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _kernel_limit(param: Any, phi: str, xs: list[float], ys: list[float], lr: float, loss: str,
                  eval_xs: list[float] | None = None) -> dict[str, Any]:
    """Delegate kernel-regime parametrizations to the NTK limit (infwidth.kernels)."""
    from infwidth.kernels import kernel_regime_limit

    t0 = time.perf_counter()
    res = kernel_regime_limit(param, phi, np.array(xs), np.array(ys), lr, loss=loss,
                              eval_xs=None if eval_xs is None else np.array(eval_xs)[:, None])
    f = np.asarray(res.f, dtype=np.float64).ravel()
    out = {"f": f.tolist(), "loss": np.asarray(res.loss, dtype=np.float64).ravel().tolist(),
           "stderr": [0.0] * len(f), "backend": "kernel", "seconds": time.perf_counter() - t0}
    if eval_xs is not None and getattr(res, "f_eval", None) is not None:
        out["f_eval"] = np.asarray(res.f_eval, dtype=np.float64).reshape(-1, len(eval_xs)).tolist()
    return out


def compute_mlp_limit(depth: int, phi: str, xs: list[float], ys: list[float], lr: float, loss: str,
                      decoupled: bool, backend: str, particles: int, replicas: int, seed: int,
                      param: Any = None, budget: float = 2e7, eval_xs: list[float] | None = None) -> dict[str, Any]:
    """The JSON object of ``infwidth limit mlp``: f, loss, stderr per step, backend, seconds.

    With ``eval_xs`` also ``f_eval[t][e]``: the limit logit on held-out input e after t updates (t = 0..T).
    """
    from infwidth.arch import activation
    from infwidth.limits import (
        KernelRegimeError,
        mlp_sgd_program,
        run_linear,
        run_particles,
        run_polynomial,
    )

    t0 = time.perf_counter()
    act = activation(phi)
    try:
        b = mlp_sgd_program(depth, act, xs, ys, lr=lr, loss=loss, decoupled=decoupled, param=param, eval_xs=eval_xs)
    except KernelRegimeError:
        if decoupled:
            raise InfwidthError("--decoupled applies to feature-learning limits only, not the kernel regime.") from None
        return _kernel_limit(param, act.name, xs, ys, lr, loss, eval_xs)
    choice = backend
    if backend == "auto":
        choice = {"linear": "linear", "polynomial": "polynomial"}.get(act.kind, "particles")
    if choice == "linear":
        r = run_linear(b.program)
    elif choice == "polynomial":
        try:
            r = run_polynomial(b.program, budget=budget)
        except InfwidthError as e:
            if backend != "auto" or "budget" not in str(e):
                raise
            _info(f"note: {e} Falling back to particles.")
            r = run_particles(b.program, particles=particles, replicas=replicas, seed=seed)
    elif choice == "particles":
        r = run_particles(b.program, particles=particles, replicas=replicas, seed=seed)
    else:
        raise InfwidthError(f"unknown backend {backend!r}; choose auto, linear, polynomial or particles.")
    names = [nm[0][0] for nm in b.f_names]
    out = {"f": [r.values[nm] for nm in names], "loss": [r.values[nm] for nm in b.loss_names],
           "stderr": [r.stderr[nm] for nm in names], "backend": r.backend,
           "seconds": time.perf_counter() - t0}
    if eval_xs is not None:
        out["f_eval"] = [[r.values[e[0]] for e in t] for t in b.eval_names]
        out["f_eval_stderr"] = [[r.stderr[e[0]] for e in t] for t in b.eval_names]
    return out
