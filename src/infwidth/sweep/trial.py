"""One sweep trial: train a model at some width and base learning rate, return its final loss.

Tasks are synthetic and seeded so that trials are cheap and self-contained (no data files):
* ``mlp``: regression onto a fixed random teacher (tanh MLP of width 64) from 16-dim Gaussians;
* ``transformer``: next-token prediction on sequences from a fixed random sparse Markov chain
  over 64 symbols (each symbol has 4 likely successors), which a small transformer can learn.

Parametrizations: ``sp``, ``ntk``, ``mup``, ``mf`` with the derived per-layer learning rates
(``infwidth.scaling``), or ``sp-global`` (PyTorch's defaults: one learning rate for every layer).
Optimizers: ``adam``, ``adam-atan2`` (same exponents as Adam: both are gradient-scale free) and ``sgd``.
A diverged run is returned as data, with the reason (:func:`divergence`): a non-finite loss
(``loss = nan``), or a final loss above ``DIVERGENCE_FACTOR`` times the initial loss (the loss is kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from infwidth.scaling.adam_atan2 import AdamAtan2
from infwidth.scaling.models import TinyTransformer, lm_loss, mlp
from infwidth.scaling.module import param_groups, scale_model

DIVERGENCE_FACTOR = 10.0  # a final loss this many times the initial one is divergence (as max_lr's default)


def divergence(initial: float, final: float, factor: float = DIVERGENCE_FACTOR) -> str | None:
    """Why a run diverged, or None: a non-finite loss, or ``final > factor * initial``."""
    if not math.isfinite(final) or not math.isfinite(initial):
        return "non-finite loss"
    if final > factor * initial:
        return f"final loss {final:.3g} > {factor:g} x initial loss {initial:.3g}"
    return None


def outcome(initial: float, final: float) -> dict[str, Any]:
    """A trial's result: ``loss`` (nan when non-finite), ``initial_loss``, ``diverged`` and its ``reason``."""
    reason = divergence(initial, final)
    return {"loss": final if math.isfinite(final) else float("nan"),
            "initial_loss": initial if math.isfinite(initial) else float("nan"),
            "diverged": reason is not None, "reason": reason}


def mlp_task(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    teacher = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 4))
    with torch.no_grad():
        for p in teacher.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))
        x = torch.randn(512, 16, generator=g)
        return x, teacher(x) * 2.0


def _markov_task(seed: int, n: int = 96, ctx: int = 33, vocab: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(2000 + seed)
    succ = torch.randint(0, vocab, (vocab, 4), generator=g)
    seqs = torch.empty(n, ctx, dtype=torch.long)
    seqs[:, 0] = torch.randint(0, vocab, (n,), generator=g)
    for t in range(1, ctx):
        pick = torch.randint(0, 4, (n,), generator=g)
        seqs[:, t] = succ[seqs[:, t - 1], pick]
    return seqs


def scaled_optimizer(model: nn.Module, base: nn.Module, parametrization: str, optimizer: str,
                     lr: float) -> torch.optim.Optimizer:
    """Scale ``model`` against ``base`` (unless ``sp-global``) and build its optimizer with per-layer groups.

    parametrization: sp, ntp, mup, mfp (or an alias such as ntk, mf) or sp-global; optimizer: adam, adam-atan2 or sgd.
    """
    if parametrization == "sp-global":
        groups: list[dict[str, Any]] = [{"params": list(model.parameters()), "lr": lr}]
    else:
        table = scale_model(model, base, parametrization, "sgd" if optimizer == "sgd" else "adam")
        groups = param_groups(model, table, lr=lr, eps=1e-8 if optimizer == "adam" else None)
    if optimizer == "adam":
        return torch.optim.Adam(groups)
    if optimizer == "adam-atan2":
        return AdamAtan2(groups)
    return torch.optim.SGD(groups)


def build(params: Mapping[str, Any]) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Model at ``width`` scaled against ``base_width`` and its optimizer with per-layer groups."""
    torch.manual_seed(int(params["seed"]))
    make = (lambda w: mlp(w, d_in=16, d_out=4, depth=2)) if params["model"] == "mlp" else \
        (lambda w: TinyTransformer(w, layers=2))
    model = make(int(params["width"]))
    opt = scaled_optimizer(model, make(int(params["base_width"])), str(params["parametrization"]),
                           str(params["optimizer"]), float(params["lr"]))
    return model, opt


def run_trial(params: Mapping[str, Any]) -> dict[str, Any]:
    """Train for ``steps`` full-batch steps; return :func:`outcome` (final training loss, initial loss,
    diverged, reason)."""
    torch.set_num_threads(1)
    model, opt = build(params)
    if params["model"] == "mlp":
        x, y = mlp_task(int(params["seed"]))

        def loss_fn() -> torch.Tensor:
            return ((model(x) - y) ** 2).mean()
    else:
        seqs = _markov_task(int(params["seed"]))

        def loss_fn() -> torch.Tensor:
            return lm_loss(model, seqs)
    loss = initial = float("nan")
    for step in range(int(params["steps"])):
        opt.zero_grad()
        out = loss_fn()
        loss = float(out.detach())
        if step == 0:
            initial = loss
        if not math.isfinite(loss):
            break
        out.backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_fn()) if math.isfinite(loss) else float("nan")
    return outcome(initial, final)
