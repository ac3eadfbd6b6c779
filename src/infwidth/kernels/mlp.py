"""NNGP and NTK of L-hidden-layer MLPs by the layerwise recursion (batched, float64, torch).

One recursion serves both the neural-tangents-style kernels (:func:`nngp`, :func:`ntk`) and the
limits of abc-parametrized :class:`~infwidth.nn.AbcMLP` networks (:mod:`infwidth.kernels.abc`).
With Phi^0(x, x') = x . x' (raw dot product) and, for l = 1..L, Sigma^l the covariance of the
preactivation h^l, Phi^l = E[phi(u) phi(v)], Psi^l = E[phi'(u) phi'(v)] under N(0, Sigma^l):

    Sigma^{l+1} = w_var[l] Phi^l + b_var[l]                          (NNGP, Sigma^{L+1} = output)
    Theta^{l+1} = w_grad[l] Phi^l + b_grad[l] + w_var[l] Psi^l Theta^l   (NTK, Theta^1 = w_grad[0] Phi^0 + b_grad[0])

``w_var[l]``/``b_var[l]`` are the variances the (l+1)-th weight/bias contributes at initialization and
``w_grad[l]``/``b_grad[l]`` the weights of their gradient terms in the tangent kernel. For the neural
tangent parametrization of neural-tangents (W = (W_std / sqrt(fan_in)) w, b = b_std beta, w, beta ~ N(0, 1))
w_grad = w_var and b_grad = b_var; for abc-parametrizations they differ (see kernels/abc.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from infwidth.arch import Activation, activation
from infwidth.errors import InfwidthError
from infwidth.kernels import fused
from infwidth.kernels.activations import Elementwise, dual, dual_diag, dual_mean

ArrayLike = Tensor | np.ndarray


@dataclass(frozen=True)
class LayerConstants:
    """Per-layer constants of the recursion (module docstring), each a list of L+1 floats (layer 1..L+1)."""

    w_var: tuple[float, ...]
    b_var: tuple[float, ...]
    w_grad: tuple[float, ...]
    b_grad: tuple[float, ...]

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.w_var) - 1


def as_inputs(x: ArrayLike, device: torch.device | str | None = None) -> Tensor:
    """Inputs as a float64 (N, d) tensor; a 1-D array means N scalar inputs (d = 1)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x, dtype=torch.float64, device=device)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2:
        raise InfwidthError(f"inputs must be an (N, d) array, got shape {tuple(t.shape)}; flatten each input first.")
    return t


def _diagonals(x: Tensor, nl: Activation, consts: LayerConstants) -> list[Tensor]:
    """Variances Sigma^l(x, x) of the preactivations h^1..h^L for each row of x: L tensors (N,)."""
    d = consts.w_var[0] * (x * x).sum(1) + consts.b_var[0]
    out = [d]
    for l in range(1, consts.depth):
        d = consts.w_var[l] * dual_diag(nl, d) + consts.b_var[l]
        out.append(d)
    return out


# Entries per block of rows on the CPU: every entry's recursion is independent given the diagonals, so
# running all layers on a cache-sized block (~4 MB per tensor) avoids streaming (P, Q) tensors through memory.
CPU_BLOCK_ENTRIES = 1 << 19


