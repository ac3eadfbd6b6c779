"""Dual activations: Gaussian expectations E[phi(u) phi(v)] and E[phi'(u) phi'(v)].

For (u, v) ~ N(0, [[s1, c], [c, s2]]) these are the two maps every MLP kernel recursion needs
(NNGP: TP4 Section 3.1 / Neal 1996, Lee et al. 2018; NTK: Jacot et al. 2018). Closed forms:

* relu: arc-cosine kernels (Cho & Saul 2009), theta = arccos(c / sqrt(s1 s2)):
  E[relu relu] = sqrt(s1 s2) (sin theta + (pi - theta) cos theta) / (2 pi),  E[step step] = (pi - theta) / (2 pi);
* identity: c and 1;
* erf: (2/pi) arcsin(2c / sqrt((1 + 2 s1)(1 + 2 s2))) and (4/pi) / sqrt((1 + 2 s1)(1 + 2 s2) - 4 c^2)
  (Williams 1997);
* square (x^2): s1 s2 + 2 c^2 and 4 c (Isserlis).

Any other nonlinearity (tanh, gelu, a callable) uses the Mehler (Hermite) expansion
E[phi(u) phi(v)] = sum_k rho^k alpha_k(s1) alpha_k(s2), rho = c / sqrt(s1 s2), with the coefficients
alpha_k(s) = E[phi(sqrt(s) Z) He_k(Z)] / sqrt(k!) computed per input by 360-node 1-D Gauss-Hermite
quadrature. By Cauchy-Schwarz the truncation error after K terms is at most sqrt(tail_1 tail_2) for
every |rho| <= 1 (tail = E[phi^2] - sum_{k<=K} alpha_k^2, known exactly), so K is chosen as the first
with all tails below 1e-11: a rigorous truncation bound, and K (<= 320) multiply-adds per entry.
tanh needs K ~ 140 at variance 4, gelu fewer. If the coefficients decay too slowly (non-smooth
callables: kinks, jumps), it falls back to tensor-product Gauss-Hermite quadrature in Cholesky
coordinates u = sqrt(s1) z1, v = sqrt(s2) (rho z1 + sqrt(1 - rho^2) z2) with max(96, 72 s_max) nodes per
axis (at most 360), which converges only algebraically for such functions.
Tests check tanh and gelu (values and derivatives) against scipy's adaptive quadrature to 1e-8 at
preactivation variances up to 4, and callables against the erf and x^2 closed forms. For variances
much above ~5 the 360-node coefficients lose accuracy; use a closed form where one exists.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from infwidth.arch import Activation

Elementwise = Callable[[Tensor], Tensor]
CLOSED_FORMS = ("relu", "identity", "erf", "square")  # values of Activation.dual handled by _closed
NODES = 96  # minimum Gauss-Hermite nodes per axis of the 2-D quadrature fallback (see _quadrature)
NODES_PER_VARIANCE = 72.0  # quadrature nodes per unit of preactivation variance (see _quadrature)


def _corr(s1: Tensor, s2: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """(sqrt(s1 s2), rho clipped to [-1, 1]) with s1 (P, 1), s2 (1, Q), c (P, Q)."""
    norm = torch.sqrt(torch.clamp(s1 * s2, min=0.0))
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    rho = torch.where(norm > 0, c / safe, torch.zeros_like(c)).clamp(-1.0, 1.0)
    return norm, rho


def _closed(kind: str, s1: Tensor, s2: Tensor, c: Tensor, need_deriv: bool) -> tuple[Tensor, Tensor | None]:
    """Closed-form (E[phi phi], E[phi' phi']) for the CLOSED_FORMS (module docstring)."""
    if kind == "identity":
        return c.clone(), torch.ones_like(c) if need_deriv else None
    if kind == "square":
        return s1 * s2 + 2 * c * c, 4 * c if need_deriv else None
    if kind == "relu":  # in-place arithmetic: this path is the benchmark's hot loop
        norm = torch.sqrt(torch.clamp(s1 * s2, min=0.0))  # sqrt(s s) == s exactly: rho = 1 on the diagonal
        rho = torch.div(c, norm.clamp(min=1e-300)).clamp_(-1.0, 1.0)
        pi_minus_theta = torch.arccos(rho).neg_().add_(math.pi)
        ev = torch.mul(rho, rho).neg_().add_(1.0).clamp_(min=0.0).sqrt_()
        ev.addcmul_(pi_minus_theta, rho).mul_(norm).mul_(1 / (2 * math.pi))
        return ev, pi_minus_theta.mul_(1 / (2 * math.pi)) if need_deriv else None
    # erf (Williams 1997)
    den2 = (1 + 2 * s1) * (1 + 2 * s2)
    ev = (2 / math.pi) * torch.arcsin((2 * c / torch.sqrt(den2)).clamp(-1.0, 1.0))
    dv = (4 / math.pi) / torch.sqrt(torch.clamp(den2 - 4 * c * c, min=1e-300)) if need_deriv else None
    return ev, dv


@functools.lru_cache(maxsize=32)
def _hermite_np(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / math.sqrt(2 * math.pi)


def _hermite(nodes: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Probabilists' Gauss-Hermite nodes z and weights w with sum_i w_i g(z_i) ~ E[g(Z)], Z ~ N(0, 1)."""
    z, w = _hermite_np(nodes)
    return torch.as_tensor(z, dtype=dtype, device=device), torch.as_tensor(w, dtype=dtype, device=device)


