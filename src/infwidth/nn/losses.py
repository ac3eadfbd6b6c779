"""Losses of the training routines: square, logistic and softmax cross-entropy, batch-averaged.

``chi = dLoss/df`` is the paper's chi_t = L'(f_t, y_t) divided by the batch size (TP4 Section 3).
"""

from __future__ import annotations

import torch
from torch import Tensor

from infwidth.arch.routine import LOSSES
from infwidth.errors import InfwidthError


def _check(f: Tensor, y: Tensor, loss: str) -> None:
    if loss not in LOSSES:
        raise InfwidthError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
    if loss == "xent":
        if y.dim() != 1 or y.shape[0] != f.shape[0]:
            raise InfwidthError("xent needs y to be a 1-D tensor of class indices, one per example.")
    elif y.shape != f.shape and y.reshape(f.shape).numel() != f.numel():
        raise InfwidthError(f"targets of shape {tuple(y.shape)} do not match outputs {tuple(f.shape)}.")


def loss_value(f: Tensor, y: Tensor, loss: str = "mse") -> Tensor:
    """Scalar loss of outputs f (batch, d_out) against targets y, averaged over the batch.

    mse: 1/2 sum_j (f_j - y_j)^2; logistic: log(1 + exp(-y f)) summed over outputs, y in {-1, +1};
    xent: softmax cross-entropy, y = class indices (batch,).
    """
    _check(f, y, loss)
    if loss == "mse":
        return 0.5 * ((f - y.reshape(f.shape).to(f.dtype)) ** 2).sum(dim=1).mean()
    if loss == "logistic":
        return torch.nn.functional.softplus(-y.reshape(f.shape).to(f.dtype) * f).sum(dim=1).mean()
    return torch.nn.functional.cross_entropy(f, y.long())


def loss_and_grad_scale(f: Tensor, y: Tensor, loss: str = "mse") -> tuple[float, Tensor]:
    """(loss value, chi) with chi = dLoss/df (batch, d_out), by closed forms (no autograd)."""
    _check(f, y, loss)
    B = f.shape[0]
    if loss == "mse":
        r = f - y.reshape(f.shape).to(f.dtype)
        return float(0.5 * (r**2).sum(dim=1).mean()), r / B
    if loss == "logistic":
        yy = y.reshape(f.shape).to(f.dtype)
        value = float(torch.nn.functional.softplus(-yy * f).sum(dim=1).mean())
        return value, -yy * torch.sigmoid(-yy * f) / B
    p = torch.softmax(f, dim=1)
    onehot = torch.nn.functional.one_hot(y.long(), f.shape[1]).to(f.dtype)
    value = float(torch.nn.functional.cross_entropy(f, y.long()))
    return value, (p - onehot) / B
