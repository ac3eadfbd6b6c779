"""Hugging Face convenience: build the base model from ``model.config``, scale in one call, restore after loading.

``scale_hf(model, base_width)`` reads the width-like fields of ``model.config`` (hidden size,
intermediate size, head count or head size), builds the base model of the same class at
``base_width`` (its own init, seeded, without touching the caller's RNG), scales ``model`` against
it and stores the table in ``model.config.infwidth_scaling``, so that ``save_pretrained`` writes it
into ``config.json``. After ``from_pretrained``, ``restore_scaling(model)`` installs the wrappers
again (the weights are loaded as saved: no init rescaling). transformers is imported only by the
caller: this module works on any object with a ``config`` that has ``to_dict()``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.scaling.module import apply, scale_model
from infwidth.scaling.table import ScalingTable

CONFIG_KEY = "infwidth_scaling"
HIDDEN_FIELDS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim")
INTERMEDIATE_FIELDS = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "encoder_ffn_dim", "decoder_ffn_dim")
HEAD_FIELDS = ("num_attention_heads", "n_head", "encoder_attention_heads", "decoder_attention_heads")
KV_HEAD_FIELDS = ("num_key_value_heads",)
HEAD_DIM_FIELDS = ("head_dim",)
FIXED = ("head_dim", "heads")


def _present(d: dict[str, Any], fields: Sequence[str]) -> list[str]:
    return [f for f in fields if isinstance(d.get(f), int) and not isinstance(d.get(f), bool)]


def _scaled(d: dict[str, Any], key: str, ratio: float) -> int:
    value = d[key] * ratio
    if value < 1 or abs(value - round(value)) > 1e-9:
        raise InfwidthError(f"config field {key!r} = {d[key]} does not scale to an integer at this base width "
                            f"({d[key]} x {ratio:g} = {value:g}); choose a base width that divides it.")
    return round(value)


def width_of(config: Any) -> int:
    """The hidden size of a Hugging Face config (the first of ``HIDDEN_FIELDS`` it has)."""
    d = config.to_dict()
    found = _present(d, HIDDEN_FIELDS)
    if not found:
        raise InfwidthError(f"the config has none of the hidden-size fields {', '.join(HIDDEN_FIELDS)}; build the "
                            "base model yourself and call scale_model(model, base).")
    return int(d[found[0]])


def base_config(config: Any, base_width: int, fixed: str = "head_dim") -> Any:
    """A copy of ``config`` at hidden size ``base_width``: width-like fields scaled, the others kept.

    fixed="head_dim" (default; GPT-2, Llama and BERT families keep the head size as they grow)
    scales the head counts; fixed="heads" keeps the head counts and scales ``head_dim`` (then the
    head size grows with width and muP wants attention="1/d").
    """
    if fixed not in FIXED:
        raise InfwidthError(f"fixed must be 'head_dim' or 'heads', got {fixed!r}.")
    if not isinstance(base_width, int) or base_width < 1:
        raise InfwidthError(f"the base width must be a positive integer, got {base_width!r}.")
    d = config.to_dict()
    width = width_of(config)
    ratio = base_width / width
    new = copy.deepcopy(config)
    changes = {f: _scaled(d, f, ratio) for f in _present(d, HIDDEN_FIELDS + INTERMEDIATE_FIELDS)}
    heads = HEAD_FIELDS + KV_HEAD_FIELDS if fixed == "head_dim" else HEAD_DIM_FIELDS
    changes.update({f: _scaled(d, f, ratio) for f in _present(d, heads)})
    for key, value in changes.items():
        setattr(new, key, value)
    if hasattr(new, CONFIG_KEY):
        delattr(new, CONFIG_KEY)
    return new


def base_model(model: nn.Module, base_width: int, fixed: str = "head_dim", seed: int = 0) -> nn.Module:
    """The same Hugging Face model class built from ``base_config`` (its own init, RNG seeded and restored)."""
    cfg = base_config(getattr(model, "config"), base_width, fixed)  # noqa: B009 (any object with a config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        base = type(model)(cfg)
    return base.to(next(model.parameters()).dtype)


def scale_hf(model: nn.Module, base_width: int, parametrization: str = "mup", optimizer: str = "adam",
             fixed: str = "head_dim", seed: int = 0, **plan_options: Any) -> ScalingTable:
    """Scale a Hugging Face model against its own config at ``base_width``, in one call.

    Inputs: the model (freshly built, at its own init), the base hidden size, ``plan`` options
    (alignment, overrides, gauge, attention, output_mult, ...). Output: the table, also stored in
    ``model.config.infwidth_scaling`` (saved by ``save_pretrained``).
    """
    base = base_model(model, base_width, fixed, seed)
    table = scale_model(model, base, parametrization, optimizer, **plan_options)
    setattr(model.config, CONFIG_KEY, table.to_dict())
    return table


def restore_scaling(model: nn.Module) -> ScalingTable:
    """Install the wrappers saved in ``model.config.infwidth_scaling`` (after ``from_pretrained``, or after
    ``resize_token_embeddings`` replaced an untied head); the weights are left as loaded."""
    saved = getattr(getattr(model, "config", None), CONFIG_KEY, None)
    if saved is None:
        raise InfwidthError(f"the model's config has no {CONFIG_KEY!r}; was it scaled with scale_hf before "
                            "save_pretrained?")
    table = ScalingTable.from_dict(saved)
    apply(model, table, rescale_init=False)
    return table
