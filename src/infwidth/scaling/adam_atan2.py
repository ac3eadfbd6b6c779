"""Adam-atan2 (Everett et al., Section "Adam-atan2"): Adam without epsilon.

Update, per entry, after the usual Adam moments and bias corrections:

    w <- w * (1 - lr * weight_decay)                          (decoupled, as in AdamW)
    w <- w - lr * a * atan2(m_hat, b * sqrt(v_hat))

atan2(x, y) = arctan(x / y) for y > 0, so for |m_hat| << b sqrt(v_hat) the step is
lr * (a / b) * m_hat / sqrt(v_hat), i.e. Adam with eps = 0 and learning rate lr * a / b; the
step is bounded by lr * a * pi / 2 and is exactly invariant to rescaling the gradient
(atan2(s x, s y) = atan2(x, y) for s > 0), which removes epsilon and its width scaling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


class AdamAtan2(Optimizer):
    """Adam-atan2 as a ``torch.optim.Optimizer``.

    Args: params (tensors or groups, e.g. from ``infwidth.scaling.param_groups``), lr, betas,
    weight_decay (decoupled, multiplied by lr as in AdamW), a, b (the atan2 constants;
    defaults a = 1.27, b = 1 as in Everett et al. and adam-atan2-pytorch).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, a: float = 1.27, b: float = 1.0) -> None:
        if lr < 0 or not all(0.0 <= x < 1.0 for x in betas) or weight_decay < 0 or a <= 0 or b <= 0:
            raise ValueError("AdamAtan2 needs lr >= 0, 0 <= betas < 1, weight_decay >= 0, a > 0 and b > 0.")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay, "a": a, "b": b})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One optimization step; returns the closure's loss if a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd, a, b = group["lr"], group["weight_decay"], group["a"], group["b"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = m / (1 - beta1 ** t)
                den = (v / (1 - beta2 ** t)).sqrt_().mul_(b)
                if wd != 0:
                    p.mul_(1 - lr * wd)
                p.add_(torch.atan2(m_hat, den), alpha=-lr * a)
        return loss
