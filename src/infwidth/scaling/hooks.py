"""Forward wrappers that carry muP's multipliers without touching parameters, names or the state_dict.

A wrapper replaces one module's ``forward`` by a small picklable object (an instance attribute,
as accelerate's hooks do), so:

* the parameters, their names and ``state_dict()`` are exactly the model's (Hugging Face
  ``save_pretrained``/``from_pretrained``, ``tie_weights``, FSDP and DDP see the plain model);
* ``torch.save(model)`` and ``copy.deepcopy`` carry the wrapper along (it is a module-level class
  holding a float and its module);
* ``torch.compile`` (inductor) traces through it, and Dynamo guards on the instance ``forward``, so
  a plain and a scaled model of the same class never share a compiled graph. Forward *hooks*
  would not do: with ``torch._dynamo.config.skip_nnmodule_hook_guards`` (the default) a graph
  compiled for the plain model is silently reused for one whose hooks were added later.

``InputMultiplier``: ``module(x) -> module.forward(s * x)``, the readout multiplier (exact for a
module linear in its input: ``nn.Linear``, convolutions, GPT-2's ``Conv1D``, a tied head; the bias
is left alone, like mup's ``MuReadout``). ``AttentionScale``: runs the module's forward inside a
``TorchFunctionMode`` that rescales the attention logits of ``F.scaled_dot_product_attention``
and ``F.multi_head_attention_forward`` called there.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from infwidth.errors import InfwidthError

_MHA_SIGNATURE = inspect.signature(F.multi_head_attention_forward)
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


class _Wrapper:
    """Base of our forward wrappers: calls the forward that was there before (a class method or
    another library's instance-level wrapper)."""

    def __init__(self, module: nn.Module) -> None:
        inner = module.__dict__.get("forward")
        self.inner: Callable[..., Any] | None = inner.inner if isinstance(inner, _Wrapper) else inner
        self.module = module

    def call_inner(self, *args: Any, **kwargs: Any) -> Any:
        if self.inner is not None:
            return self.inner(*args, **kwargs)
        return type(self.module).forward(self.module, *args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - subclasses override
        return self.call_inner(*args, **kwargs)


class InputMultiplier(_Wrapper):
    """``module(x, ...) = module.forward(scale * x, ...)``: the readout multiplier m^{-a} * output_mult."""

    def __init__(self, module: nn.Module, scale: float) -> None:
        super().__init__(module)
        self.scale = float(scale)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            return self.call_inner(args[0] * self.scale, *args[1:], **kwargs)
        key = next(iter(kwargs))  # called with the input as a keyword (input=..., x=...)
        return self.call_inner(**{**kwargs, key: kwargs[key] * self.scale})

    def __repr__(self) -> str:
        return f"InputMultiplier(scale={self.scale:g})"


class _AttentionMode(TorchFunctionMode):
    """Multiply the attention-logit scale of every attention call by sqrt(base_head_dim / d)."""

    def __init__(self, base_head_dim: int) -> None:
        super().__init__()
        self.base_head_dim = base_head_dim

    def factor(self, d: int) -> float:
        return math.sqrt(self.base_head_dim / d)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if func is F.scaled_dot_product_attention:
            kw = {**dict(zip(_SDPA_ARGS, args)), **kwargs}
            d = int(kw["query"].shape[-1])
            scale = kw.get("scale")
            kw["scale"] = (d ** -0.5 if scale is None else scale) * self.factor(d)
            return func(**kw)
        if func is F.multi_head_attention_forward:
            return func(**_scaled_mha_arguments(self, args, kwargs))
        return func(*args, **kwargs)


def _scaled_mha_arguments(mode: _AttentionMode, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """F.multi_head_attention_forward's arguments with the query projection scaled, so that the logits
    q k^T / sqrt(d) become sqrt(d_base) q k^T / d (exact, also for need_weights=True)."""
    bound = _MHA_SIGNATURE.bind(*args, **kwargs)
    a = bound.arguments
    e, heads = int(a["embed_dim_to_check"]), int(a["num_heads"])
    f = mode.factor(e // heads)
    if a.get("use_separate_proj_weight"):
        a["q_proj_weight"] = a["q_proj_weight"] * f
    else:
        w = a["in_proj_weight"]
        a["in_proj_weight"] = torch.cat([w[:e] * f, w[e:]])
    b = a.get("in_proj_bias")
    if b is not None:
        a["in_proj_bias"] = torch.cat([b[:e] * f, b[e:]])
    return dict(a)


class AttentionScale(_Wrapper):
    """Run ``module.forward`` with attention logits rescaled to muP's sqrt(d_base) / d (TP5's 1/d)."""

    def __init__(self, module: nn.Module, base_head_dim: int) -> None:
        super().__init__(module)
        self.base_head_dim = int(base_head_dim)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _AttentionMode(self.base_head_dim):
            return self.call_inner(*args, **kwargs)

    def __repr__(self) -> str:
        return f"AttentionScale(base_head_dim={self.base_head_dim})"


def wrapper_of(module: nn.Module) -> _Wrapper | None:
    """Our wrapper on ``module``, or None."""
    w = module.__dict__.get("forward")
    return w if isinstance(w, _Wrapper) else None


def install(module: nn.Module, wrapper: _Wrapper) -> None:
    """Set ``wrapper`` as the module's forward (replacing one of ours that may be there)."""
    if wrapper.module is not module:
        raise InfwidthError("internal error: a forward wrapper was built for another module.")
    module.forward = wrapper


def uninstall(module: nn.Module) -> None:
    """Remove our wrapper from ``module`` (restoring whatever forward was there before)."""
    w = wrapper_of(module)
    if w is None:
        return
    if w.inner is None:
        del module.forward
    else:
        module.forward = w.inner
