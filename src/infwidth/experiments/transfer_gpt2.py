"""The ``hf-gpt2`` transfer task: a Hugging Face GPT-2 built from a small config, as its authors wrote it.

``GPT2LMHeadModel`` with tied input/output embeddings (``lm_head.weight`` is ``transformer.wte.weight``),
``Conv1D`` layers (weights stored (in, out)) and GPT-2's own initialization (normal, std
``initializer_range`` = 0.02, residual projections 0.02 / sqrt(2 n_layer)); no dropout. Width = ``n_embd``;
the head size is fixed (16), so the number of heads grows with the width and GPT-2's 1/sqrt(d_head)
attention scale is width-independent. Data: characters of the text8 substitute (27 symbols), context 32,
next-character cross-entropy; held-out metric on a fixed batch of 64 windows, as ``text-transformer``.
``transformers`` is a test-only dependency of infwidth: this task needs ``pip install transformers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from infwidth.errors import InfwidthError

if TYPE_CHECKING:
    from infwidth.experiments.transfer import TaskSetup

VOCAB, CONTEXT, LAYERS, HEAD_SIZE = 27, 32, 2, 16


def make_gpt2(width: int, vocab: int = VOCAB, context: int = CONTEXT, layers: int = LAYERS) -> nn.Module:
    """``GPT2LMHeadModel`` of hidden size ``width`` (tied embeddings, its own init, no dropout)."""
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        raise InfwidthError("the hf-gpt2 task builds a Hugging Face GPT-2: `pip install transformers`.") from None
    if width % HEAD_SIZE:
        raise InfwidthError(f"the hf-gpt2 task needs widths divisible by the head size {HEAD_SIZE}, got {width}.")
    cfg = GPT2Config(vocab_size=vocab, n_positions=context, n_embd=width, n_layer=layers, n_head=width // HEAD_SIZE,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
                     tie_word_embeddings=True)
    return GPT2LMHeadModel(cfg)


def _lm_loss(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    logits = model(idx[:, :-1]).logits
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1))


def gpt2_task(params: Mapping[str, Any], g: torch.Generator) -> TaskSetup:
    """The trial's GPT-2 at ``width``, its base at ``base_width``, text8 training batches and held-out loss."""
    from infwidth.experiments.transfer import TaskSetup, text_windows

    train, held = text_windows(params, g, CONTEXT)
    model, base = make_gpt2(int(params["width"])), make_gpt2(int(params["base_width"]))
    return TaskSetup(model, base, lambda m: _lm_loss(m, train()), lambda m: float(_lm_loss(m, held)))
