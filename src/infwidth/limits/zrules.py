"""The infinite-width interpreter of a Tensor Program (TP4 Definition 7.3), backend-agnostic.

A *backend* supplies the random-variable algebra (exact Gaussian polynomials, or Monte Carlo
particles); this module applies the rules ZInit, ZNonlin+, ZMoment and ZMatMul = ZHat + ZDot.

ZHat (Definition 7.3): for each matrix ``W`` and each of ``W``, ``W^T`` separately (a *family*),
the variables ``Zhat^{W y_i}`` are jointly Gaussian with ``Cov = sigma_W^2 E[Z^{y_i} Z^{y_j}]``,
independent of every other family and of the initial vectors. We build each family by a
degenerate-safe Cholesky factorization ``Zhat_i = sum_k L_ik g_k`` over fresh independent
standard Gaussians ``g_k``: a new member gets a new ``g`` only if its residual variance is
positive, so singular covariances (e.g. linear networks) are represented exactly.

ZDot, Eq. (31): ``Zdot^{W x} = sigma_W^2 sum_i Z^{y_i} E[dZ^x / dZhat^{W^T y_i}]``. We compute the
expected partial derivatives ``theta`` by Gaussian integration by parts (Stein's lemma, valid
because the ``W^T`` family is independent of everything else ``Z^x`` depends on):
``E[Zhat_j Z^x] = sum_i Cov(Zhat_j, Zhat_i) theta_i``. With ``Zhat = L g`` this is
``L L^T theta = L a``, ``a_k = E[g_k Z^x]``, solved by ``theta = L (L^T L)^{-1} a``; any other
solution differs by a null vector of ``L^T``, which leaves ``sum_i theta_i Z^{y_i}`` unchanged
(the ``Z^{y_i}`` obey the same linear relations as the ``Zhat``), so the result is well defined
even for degenerate families (the nuance of TP4 Remarks F.1-F.2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from infwidth.limits.program import InitScalar, InitVectors, MatMul, Moment, Nonlin, Program

# A new family member gets a new Gaussian only if its residual variance exceeds this fraction
# of its total variance (numerical zero for exactly degenerate covariances).
RESIDUAL_TOL = 1e-10


class Backend(Protocol):
    """The random-variable algebra an infinite-width executor needs.

    Scalars are numpy arrays of shape ``(batch,)``: ``batch = 1`` for exact backends, the number
    of independent particle replicas for Monte Carlo (their spread gives standard errors).
    """

    name: str
    batch: int

    def fresh(self, k: int) -> list[Any]:
        """``k`` new standard Gaussians, independent of everything so far."""
        ...

    def expect(self, rv: Any) -> np.ndarray:
        """``E[rv]`` as an array of shape ``(batch,)``."""
        ...

    def as_rv(self, value: Any) -> Any:
        """Turn a Nonlin result (possibly a plain number) into a random variable."""
        ...

    def check_vector(self, rv: Any, where: str) -> Any:
        """Validate a new vector variable (e.g. the linear backend rejects nonlinear ones)."""
        ...

    def scalar_arg(self, s: np.ndarray) -> Any:
        """The form in which a scalar ``(batch,)`` is passed to nonlinearities."""
        ...

    def scalar_result(self, value: Any) -> np.ndarray:
        """A scalar-only Moment's value as shape ``(batch,)``."""
        ...

    def combine(self, coefs: np.ndarray, rvs: list[Any]) -> Any:
        """``sum_k coefs[:, k] * rvs[k]`` for ``coefs`` of shape ``(batch, k)``."""
        ...


@dataclass
class _Family:
    """The ZHat variables of one of ``W`` or ``W^T``: arguments, base Gaussians and factor L."""

    ys: list[Any] = field(default_factory=list)        # Z^{y_i}
    y_names: list[str] = field(default_factory=list)
    base: list[Any] = field(default_factory=list)      # g_k
    L: np.ndarray | None = None                         # (batch, k, r)


@dataclass
class LimitResult:
    """Limits of a program's scalars.

    ``values[name]`` / ``stderr[name]`` for every scalar (stderr 0 for exact backends);
    ``outputs`` the named outputs; ``zdot[vector name]`` the ZDot coefficients
    ``[(y name, coefficient)]`` of each MatMul that has one (Eq. (31)).
    """

    values: dict[str, float]
    stderr: dict[str, float]
    outputs: dict[str, float]
    output_stderr: dict[str, float]
    zdot: dict[str, list[tuple[str, float]]]
    backend: str
    seconds: float
    Z: dict[str, Any] = field(default_factory=dict, repr=False)


def _mean_se(v: np.ndarray) -> tuple[float, float]:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.size <= 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def _sqrt_factor(cov: np.ndarray) -> np.ndarray:
    """A (k, r) factor A with A A^T = cov, r = numerical rank (degenerate-safe, via eigh)."""
    w, U = np.linalg.eigh(cov)
    keep = w > RESIDUAL_TOL * max(1.0, float(np.abs(w).max(initial=0.0)))
    return U[:, keep] * np.sqrt(w[keep])


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
        vec_names = _vector_names(program)
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


def _vector_names(program: Program) -> dict[int, str]:
    out: dict[int, str] = {}
    for ins in program.instructions:
        if isinstance(ins, InitVectors):
            out.update({v.index: v.name for v in ins.outs})
        elif isinstance(ins, (MatMul, Nonlin)):
            out[ins.out.index] = ins.out.name
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
