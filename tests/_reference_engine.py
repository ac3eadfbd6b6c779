"""The Z-rule interpreter before the streaming rewrite (commit 03402db) with its particle backend: a test oracle.

tests/test_limits_engine.py checks that the optimized interpreter (infwidth.limits.zrules + plan + particles)
gives the same numbers as this one on the same programs and seeds (to ~1e-12 in float64). Not used by the
package. The Backend protocol, LimitResult, _sqrt_factor, vector_names and RESIDUAL_TOL (unchanged)
come from zrules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError
from infwidth.limits.program import InitScalar, InitVectors, MatMul, Moment, Nonlin, Program
from infwidth.limits.zrules import (  # unchanged by the rewrite
    RESIDUAL_TOL,
    Backend,
    LimitResult,
    _sqrt_factor,
    vector_names,
)


@dataclass
class _Family:
    """The ZHat variables of one of ``W`` or ``W^T``: arguments, base Gaussians and factor L."""

    ys: list[Any] = field(default_factory=list)        # Z^{y_i}
    y_names: list[str] = field(default_factory=list)
    base: list[Any] = field(default_factory=list)      # g_k
    L: np.ndarray | None = None                         # (batch, k, r)


def _mean_se(v: np.ndarray) -> tuple[float, float]:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.size <= 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def run_limit(program: Program, backend: Backend, keep_z: bool = False) -> LimitResult:
    """Compute Z^h for every vector and the limit of every scalar (Definition 7.3)."""
    t0 = time.perf_counter()
    B = backend.batch
    Z: dict[int, Any] = {}
    S: dict[int, np.ndarray] = {}
    names: dict[int, str] = {}
    fams: dict[tuple[int, bool], _Family] = {}
    zdot: dict[str, list[tuple[str, float]]] = {}

    last_use = {} if keep_z else _last_uses(program)
    for pos, ins in enumerate(program.instructions):
        for dead in last_use.get(pos, ()):  # free vectors no later instruction reads (O(N t) memory)
            Z.pop(dead, None)
        if isinstance(ins, InitVectors):  # ZInit
            A = _sqrt_factor(ins.cov)
            g = backend.fresh(A.shape[1])
            for i, v in enumerate(ins.outs):
                Z[v.index] = backend.combine(np.broadcast_to(A[i], (B, A.shape[1])), g)
        elif isinstance(ins, InitScalar):
            S[ins.out.index] = np.full(B, ins.value)
        elif isinstance(ins, Nonlin):  # ZNonlin+
            val = ins.fn(*[Z[v.index] for v in ins.vecs], *[backend.scalar_arg(S[s.index]) for s in ins.scalars])
            Z[ins.out.index] = backend.check_vector(backend.as_rv(val), ins.out.name)
        elif isinstance(ins, Moment):  # ZMoment
            sargs = [backend.scalar_arg(S[s.index]) for s in ins.scalars]
            if ins.vecs:
                S[ins.out.index] = backend.expect(backend.as_rv(ins.fn(*[Z[v.index] for v in ins.vecs], *sargs)))
            else:
                S[ins.out.index] = backend.scalar_result(ins.fn(*sargs))
            names[ins.out.index] = ins.out.name
        elif isinstance(ins, MatMul):  # ZMatMul = ZHat + ZDot
            W, zx = ins.matrix, Z[ins.arg.index]
            hat = _extend_family(fams.setdefault((W.index, ins.transpose), _Family()), zx, ins.arg.name,
                                 W.sigma2, backend)
            opp = fams.get((W.index, not ins.transpose))
            if opp is not None and opp.base:
                coef = _zdot_coefficients(opp, zx, W.sigma2, backend)
                Z[ins.out.index] = hat + backend.combine(coef, opp.ys)
                zdot[ins.out.name] = [(nm, float(coef[:, i].mean())) for i, nm in enumerate(opp.y_names)]
            else:
                Z[ins.out.index] = hat
        else:  # pragma: no cover
            raise TypeError(f"unknown instruction {ins!r}")

    values, stderr = {}, {}
    for idx, nm in names.items():
        values[nm], stderr[nm] = _mean_se(S[idx])
    outs, outs_se = {}, {}
    for nm, s in program.outputs.items():
        outs[nm], outs_se[nm] = _mean_se(S[s.index])
    zmap: dict[str, Any] = {}
    if keep_z:
        vec_names = vector_names(program)
        zmap = {vec_names[i]: z for i, z in Z.items()}
    return LimitResult(values, stderr, outs, outs_se, zdot, backend.name, time.perf_counter() - t0, zmap)


def _last_uses(program: Program) -> dict[int, list[int]]:
    """Instruction position -> vectors whose last reader is the previous instruction."""
    last: dict[int, int] = {}
    for pos, ins in enumerate(program.instructions):
        if isinstance(ins, MatMul):
            last[ins.arg.index] = pos
        elif isinstance(ins, (Nonlin, Moment)):
            for vec in ins.vecs:
                last[vec.index] = pos
    out: dict[int, list[int]] = {}
    for idx, pos in last.items():
        out.setdefault(pos + 1, []).append(idx)
    return out


def _extend_family(fam: _Family, zy: Any, y_name: str, sigma2: float, backend: Backend) -> Any:
    """ZHat: add ``Zhat^{W y}`` to its family with Cov = sigma^2 E[Z^y Z^{y_i}]; return it."""
    B = backend.batch
    c_row = np.stack([sigma2 * backend.expect(zy * yi) for yi in fam.ys], axis=-1) if fam.ys else np.zeros((B, 0))
    c_nn = sigma2 * backend.expect(zy * zy)
    r = len(fam.base)
    if r:
        L = fam.L
        assert L is not None
        LtL = np.einsum("bkr,bks->brs", L, L)
        l_new = _solve(LtL, np.einsum("bkr,bk->br", L, c_row))
    else:
        l_new = np.zeros((B, 0))
    resid = c_nn - np.einsum("br,br->b", l_new, l_new)
    new_col = bool(np.max(resid) > RESIDUAL_TOL * max(float(np.max(np.abs(c_nn))), 1e-300))
    if new_col:
        fam.base.extend(backend.fresh(1))
        l_new = np.concatenate([l_new, np.sqrt(np.maximum(resid, 0.0))[:, None]], axis=1)
        old = fam.L if fam.L is not None else np.zeros((B, 0, 0))
        old = np.concatenate([old, np.zeros((B, old.shape[1], 1))], axis=2)
    else:
        old = fam.L if fam.L is not None else np.zeros((B, 0, 0))
    fam.L = np.concatenate([old, l_new[:, None, :]], axis=1)
    fam.ys.append(zy)
    fam.y_names.append(y_name)
    if not fam.base:
        return backend.as_rv(0.0)
    return backend.combine(l_new, fam.base)


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``A^{-1} b`` for small SPD ``A`` (pseudo-inverse if singular; NaN if not finite).

    A NaN/inf (a diverging run) is propagated as data rather than raised.
    """
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        return np.full(b.shape, np.nan)
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("brs,bs->br", np.linalg.pinv(A, hermitian=True), b)


