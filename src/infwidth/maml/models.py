"""Parameter-space models for Omniglot MAML: the muP limit, finite-width muP MLPs, linear kernel readouts.

* :class:`MupLinear1LP` -- the 1-hidden-layer linear muP network, infinite width (``width=None``: the
  width-(d + d_o) network with "diagonal" initialization, TP4 Corollary 6.2 / Section 6.1) or width n
  (a random projection of it), built on :class:`infwidth.limits.linear_network.LinearMuP`. TP4's runs
  also use a hidden-layer bias multiplied by ``bias_alpha`` and initialized at 0; it is exactly an
  extra constant input coordinate equal to ``bias_alpha`` whose first-layer column starts at 0.
* :class:`MupMLP1` -- a finite width-n 1-hidden-layer muP MLP with any activation of :mod:`infwidth.arch`,
  ``f = (1/n) V phi(U x)`` with U, V entries N(0, sigma_u^2), N(0, sigma_v^2) and muP learning rates
  (multiplier n on both layers, as in LinearMuP; its identity case has the law of LinearMuP(width=n)).

All models take flattened inputs (batch, d) and expose ``lr_multipliers()`` for :mod:`infwidth.maml.core`.
"""

from __future__ import annotations

import torch

from infwidth import arch
from infwidth.errors import InfwidthError
from infwidth.limits.linear_network import LinearMuP


class MupLinear1LP(LinearMuP):
    """Linear 1-hidden-layer muP classifier; ``width=None`` is the infinite-width limit.

    Inputs (batch, d_in), logits (batch, d_out). ``sigma_u``, ``sigma_v``: TP4's ``sigma1``/``sigma2``
    (diagonal scales of the limit's initialization); ``bias_alpha``: hidden-bias multiplier (0: none).
    The readout has no bias. ``seed`` draws the random projection of a finite width. With ``reduce`` (default)
    a width n > d + d_o network is stored exactly in d + d_o hidden coordinates
    (:func:`infwidth.limits.linear_network.reduced_projection`), so width 8192 costs what the limit costs.
    """

    def __init__(self, d_in: int, d_out: int, width: int | None = None, sigma_u: float = 1.0,
                 sigma_v: float = 1.0, bias_alpha: float = 0.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64, reduce: bool = True) -> None:
        self.bias_alpha = float(bias_alpha)
        extra = 1 if self.bias_alpha != 0 else 0
        super().__init__(d_in + extra, d_out, width=width, sigmas=(sigma_u, sigma_v), seed=seed, dtype=dtype,
                         reduce=reduce)
        if extra:
            with torch.no_grad():
                self.U[:, -1] = 0.0  # the hidden bias starts at 0 (TP4: bias[:] = 0, projected: still 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, d_out) of flattened inputs (batch, d_in)."""
        if self.bias_alpha != 0:
            x = torch.cat([x, x.new_full((*x.shape[:-1], 1), self.bias_alpha)], dim=-1)
        return super().forward(x)


class MupMLP1(torch.nn.Module):
    """Finite width-n 1-hidden-layer muP MLP ``f(x) = (1/n) V phi(U x + bias_alpha * b)``.

    ``U`` (n x d_in) ~ N(0, sigma_u^2), ``V`` (d_out x n) ~ N(0, sigma_v^2), hidden bias ``b`` = 0 at
    init (only when ``bias_alpha`` != 0); learning-rate multipliers n (muP SGD, as LinearMuP).
    """

    def __init__(self, d_in: int, d_out: int, width: int, activation: str = "relu", sigma_u: float = 1.0,
                 sigma_v: float = 1.0, bias_alpha: float = 0.0, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if width < 1:
            raise InfwidthError(f"MupMLP1 needs width >= 1, got {width}.")
        gen = torch.Generator().manual_seed(seed)
        self.width, self.phi, self.bias_alpha = width, arch.activation(activation).torch, float(bias_alpha)
        self.U = torch.nn.Parameter(sigma_u * torch.randn(width, d_in, generator=gen, dtype=dtype))
        self.V = torch.nn.Parameter(sigma_v * torch.randn(d_out, width, generator=gen, dtype=dtype))
        self.b = torch.nn.Parameter(torch.zeros(width, dtype=dtype)) if bias_alpha != 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, d_out)."""
        h = x @ self.U.T
        if self.b is not None:
            h = h + self.bias_alpha * self.b
        return self.phi(h) @ self.V.T / self.width

    def lr_multipliers(self) -> dict[str, float]:
        """muP SGD learning-rate multipliers (n for every parameter)."""
        return {name: float(self.width) for name, _ in self.named_parameters()}


class LinearReadout(torch.nn.Module):
    """Kernel model with a finite feature map: ``f(x) = W [x; beta]``, W = 0 at init, lr multiplier gamma.

    Gradient descent on W is kernel gradient descent with ``K(x, x') = gamma (x.x' + beta^2)``; this is
    the NNGP/NTK limit of the linear 1-hidden-layer network (TP4 Section 9.2: "equivalent to a
    0-hidden-layer perceptron"), with f_0 = 0 as in TP4's kernel baselines.
    """

    def __init__(self, d_in: int, d_out: int, gamma: float = 1.0, beta: float = 1.0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.gamma, self.beta = float(gamma), float(beta)
        self.W = torch.nn.Parameter(torch.zeros(d_out, d_in + 1, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, d_out)."""
        return torch.cat([x, x.new_full((*x.shape[:-1], 1), self.beta)], dim=-1) @ self.W.T

    def lr_multipliers(self) -> dict[str, float]:
        """Kernel scale gamma as the learning-rate multiplier of W."""
        return {"W": self.gamma}
