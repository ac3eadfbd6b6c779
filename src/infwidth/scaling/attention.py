"""Find the attention of a model and plan muP's attention-logit scale (TP5: 1/d instead of 1/sqrt(d)).

With the number of heads fixed, the head size d grows with width; q and k then become correlated
after training (their update is aligned with them), so q.k grows like d and muP scales the logits
by 1/d. Relative to the base (so that the base is unchanged): scale = sqrt(d_base) / d, i.e. the
model's own scale times sqrt(d_base / d). With the head size fixed, both rules agree.

Three kinds of attention are found without editing model code:

* ``attention-hf``: a module with a float ``scaling`` attribute and its head size in ``head_dim`` or
  ``attention_head_size`` (Hugging Face attention modules: GPT-2, Llama, BERT, ...). Its
  ``scaling`` is set to original * sqrt(d_base / d) (used by the eager and SDPA paths alike).
* ``attention-mha``: ``nn.MultiheadAttention``; its forward runs in a TorchFunctionMode that
  scales the query projection inside ``F.multi_head_attention_forward``.
* ``attention-sdpa``: a module whose own ``forward`` calls ``scaled_dot_product_attention`` (nanoGPT
  style); its forward runs in a TorchFunctionMode that passes ``scale=`` to every such call. Its
  head size is known only at run time, so "1/d" needs ``base_head_dim``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from torch import nn

from infwidth.errors import InfwidthError
from infwidth.scaling.roles import Base, holder_modules

ATTENTION_SCALES = ("1/sqrt(d)", "1/d")
_HEAD_ATTRS = ("head_dim", "attention_head_size")


def _head_dim(module: nn.Module) -> int | None:
    for attr in _HEAD_ATTRS:
        v = getattr(module, attr, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _calls_sdpa(module: nn.Module) -> bool:
    fwd = type(module).forward
    if fwd is nn.Module.forward:
        return False
    try:
        return "scaled_dot_product_attention" in inspect.getsource(fwd)
    except (OSError, TypeError):
        return False


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.MultiheadAttention):
        return "attention-mha"
    if isinstance(getattr(module, "scaling", None), float) and _head_dim(module) is not None:
        return "attention-hf"
    if _calls_sdpa(module):
        return "attention-sdpa"
    return None


def _site(name: str, kind: str, module: nn.Module, base_mod: nn.Module | None, attention: str,
          base_head_dim: int | None) -> dict[str, Any]:
    d = None if kind == "attention-sdpa" else _head_dim(module)
    db = _head_dim(base_mod) if base_mod is not None and kind != "attention-sdpa" else None
    db = db if db is not None else base_head_dim
    original = float(module.scaling) if kind == "attention-hf" else None  # type: ignore[arg-type]
    if attention == "1/sqrt(d)":
        grows = d is not None and db is not None and d != db
        return {"module": name, "kind": kind, "multiplier": 1.0, "head_dim": d, "base_head_dim": db,
                "original": original, "active": False,
                "reason": "1/sqrt(d) kept" + (f" (head size {db} -> {d}: not muP)" if grows else "")}
    if db is None:
        raise InfwidthError(f"module {name!r} calls scaled_dot_product_attention in its forward, and its head "
                            "size is known only at run time; pass base_head_dim=<head size of the base model> "
                            "for attention='1/d'.")
    factor = None if d is None else (db / d) ** 0.5
    how = {"attention-hf": "its `scaling` attribute", "attention-mha": "the query projection in a TorchFunctionMode",
           "attention-sdpa": "scale= of each F.scaled_dot_product_attention call"}[kind]
    return {"module": name, "kind": kind, "multiplier": factor, "head_dim": d, "base_head_dim": db,
            "original": original, "active": True,
            "reason": f"1/d attention: logits x sqrt({db}/d) via {how}"}


def attention_sites(model: nn.Module, base: Base, attention: str, base_head_dim: int | None) -> list[dict[str, Any]]:
    """The attention modules of ``model`` with their planned logit scale (``ModuleScaling`` fields).

    Raises InfwidthError when attention='1/d' finds no attention, or cannot know a base head size.
    Warns when the head size grows with width and 1/sqrt(d) is kept.
    """
    if base_head_dim is not None and (not isinstance(base_head_dim, int) or base_head_dim < 1):
        raise InfwidthError(f"base_head_dim must be a positive integer, got {base_head_dim!r}.")
    base_mods = dict(holder_modules(base)) if isinstance(base, nn.Module) else {}
    sites: list[dict[str, Any]] = []
    for name, module in holder_modules(model):
        if any(name.startswith(s["module"] + ".") for s in sites):
            continue  # inside an attention module already handled
        kind = _kind(module)
        if kind is not None:
            sites.append(_site(name, kind, module, base_mods.get(name), attention, base_head_dim))
    grown = [s for s in sites if not s["active"] and "not muP" in s["reason"]]
    if grown:
        more = f" and {len(grown) - 1} more attention module(s)" if len(grown) > 1 else ""
        warnings.warn(f"the head size of {grown[0]['module']!r}{more} grows with width ({grown[0]['base_head_dim']} "
                      f"-> {grown[0]['head_dim']}) and the attention keeps 1/sqrt(d); muP needs 1/d there: pass "
                      "attention='1/d'.", UserWarning, stacklevel=3)
    if attention == "1/d" and not sites:
        raise InfwidthError("attention='1/d' found no attention: no module with a `scaling` attribute and a head "
                            "size (Hugging Face), no nn.MultiheadAttention and no module calling "
                            "scaled_dot_product_attention.")
    return sites
