"""The linear 1-hidden-layer muP network and its infinite-width limit as one torch module.

TP4 Corollary 6.2 and its generalization (Appendix D.1): with phi = identity every Z of the
limit stays in the span of the d + d_o initial Gaussians ``g = (Z^{U_0,1..d}, Z^{nV_0,1..d_o})``;
writing ``Z^{U_j} = A_j . g`` and ``Z^{nV_k} = B_k . g`` the limit logit is ``f(xi) = B A^T xi``
and SGD moves (A, B) exactly like gradient descent on a *width-(d + d_o)* linear network
``f = V U xi`` (``U = A^T``) with the "diagonal" initialization
``U_0 = [alpha_1 sigma_1 I_d; 0]``, ``V_0 = [0, alpha_2 sigma_2 I_{d_o}]`` and per-layer learning
rates ``eta alpha_l^2``.

The finite width-n muP network is a random projection of this: with a Gaussian ``G`` (n x (d+d_o),
iid N(0, 1)) its first layer is ``U = G U_0`` and its scaled readout ``nV = V_0 G^T``; its logit
is ``f = (1/n) nV U xi``, and SGD with per-layer learning rates ``n eta alpha_l^2`` on (U, nV)
is exactly muP SGD (Eqs. (19), (22)). One class covers both: ``LinearMuP(d, d_o)`` is the limit,
``LinearMuP(d, d_o, width=n)`` the finite network.

>>> import torch
>>> net = LinearMuP(1, 1)                       # the infinite-width limit
>>> opt = torch.optim.SGD(net.param_groups(lr=1.0))
>>> x, y = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
>>> fs = []
>>> for _ in range(3):
...     fs.append(round(float(net(x).detach()), 6))
...     opt.zero_grad(); net.loss(x, y).backward(); opt.step()
>>> fs                                            # Corollary 6.2 with xi_t = y_t = 1
[0.0, 2.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from infwidth.errors import InfwidthError


class LinearMuP(torch.nn.Module):
    """Linear 1-hidden-layer muP network: infinite width (``width=None``) or width ``n``.

    Inputs ``x`` of shape (batch, d_in), outputs (batch, d_out). Parameters ``U`` (m x d_in) and
    ``V`` (d_out x m) with m = d_in + d_out (limit) or n (finite; ``V`` stores ``n W^2``).
    Train with any torch optimizer built from :meth:`param_groups` (SGD reproduces muP SGD and its
    limit exactly); :meth:`loss` is the batch-mean of 1/2 |f - y|^2.

    ``reduce=True`` (finite ``width > d_in + d_out`` only) stores the same width-n network in d_in + d_out
    hidden coordinates (see :func:`reduced_projection`): outputs, losses and every SGD trajectory are
    those of the width-n network (``scale`` stays n), at the cost of the limit.
    """

    def __init__(self, d_in: int, d_out: int = 1, width: int | None = None,
                 alphas: Sequence[float] = (1.0, 1.0), sigmas: Sequence[float] | None = None,
                 seed: int = 0, dtype: torch.dtype = torch.float64, reduce: bool = False) -> None:
        super().__init__()
        if d_in < 1 or d_out < 1 or (width is not None and width < 1):
            raise InfwidthError(f"need d_in, d_out >= 1 and width >= 1 (or None), got {d_in}, {d_out}, {width}.")
        self.d_in, self.d_out, self.width = d_in, d_out, width
        self.alphas = tuple(float(a) for a in alphas)
        self.sigmas = (1.0 / np.sqrt(d_in), 1.0) if sigmas is None else tuple(float(s) for s in sigmas)
        m = d_in + d_out
        U0 = torch.zeros(m, d_in, dtype=dtype)
        U0[:d_in, :d_in] = self.alphas[0] * self.sigmas[0] * torch.eye(d_in, dtype=dtype)
        V0 = torch.zeros(d_out, m, dtype=dtype)
        V0[:, d_in:] = self.alphas[1] * self.sigmas[1] * torch.eye(d_out, dtype=dtype)
        if width is None:
            self.scale = 1.0
        else:
            G = torch.randn(width, m, generator=torch.Generator().manual_seed(seed), dtype=dtype)
            if reduce and width > m:
                G = reduced_projection(G)
            U0, V0 = G @ U0, V0 @ G.T
            self.scale = float(width)
        self.U = torch.nn.Parameter(U0)
        self.V = torch.nn.Parameter(V0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(1/s) V U x`` (s = 1 in the limit, n at finite width)."""
        return (x @ self.U.T) @ self.V.T / self.scale

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden representation ``U x`` (in the limit: its coordinates in the d + d_o Gaussian basis)."""
        return x @ self.U.T

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Batch mean of 1/2 |f(x) - y|^2."""
        return 0.5 * ((self(x) - y) ** 2).sum(-1).mean()

    def lr_multipliers(self) -> dict[str, float]:
        """Per-parameter learning-rate multipliers making plain SGD equal muP SGD (s alpha_l^2)."""
        return {"U": self.scale * self.alphas[0] ** 2, "V": self.scale * self.alphas[1] ** 2}

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups with muP learning rates for base learning rate ``lr``."""
        mult = self.lr_multipliers()
        return [{"params": [self.U], "lr": lr * mult["U"]}, {"params": [self.V], "lr": lr * mult["V"]}]

    @torch.no_grad()
    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float:
        """One SGD step on batch (x, y) with muP learning rates; returns the loss before the step."""
        with torch.enable_grad():
            self.zero_grad()
            L = self.loss(x, y)
            L.backward()
        mult = self.lr_multipliers()
        assert self.U.grad is not None and self.V.grad is not None
        self.U.sub_(lr * mult["U"] * self.U.grad)
        self.V.sub_(lr * mult["V"] * self.V.grad)
        return float(L)


def reduced_projection(G: torch.Tensor) -> torch.Tensor:
    """The triangular factor R of ``G = Q R`` (G: n x m, n > m): a width-n linear network with projection G
    is the width-m network with projection R, rotated by Q.

    Why it is exact: U = G U_0 and V = V_0 G^T start in the column space of Q, the SGD gradients
    ``V^T chi x^T / n`` and ``chi (U x)^T / n`` stay in it, and SGD, gradient norms (clipping) and the
    logits ``V U x / n`` are invariant under the hidden-space rotation Q^T. So (U, V) = (Q U_r, V_r Q^T) for
    all time, where (U_r, V_r) follow the same SGD from (R U_0, V_0 R^T). Costs O(n m^2) once.
    """
    return torch.linalg.qr(G, mode="r").R


def corollary_6_2(xs: Sequence[float], ys: Sequence[float], lr: float = 1.0,
                  eval_xs: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """TP4 Corollary 6.2 verbatim (d = d_o = 1, mse, learning rate ``lr``).

    Returns ``f_t(xi_t)`` for t = 0..T-1 and the held-out logits after training (one per eval input).
    """
    A, B, C, D = 1.0, 0.0, 0.0, 1.0
    fs = []
    for xi, y in zip(xs, ys):
        f = (A * C + B * D) * xi
        fs.append(f)
        chi = f - y
        A, B, C, D = A - lr * chi * xi * C, B - lr * chi * xi * D, C - lr * chi * xi * A, D - lr * chi * xi * B
    return np.array(fs), np.array([(A * C + B * D) * x for x in eval_xs])
