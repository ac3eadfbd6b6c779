"""The role of every parameter tensor of a model (embedding / hidden / readout / fixed), from a base model.

Like microsoft/mup's base shapes: compare every tensor's shape in the target model with its shape
in a base model of the same code at another width (and, like mup's ``delta``, optionally a third
model, when the base alone does not reveal which dimensions are widths, e.g. at equal widths). The
dimensions whose size differs are the *scaling dims*. Which of them is the fan-out and which the
fan-in is read from the module that holds the tensor:

=====================  =====================  ===========  ==========
module                 tensor                 fan-out dim  fan-in dim
=====================  =====================  ===========  ==========
nn.Linear, nn.ConvNd   weight (out, in, ...)  0            1
nn.ConvTransposeNd     weight (in, out, ...)  1            0
HF ``Conv1D``          weight (in, out)       1            0
nn.Embedding(Bag)      weight (vocab, dim)    1            none (one-hot input)
nn.MultiheadAttention  in/q/k/v_proj_weight   0            1
any module             1-D tensor             0            none
=====================  =====================  ===========  ==========

* fan-in and fan-out scale -> ``hidden``; only the fan-out -> ``embedding`` (input layers, biases,
  norm gains); only the fan-in -> ``readout``; nothing -> ``fixed``.
* A tensor of another module (a raw ``nn.Parameter`` such as a ViT's ``cls_token`` (1, 1, D) or
  ``pos_embed`` (1, N, D), or a positional table (N, D)) with one scaling dim is vector-like: an
  ``embedding`` (width-independent init, as mup treats vector-like tensors); with two or more it is
  ``hidden`` with the last scaling dim as fan-in (mup's ``InfShape.main``).
* Overrides (glob pattern on the canonical name -> role) are applied before any shape check.
* A tensor held by several modules (tied weights: GPT-2's ``lm_head.weight`` is
  ``transformer.wte.weight``) gets the role of its first non-readout holder; each readout holder
  is recorded (``ParamRole.holders``) so that it can carry the readout multiplier.

Names are canonical: wrapper prefixes (DDP ``module.`` and ``torch.compile``'s ``_orig_mod.`` at
the front, FSDP's ``_fsdp_wrapped_module.`` and checkpoint wrappers anywhere) and
``torch.nn.utils.parametrize`` paths are removed, so one side table serves a model however it is
wrapped; two tensors whose names collide after stripping are an error.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from infwidth.errors import InfwidthError

ROLE_NAMES: tuple[str, ...] = ("embedding", "hidden", "readout", "fixed")
_LEADING_WRAPPERS = ("module", "_orig_mod")
_ANYWHERE_WRAPPERS = ("_fsdp_wrapped_module", "_checkpoint_wrapped_module")
_PARAMETRIZED = re.compile(r"parametrizations\.([^.]+)\.original\d*$")
#: module kinds that are linear in their (first) input: a readout multiplier on the input is exact
LINEAR_KINDS = ("linear", "conv", "conv-transpose", "conv1d")

Base = Union[nn.Module, Mapping[str, Sequence[int]]]  # noqa: UP007 (a runtime alias, Python 3.10)


def canonical_name(name: str) -> str:
    """Strip wrapper segments (DDP/compile at the front, FSDP/checkpoint anywhere) and parametrize paths.

    ``module._orig_mod.fc.parametrizations.weight.original`` -> ``fc.weight``.
    """
    name = _PARAMETRIZED.sub(r"\1", name)
    parts = [p for p in name.split(".") if p and p not in _ANYWHERE_WRAPPERS]
    while parts and parts[0] in _LEADING_WRAPPERS:
        parts.pop(0)
    return ".".join(parts)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass(frozen=True)
class Holder:
    """One (module, attribute) that holds a tensor: its canonical name, module kind and role there."""

    name: str
    module: str
    kind: str
    role: str
    width_mult: float
    reason: str


@dataclass(frozen=True)
class ParamRole:
    """Role of one tensor and its width multiplier (target size / base size along its width dim).

    width_mult: the fan-in multiplier for hidden and readout tensors, the fan-out multiplier for
    embeddings, 1 for fixed ones. scaling_dims: the dims whose size differs from the base (or delta).
    holders: every (module, attribute) holding the tensor, the first being the one that decided
    the role; more than one for tied weights.
    """

    name: str
    role: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    width_mult: float
    scaling_dims: tuple[int, ...]
    reason: str
    holders: tuple[Holder, ...] = ()

    def tied_readouts(self) -> tuple[Holder, ...]:
        """Holders other than the first whose role is readout (the readout side of tied weights)."""
        return tuple(h for h in self.holders[1:] if h.role == "readout")


@dataclass
class _Tensor:
    param: torch.Tensor
    holders: list[tuple[str, str, nn.Module]]  # (canonical name, canonical module name, module)


def module_kind(module: nn.Module) -> str:
    """The kind of module a tensor lives in (decides its fan-in/fan-out dims)."""
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "conv-transpose"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf") and hasattr(module, "nx"):
        return "conv1d"  # Hugging Face GPT-2's Conv1D: weight stored (in, out)
    if isinstance(module, nn.MultiheadAttention):
        return "mha"
    return "other"


def fan_dims(kind: str, attr: str, ndim: int) -> tuple[int | None, int | None] | None:
    """(fan-out dim, fan-in dim) of a tensor, or None where the layout is not known (generic rule)."""
    if ndim == 0:
        return (None, None)
    if ndim == 1:
        return (0, None)
    if kind == "embedding" and attr == "weight":
        return (1, None)  # rows are indexed by the (fixed) vocabulary: a one-hot input of fan-in 1
    if kind in ("linear", "conv") and attr == "weight":
        return (0, 1)
    if kind in ("conv-transpose", "conv1d") and attr == "weight":
        return (1, 0)
    if kind == "mha" and attr in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
        return (0, 1)
    return None


def tensors(model: nn.Module) -> dict[str, _Tensor]:
    """Canonical tensor name -> the tensor and every (name, module) holding it, in model order.

    Raises InfwidthError when two different tensors get the same canonical name.
    """
    out: dict[str, _Tensor] = {}
    by_id: dict[int, str] = {}
    seen: dict[str, tuple[int, str]] = {}  # every holder name -> (tensor id, raw name)
    for mname, module in model.named_modules(remove_duplicate=False):
        for attr, p in module._parameters.items():
            if p is None:
                continue
            raw = _join(mname, attr)
            name = canonical_name(raw)
            if name in seen:
                if seen[name][0] == id(p):
                    continue  # the same holder reached through a shared module
                raise InfwidthError(f"parameters {seen[name][1]!r} and {raw!r} both become {name!r} once wrapper "
                                    "prefixes (module., _orig_mod., _fsdp_wrapped_module.) are stripped; rename "
                                    "one of the submodules.")
            seen[name] = (id(p), raw)
            owner_name, owner = mname, module
            if ".parametrizations." in f".{mname}":  # torch.nn.utils.parametrize: the owner is two levels up
                owner_name = mname.rsplit("parametrizations.", 1)[0].rstrip(".")
                owner = model.get_submodule(owner_name)
            holder = (name, canonical_name(owner_name), owner)
            if id(p) in by_id:
                out[by_id[id(p)]].holders.append(holder)
            else:
                by_id[id(p)] = name
                out[name] = _Tensor(p, [holder])
    return out


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Canonical tensor name -> shape, e.g. to save as explicit base shapes."""
    return {name: tuple(t.param.shape) for name, t in tensors(model).items()}


