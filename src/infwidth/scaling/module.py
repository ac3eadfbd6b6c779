"""Width scaling for any ``torch.nn.Module``: apply a side table, and per-layer optimizer groups.

Three steps, none of which touches the model's code or its parameter names:

1. ``plan(model, base, ...)`` (``infwidth.scaling.table``) returns the ``ScalingTable``.
2. ``apply(model, table)`` rescales each stored tensor to the RMS the table derived from the base
   model's own tensor (``std_base * m^{-b}``; zero stays zero, constant tensors such as norm gains
   stay as they are, the draws' distribution shape is kept) and installs the forward wrappers
   (``hooks``): the readout's input multiplier and, if asked, muP's attention scale. The
   state_dict is unchanged (except in gauge ``multipliers``, which uses ``torch.nn.utils.parametrize``).
3. ``param_groups(model, table, lr=..., eps=..., weight_decay=...)`` is a pure function returning
   parameter groups with per-layer ``lr`` (and ``eps``, ``weight_decay``) for any ``torch.optim``
   optimizer.

Applied models are remembered in a side table (weak references, nothing on tensors) so that scaling
twice is an error; a copy (deepcopy, pickle) is recognized by its wrappers.
"""

from __future__ import annotations

import fnmatch
import math
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from infwidth.errors import InfwidthError
from infwidth.scaling import hooks
from infwidth.scaling.roles import Base, canonical_name, holder_modules, tensors
from infwidth.scaling.table import GAUGES, ModuleScaling, ParamScaling, ScalingTable, plan

__all__ = ["GAUGES", "ModuleScaling", "ParamScaling", "ScalingTable", "apply", "is_scaled", "multipliers",
           "param_groups", "plan", "scale_model", "table_of"]

_APPLIED: weakref.WeakKeyDictionary[nn.Module, ScalingTable] = weakref.WeakKeyDictionary()


