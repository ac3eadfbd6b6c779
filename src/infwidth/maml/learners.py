"""One interface over every Omniglot MAML model: parse a model spec, meta-train, meta-test, checkpoint.

Model specs (TP4 Table 2 columns): ``limit`` (muP limit of the linear 1-hidden-layer network),
``width:N`` (finite width-N linear muP network, a random projection of the limit),
``relu-width:N`` (finite width-N relu muP MLP), ``gp-relu``, ``ntk-relu``, ``gp-linear``, ``ntk-linear``
(kernel limits: MAML adapts the readout only, in function space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from infwidth.data.omniglot import TaskBatch
from infwidth.errors import InfwidthError
from infwidth.kernels.dynamics import FunctionSpaceModel
from infwidth.maml import core, fast_linear, kernel
from infwidth.maml.models import LinearReadout, MupLinear1LP, MupMLP1

D_IN, N_WAYS = 28 * 28, 5
KERNEL_SPECS = ("gp-relu", "ntk-relu", "gp-linear", "ntk-linear")


@dataclass(frozen=True)
class Hyper:
    """Per-model hyperparameters: meta learning rate, init scales sigma_u/sigma_v (muP nets; for kernels
    sigma_w/sigma_v of the kernel), hidden-bias multiplier (muP nets) or bias std (kernels)."""

    meta_lr: float
    sigma_u: float
    sigma_v: float
    bias: float


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``'limit'`` -> ('limit', None); ``'width:N'`` -> ('width', N); kernels -> (name, None).

    Raises InfwidthError for anything else.
    """
    if spec == "limit" or spec in KERNEL_SPECS:
        return spec, None
    for prefix in ("width:", "relu-width:"):
        if spec.startswith(prefix) and spec[len(prefix):].isdigit() and int(spec[len(prefix):]) >= 1:
            return prefix[:-1], int(spec[len(prefix):])
    raise InfwidthError(f"unknown model {spec!r}; use limit, width:N, relu-width:N, {', '.join(KERNEL_SPECS)}.")


class Learner:
    """A meta-learnable model: :meth:`step` (one meta-iteration), :meth:`evaluate`, (de)serialization."""

    def __init__(self, spec: str, hp: Hyper, cfg: core.MAMLConfig, seed: int = 0) -> None:
        kind, width = parse_spec(spec)
        self.spec, self.hp, self.cfg = spec, hp, cfg
        self.module: torch.nn.Module | None = None
        self.function: FunctionSpaceModel | None = None
        if kind in ("limit", "width"):
            self.module = MupLinear1LP(D_IN, N_WAYS, width=width, sigma_u=hp.sigma_u, sigma_v=hp.sigma_v,
                                       bias_alpha=hp.bias, seed=seed)
        elif kind == "relu-width":
            assert width is not None
            self.module = MupMLP1(D_IN, N_WAYS, width, "relu", hp.sigma_u, hp.sigma_v, hp.bias, seed=seed)
        elif kind.endswith("linear"):
            # NNGP of the linear 1LP: sigma_v^2 (sigma_w^2 x.x' + sigma_b^2); the NTK is twice it
            gamma = hp.sigma_v**2 * hp.sigma_u**2 * (2.0 if kind.startswith("ntk") else 1.0)
            self.module = LinearReadout(D_IN, N_WAYS, gamma=gamma, beta=hp.bias / hp.sigma_u)
        else:
            if not cfg.first_order:
                raise InfwidthError(f"{spec} supports first-order MAML only; drop --second-order.")
            k = kernel.mlp_kernel(kind.split("-")[0], "relu", D_IN, hp.sigma_u, hp.bias, hp.sigma_v)
            self.function = FunctionSpaceModel(k, D_IN, N_WAYS)

    def step(self, batch: TaskBatch) -> dict[str, float]:
        """One meta-iteration on ``batch``; returns loss, accuracy (after 1 adaptation), grad_norm."""
        if self.function is not None:
            return kernel.meta_step_fs(self.function, batch, self.cfg, self.hp.meta_lr)
        assert self.module is not None
        if isinstance(self.module, MupLinear1LP) and self.cfg.first_order:
            return fast_linear.meta_step_linear(self.module, batch, self.cfg, self.hp.meta_lr)
        if isinstance(self.module, LinearReadout) and self.cfg.first_order:
            return fast_linear.meta_step_readout(self.module, batch, self.cfg, self.hp.meta_lr)
        return core.meta_step_vmap(self.module, batch, self.cfg, self.hp.meta_lr)

    def evaluate(self, batch: TaskBatch, steps: int) -> torch.Tensor:
        """Query accuracy per task (B,) after ``steps`` adaptation steps of size ``cfg.inner_lr``."""
        if self.function is not None:
            return kernel.evaluate_fs(self.function, batch, self.cfg.inner_lr, steps)
        assert self.module is not None
        if isinstance(self.module, MupLinear1LP):
            return fast_linear.evaluate_linear(self.module, batch, self.cfg.inner_lr, steps)
        if isinstance(self.module, LinearReadout):
            return fast_linear.evaluate_readout(self.module, batch, self.cfg.inner_lr, steps)
        return core.evaluate_vmap(self.module, batch, self.cfg.inner_lr, steps)

    def state_dict(self) -> dict[str, Any]:
        """Parameters (a copy) for checkpoints and best-model selection."""
        src = kernel.fs_state(self.function) if self.function is not None else self.module.state_dict()  # type: ignore[union-attr]
        return {k: v.detach().clone() for k, v in src.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if self.function is not None:
            kernel.load_fs_state(self.function, state)
        else:
            assert self.module is not None
            self.module.load_state_dict(state)
