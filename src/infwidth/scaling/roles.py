"""Infer each parameter's role (embedding / hidden / readout / fixed) from which dims scale.

Like microsoft/mup's base shapes: compare every parameter's shape in the target model with
its shape in a base (small) model. The fan-out and fan-in dimensions of a parameter are
read from its module type (``nn.Embedding``: rows are the one-hot input, columns the output;
everything else follows PyTorch's (out, in, ...) convention; 1-D parameters have fan-in 1):

* fan-in and fan-out scale            -> ``hidden``
* only the fan-out scales             -> ``embedding`` (input layers, biases, norm gains)
* only the fan-in scales              -> ``readout``
* nothing scales                      -> ``fixed`` (width-independent)

Roles can be overridden by glob patterns on the parameter name. Names are *canonical*:
wrapper prefixes (DDP ``module.``, ``torch.compile``'s ``_orig_mod.``, FSDP's
``_fsdp_wrapped_module.``) and ``torch.nn.utils.parametrize`` paths are removed, so the
same side table serves a model however it is wrapped.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from infwidth.errors import InfwidthError

ROLE_NAMES: tuple[str, ...] = ("embedding", "hidden", "readout", "fixed")
_WRAPPER_SEGMENTS = ("module", "_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module")
_PARAMETRIZED = re.compile(r"parametrizations\.([^.]+)\.original\d*$")


def canonical_name(name: str) -> str:
    """Strip wrapper segments (DDP/compile/FSDP) and parametrize paths from a parameter name.

    ``module._orig_mod.fc.parametrizations.weight.original`` -> ``fc.weight``.
    """
    name = _PARAMETRIZED.sub(r"\1", name)
    parts = [p for p in name.split(".") if p not in _WRAPPER_SEGMENTS]
    return ".".join(parts)


@dataclass(frozen=True)
class ParamRole:
    """Role of one parameter and its width multipliers (target size / base size).

    width_mult: the n of the derivation for this parameter (fan-in multiplier for hidden
    and readout, fan-out multiplier for embedding, 1 for fixed); init_fan_in_mult: the
    fan-in multiplier of the module's weight, which PyTorch's default init divides by
    (used to undo it when rescaling the initialization).
    """

    name: str
    role: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    width_mult: float
    init_fan_in_mult: float


def _fan_dims(module: nn.Module, pname: str, ndim: int) -> tuple[int | None, int | None]:
    """(fan-out dim, fan-in dim) of a parameter, or None where the dimension does not exist."""
    if ndim == 0:
        return None, None
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and pname == "weight":
        return 1, None  # rows are indexed by the (fixed) vocabulary: a one-hot input of fan-in 1
    if ndim == 1:
        return 0, None
    return 0, 1


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Canonical parameter name -> shape, e.g. to save as explicit base shapes."""
    return {canonical_name(n): tuple(p.shape) for n, p in model.named_parameters()}


def infer_roles(model: nn.Module, base: nn.Module | Mapping[str, Sequence[int]],
                overrides: Mapping[str, str] | None = None) -> dict[str, ParamRole]:
    """Infer the role of every parameter of ``model`` against a base model or base shapes.

    Inputs: ``model`` at the target width; ``base`` a model of the same architecture at the
    base width, or a mapping canonical name -> base shape; ``overrides`` glob pattern -> role
    (later patterns win). Output: canonical name -> ``ParamRole``.
    Raises InfwidthError for a parameter missing from the base, a rank mismatch, a scaling
    dimension that is neither fan-in nor fan-out, or an unknown override role.
    """
    base_shapes = shapes(base) if isinstance(base, nn.Module) else {k: tuple(v) for k, v in base.items()}
    for pat, role in (overrides or {}).items():
        if role not in ROLE_NAMES:
            raise InfwidthError(f"override {pat!r} -> {role!r}: the role must be one of {', '.join(ROLE_NAMES)}.")
    out: dict[str, ParamRole] = {}
    for mname, module in model.named_modules():
        weight_in_mult = 1.0
        fan_in_sizes = {}
        for pname, p in module.named_parameters(recurse=False):
            name = canonical_name(f"{mname}.{pname}" if mname else pname)
            if name in out:
                continue  # shared (tied) parameter: the first module that holds it decides
            if name not in base_shapes:
                raise InfwidthError(f"parameter {name!r} is missing from the base model; give a base of the "
                                    "same architecture (only widths may differ).")
            shape, bshape = tuple(p.shape), tuple(base_shapes[name])
            if len(shape) != len(bshape):
                raise InfwidthError(f"parameter {name!r} has shape {shape} but {bshape} in the base; "
                                    "only the sizes of width dimensions may differ.")
            out_dim, in_dim = _fan_dims(module, pname, p.ndim)
            mult = [s / bs for s, bs in zip(shape, bshape)]
            scaling = {d for d, m in enumerate(mult) if m != 1.0}
            if scaling - {out_dim, in_dim}:
                raise InfwidthError(f"parameter {name!r}: dimension(s) {sorted(scaling - {out_dim, in_dim})} "
                                    "scale but are neither fan-in nor fan-out; override its role or fix the base.")
            out_s, in_s = out_dim in scaling, in_dim in scaling
            role = {(True, True): "hidden", (True, False): "embedding",
                    (False, True): "readout", (False, False): "fixed"}[(out_s, in_s)]
            for pat, r in (overrides or {}).items():
                if fnmatch.fnmatchcase(name, pat):
                    role = r
            if in_dim is not None:
                fan_in_sizes[pname] = mult[in_dim]
            if pname == "weight" and in_dim is not None and not isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
                weight_in_mult = mult[in_dim]
            wm = {"hidden": mult[in_dim] if in_dim is not None else 1.0,
                  "readout": mult[in_dim] if in_dim is not None else 1.0,
                  "embedding": mult[out_dim] if out_dim is not None else 1.0,
                  "fixed": 1.0}[role]
            out[name] = ParamRole(name, role, shape, bshape, float(wm),
                                  float(fan_in_sizes.get(pname, 1.0)))
        # 1-D parameters (biases) of a Linear/Conv were initialized with the weight's fan-in.
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)) and weight_in_mult != 1.0:
            for pname, p in module.named_parameters(recurse=False):
                name = canonical_name(f"{mname}.{pname}" if mname else pname)
                if p.ndim == 1 and name in out:
                    old = out[name]
                    out[name] = ParamRole(old.name, old.role, old.shape, old.base_shape, old.width_mult,
                                          weight_in_mult)
    return out


def role_summary(roles: Mapping[str, ParamRole]) -> dict[str, list[str]]:
    """Role -> list of parameter names (for printing and tests)."""
    res: dict[str, list[str]] = {r: [] for r in ROLE_NAMES}
    for name, r in roles.items():
        res[r.role].append(name)
    return res

