"""Batched first-order MAML for linear 1-hidden-layer networks (the muP limit and its finite widths)
and for linear kernel readouts.

For ``f(x) = V U x / s`` (:class:`~infwidth.maml.models.MupLinear1LP`; s = 1 in the limit, n at width
n) a task's support gradient has rank <= k (the number of support examples):
``grad_U = V^T chi^T X / s``, ``grad_V = chi^T (X U^T) / s``, with ``chi = dL/df`` (k x d_o). So every
adapted first layer is ``U_t = U - Z_t^T X`` with a small coefficient matrix Z_t (k x m), and the
support/query features follow from the Gram matrices X X^T, X_q X^T:
``H_t = X U^T - (X X^T) Z_t``. All tasks of a meta-batch are processed at once, with no per-task
autograd; the first-order meta-gradient ``sum_b grad_{theta'_b} L_{D'_b}`` is assembled from the
query residuals. This is exactly :func:`infwidth.maml.core.meta_step` (first order) for these
models -- the tests compare the two -- at a fraction of the cost.
"""

from __future__ import annotations

import torch

from infwidth.data.omniglot import TaskBatch
from infwidth.maml.core import MAMLConfig, clip_
from infwidth.maml.kernel import kernel_gd_values
from infwidth.maml.models import LinearReadout, MupLinear1LP


def _augment(model: MupLinear1LP, x: torch.Tensor) -> torch.Tensor:
    if model.bias_alpha == 0:
        return x
    return torch.cat([x, x.new_full((*x.shape[:-1], 1), model.bias_alpha)], dim=-1)


