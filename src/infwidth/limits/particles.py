"""Monte Carlo particle backend: any nonlinearity, every limit scalar with a standard error.

Each Z^h is represented by ``N`` iid samples ("particles"), split into ``replicas`` independent
groups of ``N / replicas`` that run the whole of Definition 7.3 independently; a scalar's value
is the mean over groups and its standard error the spread of the groups / sqrt(replicas), so the
error bars include everything that propagates (chi_t, ZHat covariances, ZDot coefficients).

ZHat variables are sampled by extending each Gaussian family conditionally (degenerate-safe
Cholesky on the particles' empirical covariances); ZDot's expected derivatives come from Gaussian
integration by parts (Stein's lemma, see :mod:`infwidth.limits.zrules`). Cost: t SGD steps
create O(t) vectors, each Moment / ZHat / ZDot costs O(N t), so the total is O(N t^2) time and
O(N t) memory; there is no width n anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infwidth.errors import InfwidthError
from infwidth.limits.program import Program
from infwidth.limits.zrules import LimitResult, run_limit


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


def run_particles(program: Program, particles: int = 100_000, replicas: int = 16, seed: int = 0,
                  keep_z: bool = False) -> LimitResult:
    """Monte Carlo limits of any program, with standard errors (``LimitResult.stderr``)."""
    return run_limit(program, ParticleBackend(particles, replicas, seed), keep_z=keep_z)