def _base_shapes(base: Base, what: str) -> tuple[dict[str, tuple[int, ...]], dict[str, _Tensor] | None]:
    if isinstance(base, nn.Module):
        ts = tensors(base)
        return {k: tuple(t.param.shape) for k, t in ts.items()}, ts
    if not isinstance(base, Mapping):
        raise InfwidthError(f"the {what} must be a model of the same architecture or a mapping name -> shape, "
                            f"got {type(base).__name__}.")
    return {canonical_name(k): tuple(int(s) for s in v) for k, v in base.items()}, None


def _aliases(ts: Mapping[str, _Tensor] | None) -> dict[str, str]:
    return {h[0]: name for name, t in (ts or {}).items() for h in t.holders[1:]}


def _check_same_architecture(model_t: dict[str, _Tensor], base_shapes: Mapping[str, tuple[int, ...]],
                             base_t: dict[str, _Tensor] | None, what: str) -> None:
    mine, theirs = _aliases(model_t), _aliases(base_t)
    for name, t in model_t.items():
        if name not in base_shapes:
            if name in theirs:
                raise InfwidthError(f"parameter {name!r} is a tensor of its own in the model but tied to "
                                    f"{theirs[name]!r} in the {what}; give a base with the same weight tying.")
            raise InfwidthError(f"parameter {name!r} is missing from the {what}; give a {what} of the same "
                                "architecture (only widths may differ).")
        if len(base_shapes[name]) != t.param.ndim:
            raise InfwidthError(f"parameter {name!r} has shape {tuple(t.param.shape)} but {base_shapes[name]} in "
                                f"the {what}; only the sizes of width dimensions may differ.")
    extra = [k for k in base_shapes if k not in model_t]
    if extra and extra[0] in mine:
        raise InfwidthError(f"parameter {extra[0]!r} is tied to {mine[extra[0]]!r} in the model but a tensor of its "
                            f"own in the {what}; give a base with the same weight tying.")
    if extra:
        raise InfwidthError(f"parameter {extra[0]!r} of the {what} is not in the model; give a {what} of the same "
                            "architecture (only widths may differ).")
    if base_t is None:
        return
    for name, t in model_t.items():
        here = [(h[0], type(h[2]).__name__) for h in t.holders]
        there = [(h[0], type(h[2]).__name__) for h in base_t[name].holders]
        if here != there:
            raise InfwidthError(f"parameter {name!r} is held by {here} in the model but by {there} in the {what} "
                                "(different module types or weight tying); give a base of the same architecture.")


