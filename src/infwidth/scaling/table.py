"""The side table: for every tensor its init target, multiplier, learning rate, eps and weight decay.

``plan(model, base, ...)`` is pure: it infers roles (``roles.infer_roles``), derives the exponents
(``exponents.derive``), moves them to the chosen *gauge* and returns a ``ScalingTable`` keyed by
canonical tensor name (never attributes on tensors), JSON-serializable (``to_dict``/``from_dict``).

Conventions. For a tensor with width multiplier m = (its width) / (its base width) and exponents
(a, b, c, e) relative to the base: effective weight m^{-a} w; stored tensor's RMS std_base m^{-b},
where std_base is the RMS of the *base model's own* tensor (whatever init scheme produced it);
learning rate lr_0 m^{-c}; Adam eps eps_0 m^{-e}; decoupled weight decay wd_0 m^{c}, so that the
decay per step lr * wd is the base's. At m = 1 nothing changes.

Gauges. The per-layer symmetry (a, b, c, e) -> (a + theta, b - theta, c - k theta, e + theta)
(TP4 Eq. (5); k = 2 for SGD, 1 for Adam, 0 for Adafactor, ``exponents.SYMMETRY_K``) leaves
training unchanged, so every multiplier but one can be absorbed into init and learning rate:

* ``mup`` (default; microsoft/mup's convention): theta = -a for every tensor except readouts,
  whose multiplier becomes m^{-(a+b)} (1/m in muP) with a width-independent init, applied on the
  readout module's *input* by a forward wrapper (``hooks.InputMultiplier``). A readout held by a
  module that is not linear in its input is absorbed instead.
* ``absorbed``: theta = -a everywhere; no width multiplier in the forward pass.
* ``multipliers``: theta = 0, the (a, b, c) of the derivation, multipliers inserted with
  ``torch.nn.utils.parametrize`` (state_dict keys gain ``parametrizations.<name>.original``).

A tied tensor (embedding and readout) is one stored tensor with one init and one learning rate:
it gets the embedding's (b, c, e) in the gauge, and the readout side takes theta_r = b_r - b so
that its init agrees; the remaining multiplier m^{-(a_r + theta_r)} goes on the readout module's
input. Where the readout side then needs another learning rate or eps than the embedding side
(e.g. SP with derived per-layer rates), or the gauge allows no multiplier (``absorbed``), or
parametrize cannot express it (``multipliers``), ``plan`` raises ``InfwidthError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.parametrization.rational import fmt
from infwidth.scaling.attention import ATTENTION_SCALES, attention_sites
from infwidth.scaling.exponents import SYMMETRY_K, derive, parametrization_name
from infwidth.scaling.roles import LINEAR_KINDS, Base, ParamRole, canonical_name, infer_roles, tensors

GAUGES = ("mup", "absorbed", "multipliers")
_ZERO = (Fraction(0),) * 4
Abce = tuple[Fraction, Fraction, Fraction, Fraction]


@dataclass(frozen=True)
class ParamScaling:
    """Scaling of one tensor (at its first holder). Exponents are strings of Fractions ('1/2').

    multiplier = m^{-a}, the effective forward multiplier; via: how it is applied ("none",
    "input": a forward wrapper on ``module``'s input, "parametrize"); init_rms: the RMS the stored
    tensor gets (None when the base was given as shapes only); lr_mult = m^{-c}; eps_mult = m^{-e};
    wd_mult = m^{c} (lr * wd stays the base's).
    """

    name: str
    role: str
    width_mult: float
    a: str
    b: str
    c: str
    eps: str
    multiplier: float
    lr_mult: float
    eps_mult: float
    wd_mult: float
    init_rms: float | None
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    scaling_dims: tuple[int, ...]
    via: str
    module: str
    reason: str


@dataclass(frozen=True)
class ModuleScaling:
    """A forward wrapper on one module: a readout's input multiplier or an attention-logit scale.

    kind: "readout", "attention-hf" (a Hugging Face module's ``scaling`` attribute is set),
    "attention-mha" or "attention-sdpa" (forward run in a TorchFunctionMode); multiplier: the
    readout's input scale, or the attention-logit factor sqrt(d_base / d) (None when it is known only
    at run time); original: an HF module's own ``scaling``.
    """

    module: str
    kind: str
    multiplier: float | None
    parameter: str = ""
    head_dim: int | None = None
    base_head_dim: int | None = None
    original: float | None = None
    active: bool = True
    reason: str = ""


@dataclass(frozen=True)
class ScalingTable:
    """The side table: canonical tensor name -> ``ParamScaling``, module wrappers, and what produced it."""

    parametrization: str
    optimizer: str
    alignment: str
    gauge: str
    params: dict[str, ParamScaling]
    modules: dict[str, ModuleScaling] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    attention: str = "1/sqrt(d)"
    output_mult: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (store it in checkpoints or a Hugging Face config)."""
        return {"parametrization": self.parametrization, "optimizer": self.optimizer,
                "alignment": self.alignment, "gauge": self.gauge, "attention": self.attention,
                "output_mult": self.output_mult, "aliases": dict(self.aliases),
                "params": {k: asdict(v) for k, v in self.params.items()},
                "modules": {k: asdict(v) for k, v in self.modules.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScalingTable:
        """Inverse of ``to_dict`` (lists from JSON become tuples again)."""
        def param(v: Mapping[str, Any]) -> ParamScaling:
            return ParamScaling(**{**v, **{k: tuple(v[k]) for k in ("shape", "base_shape", "scaling_dims")}})
        try:
            return cls(d["parametrization"], d["optimizer"], d["alignment"], d["gauge"],
                       {k: param(v) for k, v in d["params"].items()},
                       {k: ModuleScaling(**v) for k, v in d.get("modules", {}).items()},
                       dict(d.get("aliases", {})), d.get("attention", "1/sqrt(d)"), float(d.get("output_mult", 1.0)))
        except (KeyError, TypeError) as exc:
            raise InfwidthError(f"not a scaling table written by this version of infwidth ({exc}); plan it again "
                                "with plan(model, base).") from None

    def tensor_name(self, name: str) -> str:
        """The table key of a parameter name (canonicalized; tied aliases map to their tensor)."""
        key = canonical_name(name)
        return self.aliases.get(key, key)

    def __getitem__(self, name: str) -> ParamScaling:
        key = self.tensor_name(name)
        if key not in self.params:
            raise InfwidthError(f"parameter {key!r} is not in the scaling table; build the table with "
                                "plan() on this model.")
        return self.params[key]


def _rms(t: torch.Tensor) -> float:
    return math.sqrt(float(t.detach().double().pow(2).mean())) if t.numel() else 0.0


def _shift(abce: Abce, theta: Fraction, k: int) -> Abce:
    a, b, c, e = abce
    return a + theta, b - theta, c - k * theta, e + theta


def _theta(role: str, abce: Abce, gauge: str, hookable: bool) -> Fraction:
    if role == "fixed" or gauge == "multipliers":
        return Fraction(0)
    if gauge == "mup" and role == "readout" and hookable:
        return abce[1]  # readout: width-independent init, the whole multiplier m^{-(a+b)} on the input
    return -abce[0]


def _tied_readout(r: ParamRole, holder_name: str, readout: Abce, tensor: Abce, optimizer: str, gauge: str,
                  param: str) -> Abce:
    """The readout side of a tied tensor: theta_r makes its init agree with the tensor's; checks the rest."""
    shifted = _shift(readout, readout[1] - tensor[1], SYMMETRY_K[optimizer])
    where = f"parameter {r.name!r} is tied to the readout {holder_name!r}"
    if gauge == "absorbed" and shifted[0] != 0:
        raise InfwidthError(f"{where}: gauge='absorbed' cannot express it (one tensor would need two "
                            "initializations); use the default gauge='mup'.")
    if gauge == "multipliers":
        raise InfwidthError(f"{where}: gauge='multipliers' (torch parametrize) breaks weight tying; use the "
                            "default gauge='mup'.")
    if shifted[2] != tensor[2] or (optimizer == "adam" and shifted[3] != tensor[3]):
        what = "learning-rate" if shifted[2] != tensor[2] else "Adam-eps"
        i = 2 if what == "learning-rate" else 3
        raise InfwidthError(f"{where}, but {param} with {optimizer} needs {what} exponents {fmt(tensor[i])} "
                            f"(embedding side) and {fmt(shifted[i])} (readout side) for the one tensor; untie "
                            "the weights or use muP/MF.")
    return shifted


def _param(r: ParamRole, abce: Mapping[str, Abce], optimizer: str, gauge: str, base_rms: float | None,
           zero: bool) -> ParamScaling:
    primary = r.holders[0] if r.holders else None
    hookable = primary is not None and primary.kind in LINEAR_KINDS
    raw = abce[r.role] if r.role != "fixed" else _ZERO
    theta = _theta(r.role, raw, gauge, hookable)
    a, b, c, e = _shift(raw, theta, SYMMETRY_K[optimizer])
    m = r.width_mult
    via = "none" if a == 0 else "input" if gauge == "mup" else "parametrize"
    reason = r.reason
    if gauge == "mup" and r.role == "readout" and not hookable:
        reason += f"; its module is {primary.kind if primary else '?'}, not linear in its input: multiplier absorbed"
    init = None if base_rms is None else 0.0 if zero else base_rms * m ** float(-b)
    return ParamScaling(r.name, r.role, m, fmt(a), fmt(b), fmt(c), fmt(e), m ** float(-a), m ** float(-c),
                        m ** float(-e), m ** float(c), init, r.shape, r.base_shape, r.scaling_dims, via,
                        primary.module if primary else "", reason)


def _readout_modules(r: ParamRole, p: ParamScaling, abce: Mapping[str, Abce], optimizer: str, gauge: str,
                     param: str, output_mult: float) -> list[ModuleScaling]:
    """Forward wrappers carrying the readout multiplier (and output_mult) of tensor ``r``."""
    out = []
    tensor = tuple(Fraction(x) for x in (p.a, p.b, p.c, p.eps))
    if r.role == "readout" and (p.via == "input" or output_mult != 1.0):
        h = r.holders[0]
        scale = output_mult * (p.multiplier if p.via == "input" else 1.0)
        out.append(ModuleScaling(h.module, "readout", scale, h.name,
                                 reason=f"readout multiplier m^-{p.a} x output_mult {output_mult:g} on the input"))
    for h in r.tied_readouts():
        a_r = _tied_readout(r, h.name, abce["readout"], tensor, optimizer, gauge, param)[0]  # type: ignore[arg-type]
        out.append(ModuleScaling(h.module, "readout", output_mult * h.width_mult ** float(-a_r), h.name,
                                 reason=f"tied readout: multiplier m^-{fmt(a_r)} x output_mult {output_mult:g} "
                                        f"on the input; init and LR of {r.name}"))
    for ms in out:
        kind = next(h.kind for h in r.holders if h.module == ms.module)
        if kind not in LINEAR_KINDS:
            raise InfwidthError(f"parameter {ms.parameter!r} is a readout in a {kind} module, which is not linear "
                                "in its input, so its multiplier cannot be applied there; override its role or use "
                                "gauge='absorbed' for an untied readout.")
    return out


def _check_options(gauge: str, attention: str, output_mult: float) -> None:
    if gauge not in GAUGES:
        raise InfwidthError(f"unknown gauge {gauge!r}; choose one of: {', '.join(GAUGES)}.")
    if attention not in ATTENTION_SCALES:
        raise InfwidthError(f"unknown attention scale {attention!r}; choose one of: {', '.join(ATTENTION_SCALES)}.")
    if not (math.isfinite(output_mult) and output_mult > 0):
        raise InfwidthError(f"output_mult must be a positive finite number, got {output_mult!r}.")


def plan(model: nn.Module, base: Base, parametrization: str = "mup", optimizer: str = "adam",
         alignment: str = "full", overrides: Mapping[str, str] | None = None, gauge: str = "mup", *,
         delta: Base | None = None, attention: str = "1/sqrt(d)", base_head_dim: int | None = None,
         output_mult: float = 1.0, readout_zero_init: bool = False) -> ScalingTable:
    """Build the side table for ``model`` against a base model (or base shapes). Pure.

    Inputs: target model; base model of the same code at the base width (or canonical name ->
    shape; then no init targets); parametrization sp/ntp/mup/mfp or an alias; optimizer sgd/adam/adafactor;
    alignment full/none; role overrides (glob -> role); gauge mup/absorbed/multipliers; ``delta``
    a third width revealing width dims; ``attention`` "1/sqrt(d)" (keep) or "1/d" (muP, TP5;
    ``base_head_dim`` needed for modules calling F.scaled_dot_product_attention themselves);
    ``output_mult`` mup's output multiplier on the readout; ``readout_zero_init`` zero readouts.
    Output: a ``ScalingTable``.
    """
    if not isinstance(model, nn.Module) or not isinstance(base, (nn.Module, Mapping)):
        got = type(model if not isinstance(model, nn.Module) else base).__name__
        raise InfwidthError(f"plan(model, base) needs the model and its base (an nn.Module built at the base width, "
                            f"or a mapping of parameter names to base shapes), got {got}; e.g. "
                            "plan(make(width=1024), make(width=64)).")
    _check_options(gauge, attention, output_mult)
    name = parametrization_name(parametrization)
    derived = derive(name, optimizer, alignment)
    abce: dict[str, Abce] = {k: (v.a, v.b, v.c, v.eps) for k, v in derived.by_role().items()}
    roles = infer_roles(model, base, overrides, delta)
    base_rms = {k: _rms(t.param) for k, t in tensors(base).items()} if isinstance(base, nn.Module) else {}
    readout_mods = {r.holders[0].module for r in roles.values() if r.role == "readout"}
    params: dict[str, ParamScaling] = {}
    modules: dict[str, ModuleScaling] = {}
    aliases: dict[str, str] = {}
    for key, r in roles.items():
        if readout_zero_init and r.tied_readouts():
            raise InfwidthError(f"parameter {key!r} is tied to a readout; readout_zero_init would zero the "
                                "embedding too: untie the weights or leave readout_zero_init off.")
        zero = readout_zero_init and (r.role == "readout" or (r.role == "fixed" and r.holders[0].module in
                                                              readout_mods))
        p = _param(r, abce, derived.optimizer, gauge, base_rms.get(key), zero)
        params[key] = p
        for ms in _readout_modules(r, p, abce, derived.optimizer, gauge, name, output_mult):
            modules[ms.module] = ms
        aliases.update({h.name: key for h in r.holders[1:]})
    if output_mult != 1.0 and not any(ms.kind == "readout" for ms in modules.values()):
        raise InfwidthError("output_mult needs a readout (a tensor whose fan-in alone scales), and this model "
                            "has none; check explain(model, base).")
    for site in attention_sites(model, base, attention, base_head_dim):
        modules[site["module"]] = ModuleScaling(**site)
    return ScalingTable(name, derived.optimizer, derived.alignment, gauge, params, modules, aliases, attention,
                        float(output_mult))