def kernel_recursion(
    x1: Tensor, x2: Tensor | None, nl: Activation, consts: LayerConstants, need_ntk: bool = True,
    residual: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """(NNGP Sigma^{L+1}, NTK Theta^{L+1}) between the rows of x1 (P, d) and x2 (Q, d) (x2=None: x1).

    ``residual``: the network has residual blocks x^l = x^{l-1} + phi(h^l) for l >= 2 (:func:`layerwise_kernels`).
    Outputs are (P, Q) float64 tensors; Theta is None when ``need_ntk`` is False.
    """
    if residual:
        return layerwise_kernels(x1, x2, nl, consts, need_ntk, residual=True)
    y = x1 if x2 is None else x2
    diag1 = _diagonals(x1, nl, consts)
    diag2 = diag1 if x2 is None else _diagonals(y, nl, consts)
    if nl.dual == "relu" and x1.device.type == "cpu" and fused.AVAILABLE and x1.dtype == torch.float64:
        c = [np.asarray(v, dtype=np.float64) for v in (consts.w_var, consts.b_var, consts.w_grad, consts.b_grad)]
        sig_np, th_np = fused.relu_recursion(
            np.ascontiguousarray(x1.numpy()), None if x2 is None else np.ascontiguousarray(y.numpy()),
            torch.stack(diag1, 1).numpy(), None if x2 is None else torch.stack(diag2, 1).numpy(), *c)
        return torch.from_numpy(sig_np), torch.from_numpy(th_np) if need_ntk else None
    P, Q = x1.shape[0], y.shape[0]
    sig_out = torch.empty(P, Q, dtype=x1.dtype, device=x1.device)
    theta_out = torch.empty_like(sig_out) if need_ntk else None
    rows = P if x1.device.type != "cpu" else max(1, CPU_BLOCK_ENTRIES // max(1, Q))
    for i in range(0, P, rows):
        sl = slice(i, i + rows)
        phi0 = x1[sl] @ y.T
        if x2 is None:  # exact diagonal: rho = 1 exactly there (acos has infinite slope at 1)
            idx = torch.arange(sl.start, min(P, sl.start + rows), device=x1.device)
            phi0[idx - sl.start, idx] = (x1[idx] * x1[idx]).sum(1)
        theta = phi0 * consts.w_grad[0] + consts.b_grad[0] if need_ntk else None
        sig = phi0.mul_(consts.w_var[0]).add_(consts.b_var[0])
        for l in range(1, consts.depth + 1):
            phi_l, psi_l = dual(nl, diag1[l - 1][sl], diag2[l - 1], sig, need_deriv=need_ntk)
            if theta is not None:  # in place: Theta <- w_var Psi Theta + w_grad Phi + b_grad
                assert psi_l is not None
                theta = theta.mul_(psi_l).mul_(consts.w_var[l]).add_(phi_l, alpha=consts.w_grad[l])
                theta = theta.add_(consts.b_grad[l])
            sig = phi_l.mul_(consts.w_var[l]).add_(consts.b_var[l])  # phi_l is a fresh tensor, free to reuse
        sig_out[sl] = sig
        if theta_out is not None and theta is not None:
            theta_out[sl] = theta
    return sig_out, theta_out


def _diagonals_and_means(x: Tensor, nl: Activation, consts: LayerConstants,
                         residual: bool) -> tuple[list[Tensor], list[Tensor]]:
    """For each row of x: the variances Sigma^l(x, x) of h^1..h^L and the means m^l(x) = E[Z^{x^l}] (L each)."""
    phi = (x * x).sum(1)
    sig: list[Tensor] = []
    means: list[Tensor] = []
    for l in range(1, consts.depth + 1):
        s = consts.w_var[l - 1] * phi + consts.b_var[l - 1]
        mu, e2 = dual_mean(nl, s), dual_diag(nl, s)
        if l == 1 or not residual:
            phi, m = e2, mu
        else:  # Phi^l = Phi^{l-1} + E[phi^2] + 2 m^{l-1} E[phi]: h^l is independent of x^{l-1} (ZHat)
            phi, m = phi + e2 + 2 * means[-1] * mu, means[-1] + mu
        sig.append(s)
        means.append(m)
    return sig, means


def layerwise_kernels(
    x1: Tensor, x2: Tensor | None, nl: Activation, consts: LayerConstants, need_ntk: bool = True,
    residual: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """NNGP and NTK layer by layer (forward covariances, then backward), for residual MLPs
    ``x^1 = phi(h^1)``, ``x^l = x^{l-1} + phi(h^l)`` (2 <= l <= L), or plain ones (``residual=False``: the same
    formulas without the skips, equal to :func:`kernel_recursion`'s forward-only recursion).

    Forward (TP4 Definition 7.3 at initialization: Z^{h^l} = Zhat^{W^l x^{l-1}} is independent of Z^{x^{l-1}}):
    ``Sigma^l = w_var[l-1] Phi^{l-1} + b_var[l-1]`` and, with mu^l = E[phi(Z^{h^l})] and m^l = E[Z^{x^l}],
    ``Phi^l = Phi^{l-1} + E[phi phi'] + m^{l-1} mu^l' + mu^l m^{l-1}'`` (Phi^1 = E[phi phi']).
    Backward (at initialization ZDot = 0, as the readout has mean 0): B^L = w_var[L], Bh^l = B^l Psi^l and
    ``B^{l-1} = B^l + w_var[l-1] Bh^l`` (the skip adds B^l). The tangent kernel is the sum over layers of
    <dF/dW^l, dF/dW^l'> = (w_grad Phi^{l-1} + b_grad) Bh^l, plus the readout's w_grad[L] Phi^L + b_grad[L].
    Inputs and outputs as in :func:`kernel_recursion`; the plain MLP is the same formula without the skips.
    """
    y = x1 if x2 is None else x2
    sig1, m1 = _diagonals_and_means(x1, nl, consts, residual)
    sig2, m2 = (sig1, m1) if x2 is None else _diagonals_and_means(y, nl, consts, residual)
    L = consts.depth
    phis = [x1 @ y.T]
    psis: list[Tensor] = []
    for l in range(1, L + 1):
        cov = consts.w_var[l - 1] * phis[-1] + consts.b_var[l - 1]
        if x2 is None:  # exact diagonal (rho = 1 exactly)
            cov.diagonal().copy_(sig1[l - 1])
        ev, dv = dual(nl, sig1[l - 1], sig2[l - 1], cov, need_deriv=need_ntk)
        if l == 1 or not residual:
            phis.append(ev)
        else:
            mu1, mu2 = m1[l - 1] - m1[l - 2], m2[l - 1] - m2[l - 2]
            phis.append(phis[-1] + ev + m1[l - 2][:, None] * mu2[None, :] + mu1[:, None] * m2[l - 2][None, :])
        if dv is not None:
            psis.append(dv)
    sigma = consts.w_var[L] * phis[L] + consts.b_var[L]
    if not need_ntk:
        return sigma, None
    theta = consts.w_grad[L] * phis[L] + consts.b_grad[L]
    back = torch.full_like(theta, consts.w_var[L])
    for l in range(L, 0, -1):
        back_h = back * psis[l - 1]
        theta = theta + (consts.w_grad[l - 1] * phis[l - 1] + consts.b_grad[l - 1]) * back_h
        back = (back if residual else 0.0) + consts.w_var[l - 1] * back_h
    return sigma, theta


def _per_layer(value: float | Sequence[float], depth: int, what: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * (depth + 1)
    vals = [float(v) for v in value]
    if len(vals) != depth + 1:
        raise InfwidthError(f"{what} needs 1 or depth + 1 = {depth + 1} values (one per layer), got {len(vals)}.")
    return vals


def nt_constants(
    depth: int, d_in: int, weight_std: float | Sequence[float] = 1.0, bias_std: float | Sequence[float] = 0.0
) -> LayerConstants:
    """Constants of neural-tangents' ``stax.serial(Dense(n, W_std, b_std), phi, ..., Dense(1, W_std, b_std))``
    in its default NTK parameterization: w_var = W_std^2 / fan_in (fan_in = d_in for layer 1, 1 after the
    width normalization of hidden layers), b_var = b_std^2, and w_grad = w_var, b_grad = b_var."""
    if depth < 1:
        raise InfwidthError(f"depth must be >= 1 hidden layer, got {depth}.")
    ws = _per_layer(weight_std, depth, "weight_std")
    bs = _per_layer(bias_std, depth, "bias_std")
    w_var = tuple([ws[0] ** 2 / d_in] + [w**2 for w in ws[1:]])
    b_var = tuple(b**2 for b in bs)
    return LayerConstants(w_var, b_var, w_var, b_var)


def _kernels(
    x1: ArrayLike, x2: ArrayLike | None, depth: int, phi: str | Elementwise | Activation,
    weight_std: float | Sequence[float], bias_std: float | Sequence[float], need_ntk: bool,
) -> tuple[Tensor, Tensor | None]:
    a = as_inputs(x1)
    b = None if x2 is None else as_inputs(x2, device=a.device)
    if b is not None and b.shape[1] != a.shape[1]:
        raise InfwidthError(f"x1 has input dimension {a.shape[1]} but x2 has {b.shape[1]}; they must match.")
    consts = nt_constants(depth, a.shape[1], weight_std, bias_std)
    return kernel_recursion(a, b, activation(phi), consts, need_ntk)


def nngp(
    x1: ArrayLike, x2: ArrayLike | None = None, depth: int = 1, phi: str | Elementwise | Activation = "relu",
    weight_std: float | Sequence[float] = 1.0, bias_std: float | Sequence[float] = 0.0,
) -> Tensor:
    """NNGP kernel (output covariance at initialization) of a ``depth``-hidden-layer MLP.

    Inputs: x1 (P, d), x2 (Q, d) or None (= x1); nonlinearity name or torch callable; weight/bias
    standard deviations (scalars or one per layer) in neural-tangents' convention (module docstring).
    Output: (P, Q) float64 tensor on x1's device.
    """
    return _kernels(x1, x2, depth, phi, weight_std, bias_std, need_ntk=False)[0]


def ntk(
    x1: ArrayLike, x2: ArrayLike | None = None, depth: int = 1, phi: str | Elementwise | Activation = "relu",
    weight_std: float | Sequence[float] = 1.0, bias_std: float | Sequence[float] = 0.0,
) -> Tensor:
    """Neural tangent kernel of a ``depth``-hidden-layer MLP (arguments and output as in :func:`nngp`)."""
    theta = _kernels(x1, x2, depth, phi, weight_std, bias_std, need_ntk=True)[1]
    assert theta is not None
    return theta
