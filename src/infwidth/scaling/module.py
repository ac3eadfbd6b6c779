"""Width scaling for any ``torch.nn.Module``: init rescaling, multipliers, optimizer groups.

Three steps, none of which touches the model's code:

1. ``plan(model, base, ...)`` infers roles (``roles.infer_roles``), derives the exponents
   (``exponents.derive``) and returns a ``ScalingTable``: a side table keyed by canonical
   parameter name (never attributes on tensors), JSON-serializable (``to_dict``/``from_dict``).
2. ``apply(model, table)`` rescales the initialization in place and inserts the multipliers
   n^{-a} with ``torch.nn.utils.parametrize`` (state_dict keys gain
   ``parametrizations.<name>.original``; the table's canonical names ignore that).
3. ``param_groups(model, table, lr=..., eps=...)`` is a pure function returning parameter
   groups with per-layer ``lr`` (and ``eps``) for any ``torch.optim`` optimizer.

Conventions. For a parameter with width multiplier m = (its width) / (its base width):
multiplier m^{-a}; the stored tensor's std becomes sigma_0 m^{-b}, where sigma_0 is its std
at the base width, assuming the model's own initialization is PyTorch's default (std
proportional to fan_in^{-1/2} for Linear/Conv weights *and* their biases, width-independent
for embeddings and norms); lr = lr_0 m^{-c}; Adam eps = eps_0 m^{-e}. At m = 1 nothing changes,
so constants tuned on the base model transfer.

``gauge="absorbed"`` moves every multiplier into the initialization and learning rate with
the per-layer symmetry (a, b, c) -> (a + theta, b - theta, c - k theta), theta = -a (k = 2
for SGD, 1 for Adam, 0 for Adafactor; the Adam eps exponent moves by +theta): identical
training, no multiplier in the forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from infwidth.errors import InfwidthError
from infwidth.parametrization.rational import fmt
from infwidth.scaling.exponents import SYMMETRY_K, derive, parametrization_name
from infwidth.scaling.roles import ParamRole, canonical_name, infer_roles

GAUGES = ("multipliers", "absorbed")


@dataclass(frozen=True)
class ParamScaling:
    """Scaling of one parameter. Exponents are strings of Fractions ('1/2'); factors are floats.

    multiplier = m^{-a}; init_factor: by how much ``apply`` multiplies the stored tensor;
    lr_mult = m^{-c}; eps_mult = m^{-eps}.
    """

    name: str
    role: str
    width_mult: float
    a: str
    b: str
    c: str
    eps: str
    multiplier: float
    init_factor: float
    lr_mult: float
    eps_mult: float


@dataclass(frozen=True)
class ScalingTable:
    """The side table: canonical parameter name -> ``ParamScaling``, plus what produced it."""

    parametrization: str
    optimizer: str
    alignment: str
    gauge: str
    params: dict[str, ParamScaling]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (store it in checkpoints next to the state_dict)."""
        return {"parametrization": self.parametrization, "optimizer": self.optimizer,
                "alignment": self.alignment, "gauge": self.gauge,
                "params": {k: asdict(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScalingTable:
        """Inverse of ``to_dict``."""
        return cls(d["parametrization"], d["optimizer"], d["alignment"], d["gauge"],
                   {k: ParamScaling(**v) for k, v in d["params"].items()})

    def __getitem__(self, name: str) -> ParamScaling:
        key = canonical_name(name)
        if key not in self.params:
            raise InfwidthError(f"parameter {key!r} is not in the scaling table; build the table with "
                                "plan() on this model.")
        return self.params[key]


def _scaling(r: ParamRole, abce: Mapping[str, tuple[Fraction, Fraction, Fraction, Fraction]],
             optimizer: str, gauge: str) -> ParamScaling:
    a, b, c, e = abce[r.role] if r.role != "fixed" else (Fraction(0),) * 4
    if gauge == "absorbed":  # per-layer symmetry with theta = -a: no multiplier left
        theta = -a
        a, b, c, e = a + theta, b - theta, c - SYMMETRY_K[optimizer] * theta, e + theta
    m = r.width_mult
    # stored std: sigma_0 * init_fan_in_mult^{-1/2} (PyTorch's default init) -> sigma_0 * m^{-b}
    init = (m ** float(-b)) * (r.init_fan_in_mult ** 0.5)
    return ParamScaling(r.name, r.role, m, fmt(a), fmt(b), fmt(c), fmt(e), m ** float(-a), init,
                        m ** float(-c), m ** float(-e))


def plan(model: nn.Module, base: nn.Module | Mapping[str, Sequence[int]], parametrization: str = "mup",
         optimizer: str = "adam", alignment: str = "full", overrides: Mapping[str, str] | None = None,
         gauge: str = "multipliers") -> ScalingTable:
    """Build the side table for ``model`` against a base model (or base shapes).

    Inputs: target model, base model/shapes, parametrization (sp/ntp/mup/mfp or an alias), optimizer
    (sgd/adam/adafactor), alignment (full/none), role overrides (glob -> role), gauge.
    Output: a ``ScalingTable``. Pure: does not modify the model.
    """
    if gauge not in GAUGES:
        raise InfwidthError(f"unknown gauge {gauge!r}; choose 'multipliers' or 'absorbed'.")
    table = derive(parametrization, optimizer, alignment)
    abce = {k: (v.a, v.b, v.c, v.eps) for k, v in table.by_role().items()}
    roles = infer_roles(model, base, overrides)
    return ScalingTable(parametrization_name(parametrization), table.optimizer, table.alignment, gauge,
                        {n: _scaling(r, abce, table.optimizer, gauge) for n, r in roles.items()})


class Multiplier(nn.Module):
    """The parametrization W = m^{-a} w (a constant factor, stored as a plain float)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def _owners(model: nn.Module) -> Iterable[tuple[str, nn.Module, str]]:
    for mname, module in model.named_modules():
        for pname, _ in list(module.named_parameters(recurse=False)):
            yield canonical_name(f"{mname}.{pname}" if mname else pname), module, pname


def apply(model: nn.Module, table: ScalingTable, rescale_init: bool = True) -> nn.Module:
    """Rescale the initialization in place and insert the multipliers; returns ``model``.

    Call once, on a freshly initialized model (before loading a checkpoint of an already
    scaled model, call it with ``rescale_init=False`` to get the same module structure).
    """
    seen: set[str] = set()
    for name, module, pname in list(_owners(model)):
        if name in seen or name not in table.params:
            continue
        seen.add(name)
        s = table.params[name]
        if rescale_init and s.init_factor != 1.0:
            with torch.no_grad():
                getattr(module, pname).mul_(s.init_factor)
        if s.multiplier != 1.0 and not parametrize.is_parametrized(module, pname):
            parametrize.register_parametrization(module, pname, Multiplier(s.multiplier))
    return model


def multipliers(model: nn.Module) -> dict[str, float]:
    """Canonical name -> inserted multiplier (1.0 where none), read back from the module."""
    out = {canonical_name(n): 1.0 for n, _ in model.named_parameters()}
    for mname, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for pname, plist in module.parametrizations.items():
                f = 1.0
                for par in plist:
                    if isinstance(par, Multiplier):
                        f *= par.scale
                out[canonical_name(f"{mname}.{pname}" if mname else pname)] = f
    return out


def param_groups(model: nn.Module, table: ScalingTable, lr: float, eps: float | None = None,
                 weight_decay: float | None = None, **extra: Any) -> list[dict[str, Any]]:
    """Optimizer parameter groups with per-layer learning rates (and Adam eps).

    Inputs: model (possibly wrapped by DDP/FSDP/torch.compile or parametrized), its table,
    base ``lr`` (and ``eps``, ``weight_decay``, other optimizer options copied into every
    group). Output: a list of dicts ``{"params", "lr", ["eps"], "role", ...}`` for any
    ``torch.optim`` optimizer. Parameters with equal (lr_mult, eps_mult) share a group; "role" lists
    the roles in it ("embedding,readout"). Pure: the model is not modified.
    """
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    seen: set[int] = set()
    for n, p in model.named_parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        s = table[n]
        key = (s.lr_mult, s.eps_mult)  # fewer groups = fewer foreach launches in the optimizer
        if key not in groups:
            g: dict[str, Any] = {"params": [], "lr": lr * s.lr_mult, "role": s.role, **extra}
            if eps is not None:
                g["eps"] = eps * s.eps_mult
            if weight_decay is not None:
                g["weight_decay"] = weight_decay
            groups[key] = g
        elif s.role not in groups[key]["role"].split(","):
            groups[key]["role"] += f",{s.role}"
        groups[key]["params"].append(p)
    return list(groups.values())


def scale_model(model: nn.Module, base: nn.Module | Mapping[str, Sequence[int]], parametrization: str = "mup",
                optimizer: str = "adam", alignment: str = "full", overrides: Mapping[str, str] | None = None,
                gauge: str = "multipliers") -> ScalingTable:
    """``plan`` + ``apply`` in one call; returns the table (the model is modified in place)."""
    table = plan(model, base, parametrization, optimizer, alignment, overrides, gauge)
    apply(model, table)
    return table
