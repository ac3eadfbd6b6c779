"""Optional fused CPU kernel for the relu recursion (numba): one pass over the Gram matrix.

The torch path of :func:`infwidth.kernels.mlp.kernel_recursion` streams ~20 full (P, Q) tensors through
memory per layer; here every entry runs all L layers in registers (arc-cosine formulas of
``infwidth.kernels.activations``), rows in parallel, and for x2 = x1 only the upper triangle is computed (from
a BLAS syrk Gram matrix) and mirrored. Used automatically for relu on CPU when numba imports; results
equal the torch path to rounding (tests check 1e-12).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is optional
    AVAILABLE = False


def _relu_entry(p0: float, d1: np.ndarray, i: int, d2: np.ndarray, j: int, same: bool, w_var: np.ndarray,
                b_var: np.ndarray, w_grad: np.ndarray, b_grad: np.ndarray) -> tuple[float, float]:
    """(Sigma^{L+1}, Theta^{L+1}) of one entry: Phi^0 = p0, variances d1[i, l], d2[j, l]; ``same``: the
    two inputs are one (rho = 1 exactly, where rounding would put acos on its infinite-slope point)."""
    sig = w_var[0] * p0 + b_var[0]
    th = w_grad[0] * p0 + b_grad[0]
    for l in range(1, w_var.shape[0]):
        norm = math.sqrt(max(d1[i, l - 1], 0.0) * max(d2[j, l - 1], 0.0))
        rho = 1.0 if same else (sig / norm if norm > 0.0 else 0.0)
        rho = min(1.0, max(-1.0, rho))
        pt = math.pi - math.acos(rho)
        ev = norm * (math.sqrt(max(1.0 - rho * rho, 0.0)) + pt * rho) / (2.0 * math.pi)
        th = w_grad[l] * ev + b_grad[l] + w_var[l] * (pt / (2.0 * math.pi)) * th
        sig = w_var[l] * ev + b_var[l]
    return sig, th


def _relu_full(gram: np.ndarray, d1: np.ndarray, d2: np.ndarray, w_var: np.ndarray, b_var: np.ndarray,
               w_grad: np.ndarray, b_grad: np.ndarray, sig_out: np.ndarray, th_out: np.ndarray) -> None:
    P, Q = gram.shape
    for i in numba.prange(P):
        for j in range(Q):
            s, t = _relu_entry_jit(gram[i, j], d1, i, d2, j, False, w_var, b_var, w_grad, b_grad)
            sig_out[i, j] = s
            th_out[i, j] = t


def _relu_lower(gram: np.ndarray, d1: np.ndarray, w_var: np.ndarray, b_var: np.ndarray,
                w_grad: np.ndarray, b_grad: np.ndarray, sig_out: np.ndarray, th_out: np.ndarray) -> None:
    """Lower triangle (j <= i) of a C-ordered Gram matrix; rows paired (k, P-1-k) to balance threads."""
    P = gram.shape[0]
    half = (P + 1) // 2
    for k in numba.prange(half):
        for r in range(2):
            i = np.int64(k) if r == 0 else np.int64(P - 1) - np.int64(k)
            if r == 1 and i == np.int64(k):
                continue
            for j in range(i + 1):
                s, t = _relu_entry_jit(gram[i, j], d1, i, d1, j, i == j, w_var, b_var, w_grad, b_grad)
                sig_out[i, j] = s
                th_out[i, j] = t


def _mirror(a: np.ndarray) -> None:
    """Copy the lower triangle of a square array onto its upper triangle, in cache-sized tiles."""
    P = a.shape[0]
    nb = (P + 63) // 64
    for bi in numba.prange(nb):
        for bj in range(bi + 1):
            for i in range(bi * 64, min(P, bi * 64 + 64)):
                for j in range(bj * 64, min(i, bj * 64 + 64)):
                    a[j, i] = a[i, j]


if AVAILABLE:
    _relu_entry_jit = numba.njit(cache=True, error_model="numpy")(_relu_entry)
    _relu_full_jit: Any = numba.njit(parallel=True, cache=True, error_model="numpy")(_relu_full)
    _relu_lower_jit: Any = numba.njit(parallel=True, cache=True, error_model="numpy")(_relu_lower)
    _mirror_jit: Any = numba.njit(parallel=True, cache=True)(_mirror)


def relu_recursion(x1: np.ndarray, x2: np.ndarray | None, diag1: np.ndarray, diag2: np.ndarray | None,
                   w_var: np.ndarray, b_var: np.ndarray, w_grad: np.ndarray,
                   b_grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma^{L+1}, Theta^{L+1}) for relu: x1 (P, d), x2 (Q, d) or None; diag (P, L) preactivation variances."""
    if x2 is None:
        from scipy.linalg.blas import dsyrk

        gram = dsyrk(1.0, x1).T  # upper triangle of x1 x1^T in Fortran order = lower triangle, C order
        sig = np.empty((x1.shape[0], x1.shape[0]))
        th = np.empty_like(sig)
        _relu_lower_jit(gram, diag1, w_var, b_var, w_grad, b_grad, sig, th)
        _mirror_jit(sig)
        _mirror_jit(th)
        return sig, th
    assert diag2 is not None
    gram = x1 @ x2.T
    sig = np.empty_like(gram)
    th = np.empty_like(gram)
    _relu_full_jit(gram, diag1, diag2, w_var, b_var, w_grad, b_grad, sig, th)
    return sig, th
