"""Function-space first-order MAML for kernel models (the NNGP / NTK baselines of TP4 Table 2).

A kernel model is a function ``f(x) = sum_j K(x, s_j) c_j`` kept as support points S (M, d) and
coefficients C (M, d_o), with f_0 = 0 (TP4's baselines start from a zero readout). With a fixed
kernel, a gradient step on the readout with step size eps moves f in function space by
``-eps sum_i K(., x_i) dL/df(x_i)`` (kernel gradient descent). MAML on such a model (TP4 Section 9.2):

* adaptation on the support set: ``f_s <- f_s - eps K_ss chi``, ``f_q <- f_q - eps K_qs chi``
  (only the values at the task's points are needed);
* first-order meta-gradient: the functional gradient ``g = sum_b sum_i K(., xq_{b,i}) chi'_{b,i}`` of
  the query losses at the adapted functions; its RKHS norm ``sqrt(chi'^T K_QQ chi')`` is clipped (as
  the parameter norm of the readout gradient), and the meta-step appends the query points to S with
  coefficients ``-eta * chi'``.

Kernels come from :mod:`infwidth.kernels.mlp` (NNGP/NTK of a 1-hidden-layer MLP, relu or identity);
the function is an :class:`infwidth.kernels.dynamics.FunctionSpaceModel` (support points + coefficients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from infwidth.data.omniglot import TaskBatch
from infwidth.kernels.dynamics import FunctionSpaceModel
from infwidth.maml.core import MAMLConfig

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mlp_kernel(kind: str, phi: str, d_in: int, sigma_w: float = 1.0, sigma_b: float = 1.0,
               sigma_v: float = 1.0) -> Kernel:
    """NNGP (``kind='gp'``) or NTK (``'ntk'``) of ``f = sigma_v/sqrt(n) v . phi(sigma_w U x + sigma_b b)``.

    ``sigma_w`` multiplies raw (unnormalized) inputs, as TP4's ``varw = sigma_w^2``; the readout has no bias.
    Returns ``K(X (P, d), Y (Q, d)) -> (P, Q)`` float64.
    """
    from infwidth.kernels.mlp import nngp, ntk

    fn = nngp if kind == "gp" else ntk
    ws = [sigma_w * d_in**0.5, sigma_v]  # neural-tangents convention divides the first layer by fan_in

    def k(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return fn(x, y, depth=1, phi=phi, weight_std=ws, bias_std=[sigma_b, 0.0])

    return k


def _residual(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(logits, dim=-1)
    return (p - torch.nn.functional.one_hot(y, logits.shape[-1]).to(p.dtype)) / logits.shape[-2]


def adapt_fs(model: FunctionSpaceModel, batch: TaskBatch, inner_lr: float, steps: int) -> torch.Tensor:
    """Query values (B, q, o) after ``steps`` kernel-gradient steps on each task's support set."""
    B, k, d = batch.xs.shape
    q = batch.xq.shape[1]
    pts = torch.cat([batch.xs, batch.xq], dim=1)                    # (B, k+q, d)
    f = model(pts.reshape(-1, d)).reshape(B, k + q, -1)
    gram = torch.stack([model.kernel(pts[b], batch.xs[b]) for b in range(B)])   # (B, k+q, k)
    return kernel_gd_values(f, gram, batch.ys, inner_lr, steps)[:, k:k + q]


def kernel_gd_values(f: torch.Tensor, gram: torch.Tensor, ys: torch.Tensor, lr: float, steps: int) -> torch.Tensor:
    """Kernel gradient descent on the support loss, tracked at a task's points.

    ``f`` (B, P, o): values at the P points whose first k are the support set (labels ``ys`` (B, k));
    ``gram`` (B, P, k): K(point, support point). Returns the values after ``steps`` steps of size ``lr``.
    """
    k = gram.shape[-1]
    for _ in range(steps):
        chi = _residual(f[:, :k], ys)
        f = f - lr * gram @ chi
    return f


def meta_step_fs(model: FunctionSpaceModel, batch: TaskBatch, cfg: MAMLConfig, meta_lr: float) -> dict[str, float]:
    """One function-space first-order MAML meta-iteration (module docstring); same contract as
    :func:`infwidth.maml.core.meta_step`."""
    fq = adapt_fs(model, batch, cfg.inner_lr, cfg.inner_steps)
    B, q, o = fq.shape
    chi = _residual(fq, batch.yq).reshape(B * q, o)
    if cfg.reduction == "mean":
        chi = chi / B
    xq = batch.xq.reshape(B * q, -1)
    norm = float(torch.sqrt(torch.clamp((chi * (model.kernel(xq, xq) @ chi)).sum(), min=0.0)))
    scale = cfg.grad_clip / (norm + 1e-12) if cfg.grad_clip is not None and norm > cfg.grad_clip else 1.0
    model.support = torch.cat([model.support, xq])
    model.coef = torch.cat([model.coef, -meta_lr * scale * chi])
    loss = torch.nn.functional.cross_entropy(fq.reshape(B * q, o), batch.yq.reshape(-1))
    acc = (fq.argmax(-1) == batch.yq).double().mean()
    return {"loss": float(loss), "accuracy": float(acc), "grad_norm": norm}


def evaluate_fs(model: FunctionSpaceModel, batch: TaskBatch, inner_lr: float, steps: int) -> torch.Tensor:
    """Query accuracy per task (B,) after ``steps`` adaptation steps."""
    fq = adapt_fs(model, batch, inner_lr, steps)
    return (fq.argmax(-1) == batch.yq).double().mean(-1)


def fs_state(model: FunctionSpaceModel) -> dict[str, Any]:
    """Support points and coefficients of a function-space model (for checkpoints)."""
    return {"support": model.support, "coef": model.coef}


def load_fs_state(model: FunctionSpaceModel, state: dict[str, Any]) -> None:
    """Restore :func:`fs_state`."""
    model.support, model.coef = state["support"], state["coef"]
