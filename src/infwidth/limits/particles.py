"""Monte Carlo particle backend: any nonlinearity, every limit scalar with a standard error.

Each Z^h is represented by ``N`` iid samples ("particles"), split into ``replicas`` independent
groups of ``m = N / replicas`` that run the whole of Definition 7.3 independently; a scalar's value
is the mean over groups and its standard error the spread of the groups / sqrt(replicas), so the
error bars include the Monte Carlo noise of everything that propagates (chi_t, ZHat covariances,
ZDot coefficients). Like a width-m network, the estimate also has a bias of order (family size) / m
(ZDot's Stein estimate, Eq. (31), sums one noisy coefficient per family member): check it by
comparing two particle counts (``docs/limits.md``, "Cost model").

Storage is one arena of ``(slots, replicas, m)`` numbers laid out by :mod:`infwidth.limits.plan`
(slots are reused once a vector is dead), with compiled kernels for the three bulk operations
(Gram rows, linear combinations, fresh Gaussians). ``dtype=np.float32`` halves memory and traffic;
expectations are always accumulated and all scalars kept in float64. The memory a run will allocate
is computed before allocating, and a run that would not fit is refused with an
:class:`~infwidth.errors.InfwidthError` stating the estimate and the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba import njit

from infwidth.errors import InfwidthError
from infwidth.limits.plan import Plan, estimate_bytes, make_plan
from infwidth.limits.program import Program
from infwidth.limits.zrules import LimitResult, run_limit
from infwidth.resources import memory_limit


@njit(fastmath=True, cache=True)
def _dots(V: np.ndarray, idx: np.ndarray, x: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    B, m = V.shape[1], V.shape[2]
    for b in range(B):
        xr = V[x, b]
        for j in range(idx.shape[0]):
            row = V[idx[j], b]
            s = 0.0
            for i in range(m):
                s += np.float64(row[i]) * np.float64(xr[i])
            out[b, j] = s / m


@njit(fastmath=True, cache=True)
def _combine(V: np.ndarray, idx: np.ndarray, coef: np.ndarray, out: int, add: bool,
             const: np.ndarray) -> None:  # pragma: no cover - compiled
    B, m = V.shape[1], V.shape[2]
    acc = np.empty(m, dtype=np.float64)  # one replica's accumulator stays in cache while the k rows stream by
    for b in range(B):
        dst = V[out, b]
        for i in range(m):
            acc[i] = (np.float64(dst[i]) if add else 0.0) + const[b]
        for j in range(idx.shape[0]):
            cj = coef[b, j]
            row = V[idx[j], b]
            for i in range(m):
                acc[i] += cj * row[i]
        for i in range(m):
            dst[i] = acc[i]


class ParticleStorage:
    """The arena of a particle run: slot ``s`` holds ``V[s]`` of shape ``(replicas, m)``."""

    name = "particles"

    def __init__(self, n_slots: int, replicas: int, m: int, dtype: Any, rng: np.random.Generator) -> None:
        self.batch, self.m, self.dtype, self.rng = replicas, m, np.dtype(dtype), rng
        self.V = np.empty((max(n_slots, 1), replicas, m), dtype=self.dtype)  # pages touched only when used
        self.nbytes = int(self.V.nbytes)
        self._zero = np.zeros(replicas)

    def view(self, slot: int) -> Any:
        return self.V[slot]

    def put(self, slot: int, value: Any, where: str) -> None:
        self.V[slot] = value

    def release(self, slot: int) -> None:
        pass

    def gaussian(self, slot: int) -> None:
        self.rng.standard_normal((self.batch, self.m), dtype=self.dtype, out=self.V[slot])

    def fill(self, slot: int, value: np.ndarray) -> None:
        self.V[slot] = np.asarray(value, dtype=np.float64)[:, None]

    def dots(self, slots: Sequence[int], x: int) -> np.ndarray:
        out = np.empty((self.batch, len(slots)))
        if len(slots):
            _dots(self.V, np.asarray(slots, dtype=np.int64), int(x), out)
        return out

    def combine(self, coefs: np.ndarray, slots: Sequence[int], out: int, add: bool = False,
                const: np.ndarray | None = None) -> None:
        c = np.ascontiguousarray(coefs, dtype=np.float64).reshape(self.batch, len(slots))
        k = np.asarray(slots, dtype=np.int64)
        _combine(self.V, k, c, int(out), bool(add), self._zero if const is None else np.asarray(const, np.float64))

    def dots_many(self, slots: Sequence[int], xs: Sequence[int]) -> np.ndarray:
        """Gram blocks by matrix products (BLAS, in the particles' dtype), one replica at a time."""
        out = np.empty((len(xs), self.batch, len(slots)))
        if len(slots) and len(xs):
            S, X = np.asarray(slots, dtype=np.int64), np.asarray(xs, dtype=np.int64)
            for b in range(self.batch):
                out[:, b, :] = (self.V[X, b] @ self.V[S, b].T) / self.m
        return out

    def combine_many(self, coefs: np.ndarray, slots: Sequence[int], outs: Sequence[int], add: bool = False) -> None:
        X = np.asarray(outs, dtype=np.int64)
        if not len(slots):
            if not add:
                self.V[X] = 0.0
            return
        S = np.asarray(slots, dtype=np.int64)
        for b in range(self.batch):
            val = coefs[:, b, :].astype(self.dtype) @ self.V[S, b]
            if add:
                self.V[X, b] += val
            else:
                self.V[X, b] = val

    def expect(self, value: Any) -> np.ndarray:
        v = np.asarray(value)
        if v.shape != (self.batch, self.m):
            v = np.broadcast_to(v, (self.batch, self.m))
        return v.mean(axis=-1, dtype=np.float64)

    def scalar_arg(self, s: np.ndarray) -> Any:
        return s[:, None]

    def scalar_result(self, value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (self.batch, 1)).reshape(self.batch).copy()


class ParticleBackend:
    """Particles of shape ``(replicas, particles / replicas)`` in ``dtype``; scalars of shape ``(replicas,)``.

    ``max_memory`` (bytes; default :func:`infwidth.resources.memory_limit`: the machine's memory or
    ``$INFWIDTH_MEMORY_LIMIT_GB``): runs whose storage estimate exceeds it are refused before anything is
    allocated.
    """

    name = "particles"

    def __init__(self, particles: int = 100_000, replicas: int = 16, seed: int = 0, dtype: Any = np.float64,
                 max_memory: float | None = None) -> None:
        if replicas < 2 or particles < 2 * replicas:
            raise InfwidthError(f"need replicas >= 2 and particles >= 2 * replicas, got {particles} particles "
                                f"and {replicas} replicas.")
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InfwidthError(f"particles must be float32 or float64, got {np.dtype(dtype)}.")
        self.batch = replicas
        self.m = particles // replicas
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.max_memory = max_memory

    def estimate(self, plan: Plan) -> int:
        """Bytes a run of ``plan`` allocates (vector slots, Gram factors, scalars)."""
        return estimate_bytes(plan, self.batch * self.m, self.batch, self.dtype.itemsize)

    def storage(self, plan: Plan) -> ParticleStorage:
        need = self.estimate(plan)
        limit = self.max_memory if self.max_memory is not None else memory_limit()
        if need > limit:
            raise InfwidthError(
                f"this particle run needs about {need / 2**30:.2f} GiB ({plan.n_slots} vectors alive at once x "
                f"{self.batch * self.m} particles x {self.dtype.itemsize} bytes, plus Gram factors) but the limit "
                f"is {limit / 2**30:.2f} GiB; use fewer particles, float32, fewer steps or a smaller batch, or "
                "raise max_memory.")
        return ParticleStorage(plan.n_slots, self.batch, self.m, self.dtype, np.random.default_rng(self.seed))


def run_particles(program: Program, particles: int = 100_000, replicas: int = 16, seed: int = 0,
                  keep_z: bool = False, dtype: Any = np.float64, max_memory: float | None = None,
                  zdot: bool | None = None, branches: bool = True, lockstep: bool = True,
                  progress: Callable[[int], None] | None = None, blas_threads: int | None = 1) -> LimitResult:
    """Monte Carlo limits of any program, with standard errors (``LimitResult.stderr``).

    ``dtype``: float64 (default) or float32 particles (scalars stay float64); ``max_memory``: bytes
    (see :class:`ParticleBackend`); ``zdot``/``branches``/``lockstep``/``progress``: see
    :func:`~infwidth.limits.zrules.run_limit` and :func:`~infwidth.limits.plan.make_plan`. ``blas_threads``:
    BLAS threads for the matrix products of evaluation passes (default 1: the compiled kernels are
    single-threaded, and on a loaded machine multithreaded BLAS was measured 10x slower); None leaves BLAS
    as it is.
    """
    backend = ParticleBackend(particles, replicas, seed, dtype=dtype, max_memory=max_memory)
    plan = make_plan(program, keep_z=keep_z, branches=branches, lockstep=lockstep)
    if blas_threads is None:
        return run_limit(program, backend, keep_z=keep_z, zdot=zdot, plan=plan, progress=progress)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return run_limit(program, backend, keep_z=keep_z, zdot=zdot, plan=plan, progress=progress)


def particle_memory(program: Program, particles: int, replicas: int = 16, dtype: Any = np.float64) -> int:
    """Bytes :func:`run_particles` would allocate for ``program`` (without running it)."""
    return ParticleBackend(particles, replicas, dtype=dtype).estimate(make_plan(program))
