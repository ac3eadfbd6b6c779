"""Kernel-regime training in function space (TP4 Eq. (9)) and closed-form kernel predictors.

* :func:`kernel_gd` -- SGD in the kernel regime on a :class:`~infwidth.arch.Routine`'s batches, for its losses:
  f_{t+1}(xi) = f_t(xi) - eta sum_{b in batch_t} K(xi, xi_b) chi_b (Eq. (9), with chi_b = dLoss/df(xi_b) for
  the batch-averaged loss, i.e. L'(f, y) / B), from many initial functions at once. Outputs are
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

import numpy as np
import torch
from torch import Tensor

from infwidth.arch import Routine
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
class KernelGDRun:
    """Kernel gradient descent from S initial functions (numpy float64): ``f`` (S, T, B, d_out) on each step's
    batch before its update, ``loss`` (S, T) batch losses, ``f_eval`` (S, len(eval_steps), E, d_out) or None."""

    f: np.ndarray
    loss: np.ndarray
    f_eval: np.ndarray | None


def kernel_gd(K: np.ndarray, routine: Routine, f0: np.ndarray | None = None, d_out: int | None = None,
              homogeneous: bool = False) -> KernelGDRun:
    """Eq. (9) on the routine's batches: ``f_{t+1}(xi) = f_t(xi) - eta sum_b K(xi, xi_b) chi_b`` at every point.

    Inputs: K (P, N), the kernel between the P = N + E points (the routine's N training inputs, then its E eval
    inputs) and the N training inputs; f0 (S, P, d_out) initial function values of S independent runs (None:
    one run from f_0 = 0 with ``d_out`` outputs, default the targets' width); ``homogeneous``: the linear part of
    the mse dynamics (targets 0), whose runs propagate a covariance of f_0. Output: :class:`KernelGDRun`.
    """
    N, B = routine.n_examples, int(routine.batch_size)
    P = N + (0 if routine.eval_inputs is None else routine.eval_inputs.shape[0])
    if K.shape != (P, N):
        raise InfwidthError(f"the kernel must be (P, N) = ({P}, {N}) (all points x training inputs), got {K.shape}.")
    if f0 is None:
        d = d_out if d_out is not None else (int(routine.targets.max()) + 1 if routine.loss == "xent"
                                             else routine.targets.shape[1])
        f0 = np.zeros((1, P, d))
    eval_steps = set(routine.eval_steps())
    F = np.array(f0, dtype=np.float64)
    fs, losses, evals = [], [], []
    for t, idx in enumerate(routine.batches()):
        if t in eval_steps:
            evals.append(F[:, N:].copy())
        fb = F[:, idx]
        loss, chi = (np.zeros(F.shape[0]), fb / B) if homogeneous else routine.loss_chi(fb, idx)
        fs.append(fb)
        losses.append(loss)
        F -= routine.lr * np.einsum("pb,sbd->spd", K[:, idx], chi)
    if routine.n_steps in eval_steps:
        evals.append(F[:, N:].copy())
    return KernelGDRun(np.stack(fs, axis=1), np.stack(losses, axis=1), np.stack(evals, axis=1) if evals else None)


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