def _residual(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """chi = d(mean cross-entropy)/d logits for logits (B, k, o) and labels (B, k)."""
    p = torch.softmax(logits, dim=-1)
    return (p - torch.nn.functional.one_hot(y, logits.shape[-1]).to(p.dtype)) / logits.shape[-2]


@torch.no_grad()
def adapt_batch(model: MupLinear1LP, batch: TaskBatch, inner_lr: float, steps: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adapt to every task's support set; returns (query features Hq (B, q, m), adapted V (B, o, m),
    augmented query inputs Xq (B, q, d))."""
    mult = model.lr_multipliers()
    s = model.scale
    xs, xq = _augment(model, batch.xs), _augment(model, batch.xq)
    U, V = model.U.detach(), model.V.detach()
    k = xs.shape[1]
    pts = torch.cat([xs, xq], dim=1)
    h0 = (pts.reshape(-1, pts.shape[-1]) @ U.T).reshape(*pts.shape[:2], -1)   # one GEMM for all tasks' points
    gram = pts @ xs.transpose(1, 2)
    hs0, hq0, kss, kqs = h0[:, :k], h0[:, k:], gram[:, :k], gram[:, k:]
    Z = torch.zeros_like(hs0)
    Vt = V.expand(xs.shape[0], -1, -1).clone()
    for _ in range(steps):
        hs = hs0 - kss @ Z
        chi = _residual(hs @ Vt.transpose(1, 2) / s, batch.ys)
        Z = Z + inner_lr * mult["U"] / s * (chi @ Vt)            # U_t = U - Z^T X
        Vt = Vt - inner_lr * mult["V"] / s * (chi.transpose(1, 2) @ hs)
    return hq0 - kqs @ Z, Vt, xq


def meta_step_linear(model: MupLinear1LP, batch: TaskBatch, cfg: MAMLConfig, meta_lr: float
                     ) -> dict[str, float]:
    """One first-order MAML meta-iteration (same contract as :func:`infwidth.maml.core.meta_step`)."""
    hq, Vt, xq = adapt_batch(model, batch, cfg.inner_lr, cfg.inner_steps)
    s = model.scale
    with torch.no_grad():
        logits = hq @ Vt.transpose(1, 2) / s
        chi = _residual(logits, batch.yq)
        B, q, o = chi.shape
        G_U = (chi @ Vt).reshape(B * q, -1).T @ xq.reshape(B * q, -1) / s    # sum_b V'^T chi'^T Xq / s
        G_V = torch.einsum("bqo,bqm->om", chi, hq) / s                        # sum_b chi'^T Hq / s
        if cfg.reduction == "mean":
            G_U, G_V = G_U / B, G_V / B
        mult = model.lr_multipliers()
        grads = {"U": G_U, "V": G_V}
        norm = clip_(grads, mult, cfg.grad_clip)
        model.U.sub_(meta_lr * mult["U"] * grads["U"])
        model.V.sub_(meta_lr * mult["V"] * grads["V"])
        loss = torch.nn.functional.cross_entropy(logits.reshape(B * q, o), batch.yq.reshape(-1))
        acc = (logits.argmax(-1) == batch.yq).double().mean()
    return {"loss": float(loss), "accuracy": float(acc), "grad_norm": norm}


def evaluate_linear(model: MupLinear1LP, batch: TaskBatch, inner_lr: float, steps: int) -> torch.Tensor:
    """Query accuracy per task (B,) after ``steps`` adaptation steps (as :func:`infwidth.maml.core.evaluate`)."""
    hq, Vt, _ = adapt_batch(model, batch, inner_lr, steps)
    logits = hq @ Vt.transpose(1, 2) / model.scale
    return (logits.argmax(-1) == batch.yq).double().mean(-1)


def adapted_query_logits(model: MupLinear1LP, batch: TaskBatch, inner_lr: float, steps: int) -> torch.Tensor:
    """Query logits (B, q, o) after adaptation (used to compare widths with the limit)."""
    hq, Vt, _ = adapt_batch(model, batch, inner_lr, steps)
    return hq @ Vt.transpose(1, 2) / model.scale


def _readout_adapt(model: LinearReadout, batch: TaskBatch, inner_lr: float, steps: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adapted query logits (B, q, o) of a :class:`LinearReadout` and its augmented query inputs (B, q, d+1).

    Gradient steps on W are kernel steps with K = gamma (x.x' + beta^2) (see :mod:`infwidth.maml.kernel`).
    """
    def aug(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x.new_full((*x.shape[:-1], 1), model.beta)], dim=-1)

    xs, xq = aug(batch.xs), aug(batch.xq)
    pts = torch.cat([xs, xq], dim=1)
    with torch.no_grad():
        f = pts @ model.W.T
        f = kernel_gd_values(f, model.gamma * pts @ xs.transpose(1, 2), batch.ys, inner_lr, steps)
    return f[:, xs.shape[1]:], xq


def meta_step_readout(model: LinearReadout, batch: TaskBatch, cfg: MAMLConfig, meta_lr: float) -> dict[str, float]:
    """First-order MAML meta-iteration of a :class:`LinearReadout` (same contract as ``core.meta_step``)."""
    fq, xq = _readout_adapt(model, batch, cfg.inner_lr, cfg.inner_steps)
    with torch.no_grad():
        chi = _residual(fq, batch.yq)
        B, q, o = chi.shape
        G = chi.reshape(B * q, o).T @ xq.reshape(B * q, -1)        # sum_b chi'^T Xq
        if cfg.reduction == "mean":
            G = G / B
        grads = {"W": G}
        mult = model.lr_multipliers()
        norm = clip_(grads, mult, cfg.grad_clip)
        model.W.sub_(meta_lr * mult["W"] * grads["W"])
        loss = torch.nn.functional.cross_entropy(fq.reshape(B * q, o), batch.yq.reshape(-1))
        acc = (fq.argmax(-1) == batch.yq).double().mean()
    return {"loss": float(loss), "accuracy": float(acc), "grad_norm": norm}


def evaluate_readout(model: LinearReadout, batch: TaskBatch, inner_lr: float, steps: int) -> torch.Tensor:
    """Query accuracy per task (B,) of a :class:`LinearReadout` after ``steps`` adaptation steps."""
    fq, _ = _readout_adapt(model, batch, inner_lr, steps)
    return (fq.argmax(-1) == batch.yq).double().mean(-1)