def _override(name: str, overrides: Mapping[str, str]) -> str | None:
    role = None
    for pat, r in overrides.items():  # later patterns win
        if fnmatch.fnmatchcase(name, pat):
            role = r
    return role


def _override_mult(name: str, role: str, dims: tuple[int | None, int | None] | None, scaling: set[int],
                   mult: Sequence[float]) -> float:
    if role == "fixed" or not scaling:
        return 1.0
    want = None if dims is None else (dims[0] if role == "embedding" else dims[1])
    if want is not None and want in scaling:
        return mult[want]
    values = {mult[d] for d in scaling}
    if len(values) == 1:
        return values.pop()
    raise InfwidthError(f"parameter {name!r}: the override gives it the role {role!r}, but its scaling dims "
                        f"{sorted(scaling)} have different width multipliers {sorted(values)}; give a base "
                        "where only one of them differs.")


def _holder_role(name: str, mod_name: str, module: nn.Module, scaling: set[int], mult: Sequence[float],
                 overrides: Mapping[str, str]) -> Holder:
    kind = module_kind(module)
    attr = name.rsplit(".", 1)[-1]
    dims = fan_dims(kind, attr, len(mult))
    forced = _override(name, overrides)
    if forced is not None:
        return Holder(name, mod_name, kind, forced, float(_override_mult(name, forced, dims, scaling, mult)),
                      f"override -> {forced}")
    if not scaling:
        return Holder(name, mod_name, kind, "fixed", 1.0, "no dimension differs from the base -> fixed")
    if dims is None:  # raw parameter or unknown layout: the generic rule
        if len(scaling) == 1:
            d = next(iter(scaling))
            return Holder(name, mod_name, kind, "embedding", float(mult[d]),
                          f"{kind} tensor with one width dim ({d}): vector-like -> embedding "
                          "(override 'readout' if it is multiplied by the features)")
        d = max(scaling)
        return Holder(name, mod_name, kind, "hidden", float(mult[d]),
                      f"{kind} tensor with width dims {sorted(scaling)} -> hidden, fan-in = dim {d}")
    out_d, in_d = dims
    stray = scaling - {out_d, in_d}
    if stray:
        raise InfwidthError(f"parameter {name!r}: dimension(s) {sorted(stray)} scale but are neither fan-in nor "
                            "fan-out; override its role (overrides={...}) or fix the base.")
    out_s, in_s = out_d in scaling, in_d in scaling
    role = {(True, True): "hidden", (True, False): "embedding", (False, True): "readout"}[(out_s, in_s)]
    wm = mult[in_d] if role != "embedding" and in_d is not None else mult[out_d] if out_d is not None else 1.0
    layout = f"{kind} {attr} (fan-out dim {out_d}, " + ("no fan-in)" if in_d is None else f"fan-in dim {in_d})")
    what = {"hidden": "fan-in and fan-out scale", "embedding": "only the fan-out scales",
            "readout": "only the fan-in scales"}[role]
    return Holder(name, mod_name, kind, role, float(wm), f"{layout}: {what} -> {role}")


