"""A ZHat family in Gram-Schmidt form (see :mod:`infwidth.limits.zrules`): member arguments ``Y``, basis
members, their base Gaussians ``g`` and ``P = R^{-T}`` (``Y_b = Q R``, ``E[q_k q_l] = delta_kl``).

For a new argument x with Gram row ``u = Y^T x``: coordinates ``c = Q^T x = P u_b``, residual
``|x|^2 - |c|^2``; a new basis member extends ``P`` by the row ``(-(P^T c)^T / r, 1 / r)`` (the inverse of the
bordered triangular factor), ``r`` the residual norm, 0 where a replica's residual is numerically zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A new family member gets a new Gaussian only if its residual variance exceeds this fraction
# of its total variance (numerical zero for exactly degenerate covariances).
RESIDUAL_TOL = 1e-10


@njit(cache=True)
def tri(P: np.ndarray, r: int, v: np.ndarray, transpose: bool) -> np.ndarray:  # pragma: no cover - compiled
    """``P v`` (or ``P^T v``) over the leading r x r block of each replica's lower-triangular P."""
    B = P.shape[0]
    out = np.zeros((B, r))
    for b in range(B):
        for i in range(r):
            if transpose:
                vi = v[b, i]
                for k in range(i + 1):
                    out[b, k] += P[b, i, k] * vi
            else:
                s = 0.0
                for k in range(i + 1):
                    s += P[b, i, k] * v[b, k]
                out[b, i] = s
    return out


class Family:
    """The ZHat family of ``W`` or ``W^T``: member argument slots, basis members, their g slots and P = R^{-T}."""

    def __init__(self, batch: int, cap: int) -> None:
        self.ys: list[int] = []
        self.names: list[str] = []
        self.basis: list[int] = []          # indices into ys
        self.G: list[int] = []              # slots of g_k, one per basis member
        self.P = np.zeros((batch, max(cap, 1), max(cap, 1)))

    def coords(self, u: np.ndarray) -> np.ndarray:
        """c = Q^T x from the Gram row u = Y^T x (all members, then |x|^2)."""
        r = len(self.basis)
        return tri(self.P, r, np.ascontiguousarray(u[:, self.basis]), False) if r else np.zeros((u.shape[0], 0))

    def grow(self, c: np.ndarray, nrm: np.ndarray) -> None:
        """Add a basis member with coordinates c and residual norm nrm (0: degenerate in that replica)."""
        r = len(self.basis)
        inv = np.divide(1.0, nrm, out=np.zeros_like(nrm), where=nrm > 0)
        if r:
            self.P[:, r, :r] = -tri(self.P, r, np.ascontiguousarray(c), True) * inv[:, None]
        self.P[:, r, r] = inv


def new_direction(nrm2: np.ndarray, xx: np.ndarray) -> bool:
    return bool(np.max(nrm2) > RESIDUAL_TOL * max(float(np.max(np.abs(xx))), 1e-300))