def _zdot_coefficients(opp: _Family, zx: Any, sigma2: float, backend: Backend) -> np.ndarray:
    """Eq. (31) by Gaussian integration by parts: the coefficients of Z^{y_i} in Zdot^{W x}."""
    L = opp.L
    assert L is not None
    a = np.stack([backend.expect(g * zx) for g in opp.base], axis=-1)           # (B, r): E[g_k Z^x]
    LtL = np.einsum("bkr,bks->brs", L, L)
    theta = np.einsum("bkr,br->bk", L, _solve(LtL, a))  # E[dZ^x/dZhat_i]
    return sigma2 * theta


class ParticleBackend:
    """Particles of shape ``(replicas, N / replicas)``; scalars of shape ``(replicas,)``."""

    name = "particles"

    def __init__(self, particles: int = 100_000, replicas: int = 16, seed: int = 0) -> None:
        if particles < 2 * replicas or replicas < 2:
            raise InfwidthError(f"need replicas >= 2 and particles >= 2 * replicas, got {particles} particles "
                                f"and {replicas} replicas.")
        self.batch = replicas
        self.m = particles // replicas
        self.rng = np.random.default_rng(seed)

    def fresh(self, k: int) -> list[Any]:
        return [self.rng.standard_normal((self.batch, self.m)) for _ in range(k)]

    def expect(self, rv: Any) -> np.ndarray:
        return np.asarray(rv, dtype=np.float64).mean(axis=-1) * np.ones(self.batch)

    def as_rv(self, value: Any) -> Any:
        v = np.asarray(value, dtype=np.float64)
        if v.shape == (self.batch, self.m):
            return v
        return np.broadcast_to(v, (self.batch, self.m)).copy()

    def check_vector(self, rv: Any, where: str) -> Any:
        return rv

    def scalar_arg(self, s: np.ndarray) -> Any:
        return s[:, None]

    def scalar_result(self, value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (self.batch, 1)).reshape(self.batch).copy()

    def combine(self, coefs: np.ndarray, rvs: list[Any]) -> Any:
        out = np.zeros((self.batch, self.m))
        for k, rv in enumerate(rvs):
            out += coefs[:, k, None] * rv
        return out


def run_reference_particles(program: Program, particles: int = 100_000, replicas: int = 16, seed: int = 0,
                            keep_z: bool = False) -> LimitResult:
    """The pre-rewrite particle engine."""
    return run_limit(program, ParticleBackend(particles, replicas, seed), keep_z=keep_z)
