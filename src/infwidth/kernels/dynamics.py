"""Kernel-regime training in function space (TP4 Eq. (9)) and closed-form kernel predictors.

* :func:`kernel_sgd` -- SGD in the kernel regime, batch size 1 or B, for the losses of
  :mod:`infwidth.nn.losses`: f_{t+1}(xi) = f_t(xi) - eta sum_{b in batch_t} K(xi, xi_b) chi_b (Eq. (9),
  with chi_b = dLoss/df(xi_b) for the batch-averaged loss, i.e. L'(f, y) / B). Outputs are
  independent in the limit: the kernel acts as K (x) I on R^{d_out}.
* :class:`FunctionSpaceModel` -- the same dynamics as a growing set of support points and coefficients,
  f(xi) = f_0(xi) + sum_s K(xi, x_s) c_s; each step appends its batch with c = -eta chi (usable for
  MAML's inner loop in the limit, Section 9.2).
* :func:`mse_gradient_flow` -- the closed form of gradient flow on the mean square loss,
  :func:`kernel_ridge`, :func:`gp_posterior` (the infinite-width Bayesian posterior with the NNGP).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from infwidth.errors import InfwidthError
from infwidth.nn.losses import LOSSES, loss_and_grad_scale

KernelFn = Callable[[Tensor, Tensor], Tensor]


def targets_2d(y: Tensor, loss: str, d_out: int | None = None) -> tuple[Tensor, int]:
    """(targets as (T, k), number of outputs d_out): xent keeps class indices (T, 1) and d_out = classes."""
    if loss not in LOSSES:
        raise InfwidthError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
    if loss == "xent":
        yi = y.reshape(-1)
        if torch.any(yi != torch.round(yi)) or torch.any(yi < 0):
            raise InfwidthError("xent needs class indices 0, 1, ... as targets.")
        k = int(yi.max().item()) + 1 if d_out is None else d_out
        return yi.reshape(-1, 1), max(k, 2)
    y2 = y.reshape(y.shape[0], -1)
    return y2, y2.shape[1]


def _loss_chi(f: Tensor, y: Tensor, loss: str) -> tuple[float, Tensor]:
    """(batch-averaged loss, chi = dLoss/df of shape (B, d_out)); y is (B, k) from targets_2d."""
    return loss_and_grad_scale(f, y.reshape(-1) if loss == "xent" else y, loss)


@dataclass
class KernelSGDResult:
    """Result of :func:`kernel_sgd` (all float64 tensors).

    f: (T, d_out), f_t on the training inputs of its step, before that step's update;
    loss: (steps,), the batch loss before each update; coef: (T, d_out), coefficient -eta chi of each
    training input; f_eval: (steps + 1, m, d_out) on the eval inputs after 0..steps updates, or None.
    """

    f: Tensor
    loss: Tensor
    coef: Tensor
    f_eval: Tensor | None


def kernel_sgd(
    k_train: Tensor, y: Tensor, lr: float, loss: str = "mse", batch_size: int = 1,
    f0: Tensor | None = None, k_eval: Tensor | None = None, f0_eval: Tensor | None = None,
    d_out: int | None = None,
) -> KernelSGDResult:
    """Kernel gradient descent, Eq. (9), on the training sequence in its given order.

    Inputs: k_train (T, T) the kernel between the T training inputs (step t uses inputs
    t B .. t B + B - 1; T must be a multiple of B); y (T,) or (T, k) targets (class indices for xent);
    lr eta; f0 (T, d_out) initial function values on the training inputs (None: 0); k_eval (m, T) and
    f0_eval (m, d_out) for eval inputs. Output: :class:`KernelSGDResult`.
    """
    T = k_train.shape[0]
    if k_train.shape != (T, T) or y.shape[0] != T:
        raise InfwidthError(f"the kernel must be (T, T) with T = {y.shape[0]} training targets, "
                            f"got {tuple(k_train.shape)}.")
    if batch_size < 1 or T % batch_size:
        raise InfwidthError(f"the number of training inputs ({T}) must be a multiple of the batch size ({batch_size}).")
    yy, k = targets_2d(y.to(k_train), loss, d_out)
    f_init = torch.zeros(T, k, dtype=k_train.dtype, device=k_train.device) if f0 is None else f0.reshape(T, k)
    coef = torch.zeros(T, k, dtype=k_train.dtype, device=k_train.device)
    f_seen = torch.zeros_like(coef)
    steps = T // batch_size
    losses = torch.zeros(steps, dtype=k_train.dtype)
    f_ev = None
    if k_eval is not None:
        m = k_eval.shape[0]
        f_ev = torch.empty(steps + 1, m, k, dtype=k_train.dtype, device=k_train.device)
        f_ev[0] = 0.0 if f0_eval is None else f0_eval.reshape(m, k)
    for t in range(steps):
        lo, hi = t * batch_size, (t + 1) * batch_size
        f_t = f_init[lo:hi] + k_train[lo:hi, :lo] @ coef[:lo]  # Eq. (9) unrolled from f_0
        value, chi = _loss_chi(f_t, yy[lo:hi], loss)
        f_seen[lo:hi] = f_t
        losses[t] = value
        coef[lo:hi] = -lr * chi
        if f_ev is not None and k_eval is not None:
            f_ev[t + 1] = f_ev[t] + k_eval[:, lo:hi] @ coef[lo:hi]
    return KernelSGDResult(f_seen, losses, coef, f_ev)


class FunctionSpaceModel:
    """f(xi) = f_0(xi) + sum_s K(xi, x_s) c_s with a growing support set (kernel-regime SGD, Eq. (9)).

    Args: kernel(a, b) -> (len(a), len(b)) tensor; d_out outputs; f0 a callable giving (N, d_out)
    initial values (None: f_0 = 0). ``support`` (s, d) and ``coef`` (s, d_out) start empty.
    """

    def __init__(self, kernel: KernelFn, d_in: int, d_out: int = 1, f0: Callable[[Tensor], Tensor] | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        self.kernel, self.d_out, self.f0 = kernel, int(d_out), f0
        self.support = torch.zeros(0, d_in, dtype=dtype)
        self.coef = torch.zeros(0, self.d_out, dtype=dtype)

    def __call__(self, x: Tensor) -> Tensor:
        """f(x) for inputs x (N, d): (N, d_out)."""
        base = torch.zeros(x.shape[0], self.d_out, dtype=self.coef.dtype) if self.f0 is None else self.f0(x)
        if self.support.shape[0] == 0:
            return base
        return base + self.kernel(x, self.support) @ self.coef

    def sgd_step(self, x: Tensor, y: Tensor, lr: float, loss: str = "mse") -> float:
        """One Eq. (9) step on the batch (x (B, d), y): append x with coefficients -lr chi; returns the loss before."""
        yy, _ = targets_2d(y.to(self.coef.dtype), loss, self.d_out)
        value, chi = _loss_chi(self(x), yy, loss)
        self.support = torch.cat([self.support, x.to(self.support.dtype)])
        self.coef = torch.cat([self.coef, -lr * chi])
        return value

    def copy(self) -> FunctionSpaceModel:
        """An independent copy (same kernel and f_0; support and coefficients cloned)."""
        new = FunctionSpaceModel(self.kernel, self.support.shape[1], self.d_out, self.f0, self.coef.dtype)
        new.support, new.coef = self.support.clone(), self.coef.clone()
        return new


def _sym_eig(k: Tensor) -> tuple[Tensor, Tensor]:
    evals, evecs = torch.linalg.eigh(0.5 * (k + k.T))
    return evals.clamp(min=0.0), evecs


def mse_gradient_flow(
    k_train: Tensor, y: Tensor, time: float, lr: float = 1.0, k_eval: Tensor | None = None,
    f0: Tensor | None = None, f0_eval: Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Closed-form gradient flow of the mean square loss 1/(2N) sum_i |f(x_i) - y_i|^2 in the kernel regime.

    df/dt = -(lr / N) K (f - y) gives f_t(X) = y + exp(-lr t K / N)(f_0(X) - y) and
    f_t(x) = f_0(x) + K(x, X) K^{-1} (I - exp(-lr t K / N)) (y - f_0(X)); time = inf gives the
    minimum-norm interpolant (pseudo-inverse). Inputs: k_train (N, N), y (N,) or (N, k), optional
    k_eval (m, N), f0 (N, k), f0_eval (m, k). Output: (f_t on X, f_t on the eval inputs or None).
    """
    N = k_train.shape[0]
    y2 = y.reshape(N, -1).to(k_train)
    resid = y2 - (0 if f0 is None else f0.reshape(y2.shape))
    lam, V = _sym_eig(k_train)
    a = lr * time / N
    tol = lam.max() * N * 1e-13
    if math.isinf(time):
        g = torch.where(lam > tol, 1 / torch.where(lam > tol, lam, torch.ones_like(lam)), torch.zeros_like(lam))
        decay = torch.where(lam > tol, torch.zeros_like(lam), torch.ones_like(lam))
    else:
        g = torch.where(lam > tol, -torch.expm1(-a * lam) / torch.where(lam > tol, lam, torch.ones_like(lam)),
                        torch.full_like(lam, a))  # (1 - e^{-a lam}) / lam -> a as lam -> 0
        decay = torch.exp(-a * lam)
    alpha = V @ (g[:, None] * (V.T @ resid))  # K^{-1}(I - e^{-aK}) (y - f_0)
    f_train = y2 - V @ (decay[:, None] * (V.T @ resid))
    if k_eval is None:
        return f_train, None
    base = 0 if f0_eval is None else f0_eval.reshape(k_eval.shape[0], -1)
    return f_train, base + k_eval @ alpha


