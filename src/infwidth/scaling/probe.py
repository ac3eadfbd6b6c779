"""Probing any model: what it eats (random tokens, images or vectors, or a user batch), how to call it,
and forward hooks that keep every module's output.

Used by the coordinate check (``infwidth.scaling.coordcheck``); nothing here is specific to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.scaling.factory import Factory, build

#: Image sides tried, smallest first (the width exponents do not depend on the image size; small is fast).
IMAGE_SIDES = (16, 32, 28, 64, 224)


@dataclass(frozen=True)
class DataSpec:
    """Random inputs: ``kind`` tokens (vocab, length), images (channels, height, width) or vectors (dim)."""

    kind: str
    dims: tuple[int, ...]

    def make(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """One random batch (token ids uniform over the vocabulary, images and vectors N(0, 1))."""
        if self.kind == "tokens":
            return torch.randint(0, self.dims[0], (batch, self.dims[1]), generator=gen)
        return torch.randn(batch, *self.dims, generator=gen)

    def describe(self) -> str:
        return f"{self.kind}:{'x'.join(map(str, self.dims))}"


def parse_data(text: str) -> list[DataSpec] | None:
    """``auto`` -> None; ``tokens:VOCAB[:LENGTH]``, ``images:C[xHxW]``, ``vectors:DIM`` -> candidate specs."""
    t = text.strip().lower()
    if t == "auto":
        return None
    kind, _, rest = t.partition(":")
    try:
        nums = [int(v) for v in rest.replace("x", ":").split(":") if v] if rest else []
    except ValueError:
        nums = [-1]
    ok = {"tokens": (1, 2), "images": (1, 3), "vectors": (1,)}.get(kind)
    if ok is None or len(nums) not in ok or any(v < 1 for v in nums):
        raise InfwidthError(f"--data {text!r}: give auto, tokens:VOCAB[:LENGTH], images:C[xHxW] or vectors:DIM "
                            "with positive integers (e.g. tokens:50257:16 or images:3x32x32).")
    if kind == "tokens":
        return [DataSpec("tokens", (nums[0], n)) for n in ([nums[1]] if len(nums) == 2 else [16, 8])]
    if kind == "images":
        return [DataSpec("images", (nums[0], h, h)) for h in IMAGE_SIDES] if len(nums) == 1 else \
            [DataSpec("images", tuple(nums))]
    return [DataSpec("vectors", (nums[0],))]


def guess_data(model: nn.Module) -> list[DataSpec]:
    """Candidate inputs from the model's first Embedding, Conv2d or Linear (in registration order)."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return [DataSpec("tokens", (m.num_embeddings, n)) for n in (16, 8)]
        if isinstance(m, nn.Conv2d):
            return [DataSpec("images", (m.in_channels, h, h)) for h in IMAGE_SIDES]
        if isinstance(m, nn.Linear):
            return [DataSpec("vectors", (m.in_features,))]
    raise InfwidthError("cannot tell what the model eats (it has no Embedding, Conv2d or Linear layer); "
                        "give --data tokens:VOCAB:LENGTH, images:CxHxW or vectors:DIM, or --batch-file.")


def first_tensor(out: Any) -> torch.Tensor | None:
    """The first floating-point tensor in a module's output (tensor, tuple/list, dict or HF ModelOutput)."""
    if isinstance(out, torch.Tensor):
        return out if out.is_floating_point() else None
    values: Any = out.values() if isinstance(out, Mapping) else out if isinstance(out, (tuple, list)) else ()
    for v in values:
        t = first_tensor(v)
        if t is not None:
            return t
    return None


def call(model: nn.Module, inputs: Any) -> Any:
    """``model(inputs)``, ``model(*inputs)`` for a tuple/list, ``model(**inputs)`` for a dict."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


class Recorder:
    """Forward hooks on every module; while ``on``, keeps each module's output (one entry per call).

    An output that is the same tensor as one already recorded in this forward pass (an outer module
    returning an inner module's result) is kept only under the inner module (hooks fire inside out);
    the outputs are held until the pass ends, so that no later output can reuse their memory.
    """

    def __init__(self, model: nn.Module) -> None:
        self.on = False
        self.outputs: dict[str, list[torch.Tensor]] = {}
        self._seen: dict[tuple[int, tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._hook(name or "(model)")) for name, m in model.named_modules()]

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            t = first_tensor(out) if self.on else None
            if t is None:
                return
            key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
            if key in self._seen:
                return
            self._seen[key] = t
            self.outputs.setdefault(name, []).append(t.detach().float().clone())
        return hook

    @torch.no_grad()
    def probe(self, model: nn.Module, inputs: Any) -> dict[str, list[torch.Tensor]]:
        """Run ``model`` on ``inputs`` and return every module's outputs."""
        self.on, self.outputs, self._seen = True, {}, {}
        try:
            call(model, inputs)
        finally:
            self.on, self._seen = False, {}
        return self.outputs

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def eval_mode(model: nn.Module) -> None:
    """No dropout; batch norm keeps using batch statistics (its training-time behaviour)."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()


def resolve_inputs(factory: Factory, spec: str, width: int, data: str, batch: Any, batch_size: int,
                    dtype: torch.dtype | None) -> tuple[Callable[[int], Any], torch.Tensor | None, str]:
    """(seed -> input batch, labels or None, description), checked on one model before any training."""
    model = build(factory, width, spec).to(dtype=dtype)
    eval_mode(model)

    def accepts(inputs: Any) -> Exception | None:
        try:
            with torch.no_grad():
                if first_tensor(call(model, inputs)) is None:
                    return InfwidthError("the model returned no floating-point tensor")
        except Exception as e:  # the model's own error: reported in the sentence below
            return e
        return None

    if batch is not None:
        inputs, labels = (batch.get("inputs"), batch.get("labels")) if isinstance(batch, Mapping) else (batch, None)
        if inputs is None:
            raise InfwidthError("the batch has no 'inputs'; give a tensor or a dict {'inputs': ..., 'labels': ...}.")
        err = accepts(inputs)
        if err is not None:
            raise InfwidthError(f"{spec}({width}) rejected the given batch: {type(err).__name__}: {err}.")
        return (lambda _seed: inputs), labels, "user batch"
    cands = parse_data(data) or guess_data(model)
    err = None
    for c in cands:
        trial = c.make(batch_size, torch.Generator().manual_seed(0))
        if dtype is not None and trial.is_floating_point():
            trial = trial.to(dtype)
        err = accepts(trial)
        if err is None:
            def make(seed: int, c: DataSpec = c) -> torch.Tensor:
                x = c.make(batch_size, torch.Generator().manual_seed(10_000 + seed))
                return x.to(dtype) if dtype is not None and x.is_floating_point() else x
            return make, None, c.describe()
    tried = ", ".join(c.describe() for c in cands)
    raise InfwidthError(f"{spec}({width}) rejected random inputs ({tried}; last error {type(err).__name__}: {err}); "
                        "give --data with the right sizes (e.g. tokens:VOCAB:LENGTH, images:CxHxW) or --batch-file.")