def _quadrature(f: Elementwise, s1: Tensor, s2: Tensor, c: Tensor, nodes: int) -> Tensor:
    """E[f(u) f(v)] for (u, v) ~ N(0, [[s1, c], [c, s2]]) entrywise, by 2-D Gauss-Hermite (chunked rows)."""
    # GH error for phi analytic in a strip |Im u| < d decays like exp(-k d sqrt(N)) in the z variable,
    # whose strip shrinks like 1/sqrt(variance): scale the node count with the largest variance.
    smax = float(torch.max(torch.cat([s1.reshape(-1), s2.reshape(-1)])).clamp(min=0.0)) if c.numel() else 0.0
    nodes = int(min(360, max(nodes, math.ceil(NODES_PER_VARIANCE * smax))))
    z, w = _hermite(nodes, c.dtype, c.device)
    P, Q = c.shape
    a = torch.sqrt(torch.clamp(s1, min=0.0)).reshape(P)  # (P,)
    b = torch.sqrt(torch.clamp(s2, min=0.0)).reshape(Q)  # (Q,)
    _, rho = _corr(s1, s2, c)
    fu = f(a[:, None] * z[None, :]) * w[None, :]  # (P, N): weighted f(u) at the z1 nodes
    out = torch.empty_like(c)
    rows = max(1, int(2e7 // max(1, Q * nodes * nodes)))
    for i in range(0, P, rows):
        r = rho[i:i + rows]  # (p, Q)
        q = torch.sqrt(torch.clamp(1 - r * r, min=0.0))
        # v = b (rho z1 + sqrt(1 - rho^2) z2): shape (p, Q, N1, N2)
        v = b[None, :, None, None] * (r[..., None, None] * z[:, None] + q[..., None, None] * z[None, :])
        inner = (f(v) * w).sum(-1)  # E_{z2}[f(v) | z1]: (p, Q, N1)
        out[i:i + rows] = torch.einsum("pqn,pn->pq", inner, fu[i:i + rows])
    return out


MEHLER_NODES = 360  # 1-D Gauss-Hermite nodes for the Hermite coefficients
MEHLER_MAX_TERMS = 320
MEHLER_TAIL = 1e-11  # truncation bound on sum_{k > K} alpha_k^2 (per input)


@functools.lru_cache(maxsize=4)
def _hermite_functions(terms: int, nodes: int) -> np.ndarray:
    """Normalized probabilists' Hermite polynomials h_k = He_k / sqrt(k!) at the GH nodes: (terms, nodes)."""
    z, _ = _hermite_np(nodes)
    H = np.empty((terms, nodes))
    H[0] = 1.0
    if terms > 1:
        H[1] = z
    for k in range(1, terms - 1):
        H[k + 1] = (z * H[k] - math.sqrt(k) * H[k - 1]) / math.sqrt(k + 1)
    return H


def _hermite_coefficients(f: Elementwise, s: Tensor) -> tuple[Tensor, Tensor]:
    """alpha_k(s_i) = E[f(sqrt(s_i) Z) h_k(Z)] for k < MEHLER_MAX_TERMS, and E[f(sqrt(s_i) Z)^2]: (P, K), (P,)."""
    z, w = _hermite(MEHLER_NODES, s.dtype, s.device)
    fz = f(torch.sqrt(torch.clamp(s, min=0.0))[:, None] * z[None, :])
    H = torch.as_tensor(_hermite_functions(MEHLER_MAX_TERMS, MEHLER_NODES), dtype=s.dtype, device=s.device)
    return (fz * w) @ H.T, (fz * fz * w).sum(1)


def _mehler(f: Elementwise, s1: Tensor, s2: Tensor, c: Tensor) -> Tensor | None:
    """E[f(u) f(v)] by the Mehler (Hermite) expansion sum_k rho^k alpha_k(s1) alpha_k(s2), or None when
    the coefficients do not decay fast enough (non-smooth f).

    By Cauchy-Schwarz the truncation error after K terms is at most sqrt(tail_1 tail_2) for every
    |rho| <= 1, tail_i = E[f^2] - sum_{k<=K} alpha_k^2; K is the smallest with every tail < MEHLER_TAIL.
    Cost: K (<= 320) multiply-adds per entry instead of nodes^2 evaluations of f.
    """
    flat1, flat2 = s1.reshape(-1), s2.reshape(-1)
    a1, e1 = _hermite_coefficients(f, flat1)
    a2, e2 = (a1, e1) if flat2 is flat1 else _hermite_coefficients(f, flat2)
    tails = torch.cat([e1[:, None] - torch.cumsum(a1 * a1, 1), e2[:, None] - torch.cumsum(a2 * a2, 1)])
    scale = torch.clamp(torch.cat([e1, e2]), min=1.0)[:, None]
    ok = torch.all(tails < MEHLER_TAIL * scale, dim=0)
    if not bool(ok.any()):
        return None
    K = int(torch.nonzero(ok)[0]) + 1
    _, rho = _corr(s1, s2, c)
    out = a1[:, K - 1][:, None] * a2[:, K - 1][None, :]
    for k in range(K - 2, -1, -1):  # Horner in rho
        out.mul_(rho).add_(a1[:, k][:, None] * a2[:, k][None, :])
    return out


def _expectation(f: Elementwise, s1: Tensor, s2: Tensor, c: Tensor, nodes: int) -> Tensor:
    """E[f(u) f(v)]: the Mehler expansion when it converges, else 2-D Gauss-Hermite quadrature."""
    out = _mehler(f, s1, s2, c)
    return _quadrature(f, s1, s2, c, nodes) if out is None else out


def dual(
    nl: Activation, s1: Tensor, s2: Tensor, c: Tensor, need_deriv: bool = True
) -> tuple[Tensor, Tensor | None]:
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) entrywise for (u, v) ~ N(0, [[s1, c], [c, s2]]).

    Inputs: s1 (P,) and s2 (Q,) variances, c (P, Q) covariances. Outputs: two (P, Q) tensors
    (the second is None when ``need_deriv`` is False).
    """
    S1, S2 = s1.reshape(-1, 1), s2.reshape(1, -1)
    if nl.dual is not None:
        return _closed(nl.dual, S1, S2, c, need_deriv)
    ev = _expectation(nl.torch, S1, S2, c, NODES)
    return ev, _expectation(nl.torch_derivative, S1, S2, c, NODES) if need_deriv else None


def dual_diag(nl: Activation, s: Tensor) -> Tensor:
    """E[phi(u)^2] for u ~ N(0, s) (the diagonal of :func:`dual`), shape of s."""
    flat = s.reshape(-1)
    if nl.dual is not None:
        ev, _ = _closed(nl.dual, flat, flat, flat, False)
        return ev.reshape(s.shape)
    z, w = _hermite(NODES, s.dtype, s.device)
    vals = nl.torch(torch.sqrt(torch.clamp(flat, min=0.0))[:, None] * z[None, :]) ** 2
    return (vals * w).sum(-1).reshape(s.shape)


def dual_mean(nl: Activation, s: Tensor) -> Tensor:
    """E[phi(u)] for u ~ N(0, s), shape of s (the mean a residual stream carries, see kernels/mlp.py).

    Closed forms: relu sqrt(s / (2 pi)), square s, identity and erf 0 (odd); otherwise 360-node
    1-D Gauss-Hermite quadrature (exact for polynomials up to degree 719).
    """
    flat = s.reshape(-1)
    if nl.dual == "relu":
        return torch.sqrt(torch.clamp(s, min=0.0) / (2 * math.pi))
    if nl.dual == "square":
        return s.clone()
    if nl.dual in ("identity", "erf"):
        return torch.zeros_like(s)
    z, w = _hermite(MEHLER_NODES, s.dtype, s.device)
    vals = nl.torch(torch.sqrt(torch.clamp(flat, min=0.0))[:, None] * z[None, :])
    return (vals * w).sum(-1).reshape(s.shape)