class Multiplier(nn.Module):
    """The parametrization W = m^{-a} w of gauge ``multipliers`` (a constant factor, a plain float)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def table_of(model: nn.Module) -> ScalingTable | None:
    """The table ``apply`` used on this very model object, or None."""
    return _APPLIED.get(model)


def is_scaled(model: nn.Module) -> str | None:
    """Why ``model`` looks scaled already (a sentence), or None."""
    if model in _APPLIED:
        return "scale_model/apply was already called on this model"
    for name, module in holder_modules(model):
        if hooks.wrapper_of(module) is not None:
            return f"module {name!r} already carries an infwidth wrapper ({hooks.wrapper_of(module)!r})"
        plists: Any = getattr(module, "parametrizations", {}) if parametrize.is_parametrized(module) else {}
        if any(isinstance(p, Multiplier) for plist in plists.values() for p in plist):
            return f"module {name!r} already carries an infwidth multiplier (gauge 'multipliers')"
    return None


def _check_model(model: nn.Module, table: ScalingTable) -> dict[str, Any]:
    """Every tensor of the model is in the table with the same width sizes, and vice versa."""
    ts = tensors(model)
    for name, t in ts.items():
        if name not in table.params:
            raise InfwidthError(f"parameter {name!r} is not in the scaling table; plan the table on this model.")
        s = table.params[name]
        shape = tuple(t.param.shape)
        if len(shape) != len(s.shape) or any(shape[d] != s.shape[d] for d in s.scaling_dims):
            raise InfwidthError(f"parameter {name!r} has shape {shape} but the table was planned for {s.shape} "
                                f"(base {s.base_shape}): it comes from another width pair; plan it for this model.")
    missing = [k for k in table.params if k not in ts]
    if missing:
        raise InfwidthError(f"parameter {missing[0]!r} of the scaling table is not in the model; plan the table "
                            "on this model.")
    return {name: t.param for name, t in ts.items()}


def _rescale(name: str, p: torch.Tensor, target: float | None) -> None:
    """Scale a stored tensor so that its RMS becomes ``target`` (keeps the shape of its distribution)."""
    if target is None:
        raise InfwidthError(f"parameter {name!r} has no init target (the base was given as shapes); pass the "
                            "base model, or apply(..., rescale_init=False).")
    with torch.no_grad():
        flat = p.detach().reshape(-1)
        if flat.numel() == 0 or bool((flat == flat[0]).all()):
            return  # zero stays zero; constant tensors (norm gains) stay as they are
        own = math.sqrt(float(flat.double().pow(2).mean()))
        p.mul_(target / own)


def _install_modules(model: nn.Module, table: ScalingTable) -> None:
    mods = dict(holder_modules(model))
    for name, ms in table.modules.items():
        if not ms.active:
            continue
        if name not in mods:
            raise InfwidthError(f"module {name!r} of the scaling table is not in the model; plan the table on "
                                "this model.")
        module = mods[name]
        if ms.kind == "readout":
            hooks.install(module, hooks.InputMultiplier(module, float(ms.multiplier or 1.0)))
        elif ms.kind == "attention-hf":
            hf: Any = module
            hf.scaling = float(ms.original or 0.0) * float(ms.multiplier or 1.0)  # absolute: idempotent
        else:
            hooks.install(module, hooks.AttentionScale(module, int(ms.base_head_dim or 0)))


def _install_parametrizations(model: nn.Module, table: ScalingTable) -> None:
    for name, t in tensors(model).items():
        s = table.params[name]
        if s.via != "parametrize":
            continue
        _, _, module = t.holders[0]
        attr = name.rsplit(".", 1)[-1]
        if not parametrize.is_parametrized(module, attr):
            parametrize.register_parametrization(module, attr, Multiplier(s.multiplier))


def apply(model: nn.Module, table: ScalingTable, rescale_init: bool = True) -> nn.Module:
    """Rescale the initialization in place and install the multipliers; returns ``model``.

    Call it once, on a freshly initialized model. ``rescale_init=False`` only installs the
    wrappers (idempotent): use it on a model loaded from a checkpoint of a scaled model, or after a
    library replaced a module (e.g. ``resize_token_embeddings`` on an untied head).
    Raises InfwidthError if the model is scaled already (with ``rescale_init``), or if the table
    belongs to another model or another width pair.
    """
    if rescale_init:
        why = is_scaled(model)
        if why is not None:
            raise InfwidthError(f"this model is scaled already ({why}); scale a freshly built model, or use "
                                "apply(model, table, rescale_init=False) to restore the wrappers of a loaded one.")
    params = _check_model(model, table)
    if rescale_init:
        for name, p in params.items():
            _rescale(name, p, table.params[name].init_rms)
    _install_modules(model, table)
    _install_parametrizations(model, table)
    _APPLIED[model] = table
    return model


def scale_model(model: nn.Module, base: Base, parametrization: str = "mup", optimizer: str = "adam",
                alignment: str = "full", overrides: Mapping[str, str] | None = None, gauge: str = "mup",
                **options: Any) -> ScalingTable:
    """``plan`` + ``apply`` in one call; returns the table (the model is modified in place).

    ``options`` are ``plan``'s keywords (delta, attention, base_head_dim, output_mult, readout_zero_init).
    """
    why = is_scaled(model)
    if why is not None:
        raise InfwidthError(f"this model is scaled already ({why}); scale a freshly built model.")
    table = plan(model, base, parametrization, optimizer, alignment, overrides, gauge, **options)
    apply(model, table)
    return table


def multipliers(model: nn.Module) -> dict[str, float]:
    """Every parameter name (tied aliases included) -> the forward multiplier applied to it there.

    Read back from the model: readout input wrappers (for the module's ``weight``, not its bias) and
    ``Multiplier`` parametrizations; 1.0 elsewhere.
    """
    out: dict[str, float] = {}
    for t in tensors(model).values():
        for name, _, module in t.holders:
            f = 1.0
            w = hooks.wrapper_of(module)
            if isinstance(w, hooks.InputMultiplier) and name.endswith(".weight"):
                f *= w.scale
            attr = name.rsplit(".", 1)[-1]
            if parametrize.is_parametrized(module, attr):
                owner: Any = module
                plist = owner.parametrizations[attr]
                f *= math.prod(float(p.scale) for p in plist if isinstance(p, Multiplier))
            out[name] = f
    return out


def _check_wrappers(model: nn.Module, table: ScalingTable) -> None:
    mods = dict(holder_modules(model))
    for name, ms in table.modules.items():
        if ms.active and ms.kind != "attention-hf" and name in mods and hooks.wrapper_of(mods[name]) is None:
            raise InfwidthError(f"module {name!r} lost its infwidth wrapper (was it replaced, e.g. by "
                                "resize_token_embeddings?); call apply(model, table, rescale_init=False) again.")


def param_groups(model: nn.Module, table: ScalingTable, lr: float, eps: float | None = None,
                 weight_decay: float | None = None, no_weight_decay: Sequence[str] = (),
                 **extra: Any) -> list[dict[str, Any]]:
    """Optimizer parameter groups with per-layer learning rates (and Adam eps, weight decay).

    Inputs: model (possibly wrapped by DDP/FSDP/torch.compile), its table, base ``lr`` (and
    ``eps``, decoupled ``weight_decay`` scaled so that lr * wd stays the base's, glob patterns
    ``no_weight_decay`` of parameters that get none, other optimizer options copied into every
    group). Output: a list of dicts ``{"params", "lr", ["eps"], ["weight_decay"], "role", ...}`` for
    any ``torch.optim`` optimizer; parameters with equal factors share a group ("role" lists the
    roles in it). Pure: the model is not modified. Raises InfwidthError for a parameter missing from
    the table, or a wrapper the model lost.
    """
    groups: dict[tuple[float, float, float], dict[str, Any]] = {}
    seen: set[int] = set()
    for n, p in model.named_parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        s = table[n]
        decays = not any(fnmatch.fnmatchcase(canonical_name(n), pat) for pat in no_weight_decay)
        key = (s.lr_mult, s.eps_mult, s.wd_mult if decays else 0.0)  # few groups: few foreach launches
        if key not in groups:
            g: dict[str, Any] = {"params": [], "lr": lr * s.lr_mult, "role": s.role, **extra}
            if eps is not None:
                g["eps"] = eps * s.eps_mult
            if weight_decay is not None:
                g["weight_decay"] = weight_decay * key[2]
            groups[key] = g
        elif s.role not in groups[key]["role"].split(","):
            groups[key]["role"] += f",{s.role}"
        groups[key]["params"].append(p)
    _check_wrappers(model, table)
    return list(groups.values())