def _tensor_role(name: str, t: _Tensor, bshape: tuple[int, ...], dshape: tuple[int, ...] | None,
                 overrides: Mapping[str, str]) -> ParamRole:
    shape = tuple(t.param.shape)
    scaling = {d for d in range(len(shape)) if shape[d] != bshape[d] or (dshape is not None and dshape[d] != bshape[d])}
    mult = [s / bs if bs else float("nan") for s, bs in zip(shape, bshape)]
    holders = tuple(_holder_role(hname, mname, module, scaling, mult, overrides) for hname, mname, module in t.holders)
    primary = next((h for h in holders if h.role != "readout"), holders[0])
    ordered = (primary,) + tuple(h for h in holders if h is not primary)
    for h in ordered[1:]:
        if h.role not in (primary.role, "readout"):
            raise InfwidthError(f"parameter {name!r} is tied between {primary.name!r} ({primary.role}) and "
                                f"{h.name!r} ({h.role}); only embedding/readout tying is supported: override "
                                "one of the names.")
        if h.role == "readout" and primary.role != "embedding":
            raise InfwidthError(f"parameter {name!r} is a readout in {h.name!r} and {primary.role} in "
                                f"{primary.name!r}; a tied readout must be an embedding elsewhere.")
    reason = primary.reason
    if len(ordered) > 1:
        reason += "; tied with " + ", ".join(f"{h.name} ({h.role})" for h in ordered[1:])
    return ParamRole(name, primary.role, shape, bshape, primary.width_mult, tuple(sorted(scaling)), reason, ordered)


def infer_roles(model: nn.Module, base: Base, overrides: Mapping[str, str] | None = None,
                delta: Base | None = None) -> dict[str, ParamRole]:
    """Infer the role of every tensor of ``model`` against a base model (or base shapes).

    Inputs: ``model`` at the target width; ``base`` the same architecture at the base width, or a
    mapping canonical name -> base shape; ``overrides`` glob pattern -> role (later patterns win),
    matched against every name a tensor has (tied tensors have several); ``delta`` optional third
    model/shapes: dims that differ between base and delta are width dims too.
    Output: canonical tensor name -> ``ParamRole``, in model order.
    Raises InfwidthError for a base of another architecture, an unknown role, an override that
    matches no parameter, a scaling dim that is neither fan-in nor fan-out, or a name collision.
    """
    overrides = dict(overrides or {})
    for pat, role in overrides.items():
        if role not in ROLE_NAMES:
            raise InfwidthError(f"override {pat!r} -> {role!r}: the role must be one of {', '.join(ROLE_NAMES)}.")
    model_t = tensors(model)
    base_shapes, base_t = _base_shapes(base, "base model")
    _check_same_architecture(model_t, base_shapes, base_t, "base model")
    delta_shapes = None
    if delta is not None:
        delta_shapes, delta_t = _base_shapes(delta, "delta model")
        _check_same_architecture(model_t, delta_shapes, delta_t, "delta model")
    names = [h[0] for t in model_t.values() for h in t.holders]
    for pat in overrides:
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise InfwidthError(f"override {pat!r} matches no parameter; names look like {names[0]!r} "
                                "(see explain(model, base) for all of them).")
    return {name: _tensor_role(name, t, base_shapes[name], None if delta_shapes is None else delta_shapes[name],
                               overrides) for name, t in model_t.items()}


def holder_modules(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(canonical module name, module) for every module of ``model`` (first occurrence of a name wins)."""
    seen: set[str] = set()
    for mname, module in model.named_modules():
        cname = canonical_name(mname)
        if cname not in seen:
            seen.add(cname)
            yield cname, module


def role_summary(roles: Mapping[str, ParamRole]) -> dict[str, list[str]]:
    """Role -> list of tensor names (for printing and tests)."""
    res: dict[str, list[str]] = {r: [] for r in ROLE_NAMES}
    for name, r in roles.items():
        res[r.role].append(name)
    return res