def kernel_ridge(k_train: Tensor, y: Tensor, k_eval: Tensor, ridge: float) -> Tensor:
    """Kernel ridge regression K(x, X)(K + ridge I)^{-1} y: inputs k_train (N, N), y (N,) or (N, k),
    k_eval (m, N), ridge >= 0 (0 needs K invertible). Output (m, k)."""
    N = k_train.shape[0]
    if ridge < 0:
        raise InfwidthError(f"ridge must be >= 0, got {ridge}.")
    sol = torch.linalg.solve(k_train + ridge * torch.eye(N, dtype=k_train.dtype, device=k_train.device),
                             y.reshape(N, -1).to(k_train))
    return k_eval @ sol


def gp_posterior(
    k_train: Tensor, y: Tensor, k_eval_train: Tensor, k_eval: Tensor, noise: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Posterior of the GP with covariance K given y = f(X) + N(0, noise) (e.g. the NNGP of an infinitely
    wide network, the Bayesian reading of the kernel limit). Inputs: k_train (N, N), y (N,) or (N, k),
    k_eval_train (m, N), k_eval (m, m). Output: (mean (m, k), covariance (m, m))."""
    N = k_train.shape[0]
    A = k_train + noise * torch.eye(N, dtype=k_train.dtype, device=k_train.device)
    chol, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        raise InfwidthError("the training kernel is singular; add observation noise (noise > 0) "
                            "or remove duplicate inputs.")
    mean = k_eval_train @ torch.cholesky_solve(y.reshape(N, -1).to(k_train), chol)
    v = torch.linalg.solve_triangular(chol, k_eval_train.T, upper=False)
    return mean, k_eval - v.T @ v
