"""Alignment metric (Everett et al.): how correlated updates are with the vectors they multiply.

For a linear layer h = W z with fan-in n, write W_t = W_0 + Delta W and z_t = z_0 + Delta z on a
fixed probe batch. Then h_t - h_0 = Delta W z_0 + W_0 Delta z + Delta W Delta z, and for each term
A x we report

    log_n( |A x|_rms / (|A|_rms |x|_rms) ),

with |A|_rms the entrywise RMS. It is 1 when the n products in each coordinate add coherently
(Law of Large Numbers, "full alignment"; e.g. a rank-one update g z_0^T applied to z_0) and 1/2
when they are independent (Central Limit, "no alignment"). The three numbers are the alignment
exponents alpha (Delta W z_0), omega (W_0 Delta z) and u (Delta W Delta z) of
``infwidth.scaling.exponents.Alignment``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from infwidth.io import write_csv
from infwidth.scaling.roles import canonical_name

FIELDS = ("step", "layer", "fan_in", "alpha", "omega", "u")


def alignment_exponent(a: torch.Tensor, x: torch.Tensor) -> float:
    """log_{fan-in}( |x A^T|_rms / (|A|_rms |x|_rms) ) for A of shape (out, n) and x of shape (batch, n).

    Returns NaN when A or x is zero (no update yet) or n = 1.
    """
    n = a.shape[1]
    a64, x64 = a.detach().double(), x.detach().double()
    num = float((x64 @ a64.T).pow(2).mean().sqrt())
    den = float(a64.pow(2).mean().sqrt() * x64.pow(2).mean().sqrt())
    if n <= 1 or num == 0.0 or den == 0.0:
        return math.nan
    return math.log(num / den) / math.log(n)


class AlignmentTracker:
    """Record alpha, omega, u per linear layer against the initial weights and inputs.

    Inputs: ``model``; ``probe`` a fixed input batch (anything ``model(probe)`` accepts);
    ``layers`` optional canonical module names (default: every ``nn.Linear`` with fan-in > 1).
    Call ``log(step)`` during training; ``rows`` holds tidy dicts; ``write_csv(path)`` saves them.
    """

    def __init__(self, model: nn.Module, probe: Any, layers: Sequence[str] | None = None) -> None:
        self.model, self.probe = model, probe
        self.modules: dict[str, nn.Linear] = {}
        for name, mod in model.named_modules():
            cname = canonical_name(name)
            if isinstance(mod, nn.Linear) and mod.in_features > 1 and (layers is None or cname in layers):
                self.modules[cname] = mod
        self.w0 = {k: m.weight.detach().clone() for k, m in self.modules.items()}
        self.z0 = self._inputs()
        self.rows: list[dict[str, Any]] = []

    @torch.no_grad()
    def _inputs(self) -> dict[str, torch.Tensor]:
        seen: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(
            lambda _m, inp, _o, k=k: seen.__setitem__(k, inp[0].detach().reshape(-1, inp[0].shape[-1]).clone()))
            for k, m in self.modules.items()]
        try:
            was_training = self.model.training
            self.model.eval()
            self.model(self.probe)
            self.model.train(was_training)
        finally:
            for h in hooks:
                h.remove()
        return seen

    def log(self, step: int) -> list[dict[str, Any]]:
        """Measure the three exponents of every tracked layer now; append and return the rows."""
        z = self._inputs()
        new = []
        for k, m in self.modules.items():
            dw = m.weight.detach() - self.w0[k]
            dz = z[k] - self.z0[k]
            new.append({"step": step, "layer": k, "fan_in": m.in_features,
                        "alpha": alignment_exponent(dw, self.z0[k]),
                        "omega": alignment_exponent(self.w0[k], dz),
                        "u": alignment_exponent(dw, dz)})
        self.rows.extend(new)
        return new

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Atomically write all rows as CSV (columns ``FIELDS``)."""
        write_csv(path, self.rows, FIELDS)
