"""First-order (and second-order) MAML for any ``torch.nn.Module`` (TP4 Section 9.2, steps 1-6).

For a task with support set D = (xs, ys) and query set D' = (xq, yq):

* adaptation (step 3): ``theta' = theta - eps * m * grad_theta L_D(f_theta)``, repeated ``steps`` times;
* first-order meta-gradient (step 5): ``grad_{theta'} L_{D'}(f_{theta'})`` evaluated at the adapted
  parameters; second-order: ``grad_theta L_{D'}(f_{theta'(theta)})`` through the inner steps.

``m`` are per-parameter learning-rate multipliers: the model's ``lr_multipliers()`` (a dict keyed
by parameter name, as :class:`infwidth.limits.linear_network.LinearMuP` provides: muP learning rates),
else 1. The same multipliers scale the meta-update, and gradient clipping uses the matching norm
``sqrt(sum_p m_p |g_p|^2)``: the norm of the gradient in the coordinates where plain SGD is used,
so a width-n muP network is clipped exactly like its TP4 counterpart and like its limit.

As in TP4's runs (``TP4MAML/meta/maml/metalearners/maml.py``): the loss is cross-entropy (mean over
a task's examples), the meta-gradient is the *sum* over the tasks of a meta-batch, clipped at norm
0.5, then one SGD step with the meta learning rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from infwidth.data.omniglot import TaskBatch

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MAMLConfig:
    """Hyperparameters of MAML: inner step size ``inner_lr`` (eps), ``inner_steps`` during meta-training,
    ``first_order``, ``grad_clip`` (None = no clipping), ``reduction`` over the tasks of a meta-batch
    ('sum' as TP4, or 'mean')."""

    inner_lr: float = 0.4
    inner_steps: int = 1
    first_order: bool = True
    grad_clip: float | None = 0.5
    reduction: str = "sum"


def lr_multipliers(model: torch.nn.Module) -> dict[str, float]:
    """Per-parameter learning-rate multipliers of ``model`` (its ``lr_multipliers()``, default 1)."""
    own = getattr(model, "lr_multipliers", None)
    mult: Mapping[str, float] = own() if callable(own) else {}
    return {name: float(mult.get(name, 1.0)) for name, _ in model.named_parameters()}


def adapt(model: torch.nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, inner_lr: float,
          steps: int, mult: Mapping[str, float], create_graph: bool = False,
          loss_fn: LossFn = F.cross_entropy) -> Params:
    """``steps`` SGD steps on ``loss_fn(f_params(x), y)`` from ``params``; returns the adapted parameters.

    With ``create_graph`` the result is differentiable with respect to ``params`` (second-order MAML);
    otherwise every step starts from detached leaves (first-order MAML).
    """
    for _ in range(steps):
        if not create_graph:
            params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        loss = loss_fn(functional_call(model, params, (x,)), y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
        params = {k: v - inner_lr * mult[k] * g for (k, v), g in zip(params.items(), grads)}
    return params


def task_meta_gradient(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor, xq: torch.Tensor,
                       yq: torch.Tensor, cfg: MAMLConfig, loss_fn: LossFn = F.cross_entropy
                       ) -> tuple[Params, float, torch.Tensor]:
    """Meta-gradient of one task (TP4 Section 9.2 step 5), its query loss and the adapted query logits.

    First-order: the gradient of the query loss at the adapted parameters theta'. Second-order: the
    gradient through the inner steps with respect to theta.
    """
    mult = lr_multipliers(model)
    theta: Params = dict(model.named_parameters())
    if cfg.first_order:
        adapted = adapt(model, theta, xs, ys, cfg.inner_lr, cfg.inner_steps, mult, False, loss_fn)
        adapted = {k: v.detach().requires_grad_(True) for k, v in adapted.items()}
        logits = functional_call(model, adapted, (xq,))
        loss = loss_fn(logits, yq)
        grads = torch.autograd.grad(loss, list(adapted.values()))
    else:
        adapted = adapt(model, theta, xs, ys, cfg.inner_lr, cfg.inner_steps, mult, True, loss_fn)
        logits = functional_call(model, adapted, (xq,))
        loss = loss_fn(logits, yq)
        grads = torch.autograd.grad(loss, list(theta.values()))
    return dict(zip(theta, grads)), float(loss.detach()), logits.detach()


def clip_(grads: Params, mult: Mapping[str, float], max_norm: float | None) -> float:
    """Scale ``grads`` in place to norm <= ``max_norm`` in the metric ``sum_p m_p |g_p|^2``; returns the
    norm before clipping (TP4's ``clip_grad_norm_`` in the plain-SGD coordinates)."""
    norm = float(torch.sqrt(sum(mult[k] * (g * g).sum() for k, g in grads.items())))  # type: ignore[arg-type]
    if max_norm is not None and norm > max_norm:
        for g in grads.values():
            g.mul_(max_norm / (norm + 1e-12))
    return norm


def meta_step(model: torch.nn.Module, batch: TaskBatch, cfg: MAMLConfig, meta_lr: float,
              loss_fn: LossFn = F.cross_entropy) -> dict[str, float]:
    """One meta-iteration: meta-gradients of every task of ``batch``, reduced, clipped, one SGD step.

    Returns the mean query loss and accuracy after adaptation and the gradient norm before clipping.
    """
    mult = lr_multipliers(model)
    total: Params = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    losses, accs = [], []
    for b in range(batch.xs.shape[0]):
        g, loss, logits = task_meta_gradient(model, batch.xs[b], batch.ys[b], batch.xq[b], batch.yq[b],
                                             cfg, loss_fn)
        for k in total:
            total[k].add_(g[k])
        losses.append(loss)
        accs.append(float((logits.argmax(-1) == batch.yq[b]).double().mean()))
    norm = _apply(model, total, mult, cfg, meta_lr, len(losses))
    return {"loss": sum(losses) / len(losses), "accuracy": sum(accs) / len(accs), "grad_norm": norm}


def _apply(model: torch.nn.Module, total: Params, mult: Mapping[str, float], cfg: MAMLConfig, meta_lr: float,
           n_tasks: int) -> float:
    """Reduce, clip and apply the summed meta-gradient ``total``; returns the norm before clipping."""
    if cfg.reduction == "mean":
        for t in total.values():
            t.div_(n_tasks)
    norm = clip_(total, mult, cfg.grad_clip)
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.sub_(meta_lr * mult[k] * total[k])
    return norm


def _chunks(model: torch.nn.Module, n_tasks: int, budget: int = 20_000_000) -> list[slice]:
    size = max(1, budget // max(1, sum(p.numel() for p in model.parameters())))
    return [slice(i, min(i + size, n_tasks)) for i in range(0, n_tasks, size)]


def _vmapped_adapt(model: torch.nn.Module, mult: Mapping[str, float], inner_lr: float, steps: int,
                   loss_fn: LossFn) -> Callable[[Params, torch.Tensor, torch.Tensor], Params]:
    """A function (params, xs, ys) -> adapted params, written with torch.func so that it can be vmapped."""

    def support_loss(p: Params, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, p, (xs,)), ys)

    def run(p: Params, xs: torch.Tensor, ys: torch.Tensor) -> Params:
        for _ in range(steps):
            g = grad(support_loss)(p, xs, ys)
            p = {k: v - inner_lr * mult[k] * g[k] for k, v in p.items()}
        return p

    return run


def meta_step_vmap(model: torch.nn.Module, batch: TaskBatch, cfg: MAMLConfig, meta_lr: float,
                   loss_fn: LossFn = F.cross_entropy) -> dict[str, float]:
    """:func:`meta_step` with the tasks vectorized by ``torch.func.vmap`` (same result, less Python
    overhead; memory grows with tasks x parameters, so tasks are processed in chunks)."""
    mult = lr_multipliers(model)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    adapt_fn = _vmapped_adapt(model, mult, cfg.inner_lr, cfg.inner_steps, loss_fn)

    def query(p: Params, xq: torch.Tensor, yq: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        logits = functional_call(model, p, (xq,))
        loss = loss_fn(logits, yq)
        return loss, (loss, logits)

    def task(p: Params, xs: torch.Tensor, ys: torch.Tensor, xq: torch.Tensor, yq: torch.Tensor
             ) -> tuple[Params, tuple[torch.Tensor, torch.Tensor]]:
        if cfg.first_order:  # gradient at the adapted parameters, taken as independent variables
            return grad(query, has_aux=True)(adapt_fn(p, xs, ys), xq, yq)

        def outer(q: Params) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
            return query(adapt_fn(q, xs, ys), xq, yq)

        return grad(outer, has_aux=True)(p)

    total: Params = {k: torch.zeros_like(v) for k, v in theta.items()}
    losses, accs = [], []
    for sl in _chunks(model, batch.xs.shape[0]):
        g, (loss, logits) = vmap(task, in_dims=(None, 0, 0, 0, 0))(theta, batch.xs[sl], batch.ys[sl],
                                                                   batch.xq[sl], batch.yq[sl])
        for k in total:
            total[k].add_(g[k].sum(0))
        losses += loss.tolist()
        accs += (logits.argmax(-1) == batch.yq[sl]).double().mean(-1).tolist()
    norm = _apply(model, total, mult, cfg, meta_lr, len(losses))
    return {"loss": sum(losses) / len(losses), "accuracy": sum(accs) / len(accs), "grad_norm": norm}


def evaluate_vmap(model: torch.nn.Module, batch: TaskBatch, inner_lr: float, steps: int,
                  loss_fn: LossFn = F.cross_entropy) -> torch.Tensor:
    """:func:`evaluate` with the tasks vectorized by ``torch.func.vmap``."""
    mult = lr_multipliers(model)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    adapt_fn = _vmapped_adapt(model, mult, inner_lr, steps, loss_fn)

    def task(xs: torch.Tensor, ys: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        return functional_call(model, adapt_fn(theta, xs, ys), (xq,))

    out = []
    for sl in _chunks(model, batch.xs.shape[0]):
        logits = vmap(task)(batch.xs[sl], batch.ys[sl], batch.xq[sl])
        out.append((logits.argmax(-1) == batch.yq[sl]).double().mean(-1))
    return torch.cat(out)


def evaluate(model: torch.nn.Module, batch: TaskBatch, inner_lr: float, steps: int,
             loss_fn: LossFn = F.cross_entropy) -> torch.Tensor:
    """Meta-test: adapt to each task's support set with ``steps`` SGD steps; query accuracy per task (B,)."""
    mult = lr_multipliers(model)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    accs = torch.empty(batch.xs.shape[0], dtype=torch.float64)
    for b in range(batch.xs.shape[0]):
        adapted = adapt(model, theta, batch.xs[b], batch.ys[b], inner_lr, steps, mult, False, loss_fn)
        with torch.no_grad():
            logits = functional_call(model, adapted, (batch.xq[b],))
        accs[b] = (logits.argmax(-1) == batch.yq[b]).double().mean()
    return accs
