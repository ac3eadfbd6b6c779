"""Third-party-style models for the any-model scaling tests: FACTORY(width) -> model, each at its own init.

None of these models contains infwidth code, and each keeps the initialization its authors chose:

* ``hf_gpt2``   Hugging Face GPT-2 from a small config: tied ``lm_head``/``wte``, ``Conv1D`` (weight (in, out)),
                constant-std init (``initializer_range`` 0.02, ``c_proj`` 0.02 / sqrt(2 n_layer)).
* ``hf_llama``  Hugging Face Llama: untied embeddings, RMSNorm, SwiGLU, rotary positions, constant-std init.
* ``hf_bert``   Hugging Face BERT with a sequence-classification head (pooler + classifier).
* ``nanogpt``   a nanoGPT-style GPT (Karpathy's model.py, abridged): tied embeddings,
                ``F.scaled_dot_product_attention``, normal(0, 0.02) init with the scaled residual projections.
* ``vit``       a ViT-style model: conv patch embedding, class token (1, 1, D), position embedding (1, N, D),
                ``nn.MultiheadAttention`` blocks, timm-like truncated-normal(0.02) init.
* ``resnet``    a small ResNet (BasicBlocks, BatchNorm, kaiming-normal fan-out conv init as torchvision does).

``heads``: by default the head size is fixed (16) and the number of heads grows with the width; pass
``heads=H`` to fix the number of heads instead (the head size then grows with the width, where muP needs
the 1/d attention scale). ``batch(name, width, ...)`` makes a random input batch (and labels) for a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 96
CONTEXT = 16
IMAGE = 16
PATCH = 4
CLASSES = 5
HEAD_SIZE = 16


def _heads(width: int, heads: int | None) -> int:
    return heads if heads is not None else max(1, width // HEAD_SIZE)


def hf_gpt2(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """Hugging Face ``GPT2LMHeadModel`` (tied embeddings) of hidden size ``width``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=width, n_layer=layers, n_head=_heads(width, heads),
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg)


def hf_llama(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """Hugging Face ``LlamaForCausalLM`` (untied, RMSNorm, SwiGLU) of hidden size ``width``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    h = _heads(width, heads)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                      num_attention_heads=h, num_key_value_heads=h, max_position_embeddings=CONTEXT,
                      tie_word_embeddings=False)
    return LlamaForCausalLM(cfg)


def hf_bert(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """Hugging Face ``BertForSequenceClassification`` with ``CLASSES`` labels, hidden size ``width``."""
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(vocab_size=VOCAB, hidden_size=width, num_hidden_layers=layers,
                     num_attention_heads=_heads(width, heads), intermediate_size=4 * width,
                     max_position_embeddings=CONTEXT, num_labels=CLASSES, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg)


class _GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    """nanoGPT's GPT, abridged: token + position embeddings, pre-LN blocks, tied ``lm_head``."""

    def __init__(self, width: int, layers: int = 2, heads: int | None = None) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, width), wpe=nn.Embedding(CONTEXT, width),
            h=nn.ModuleList([_GPTBlock(width, _heads(width, heads)) for _ in range(layers)]),
            ln_f=nn.LayerNorm(width)))
        self.lm_head = nn.Linear(width, VOCAB, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT does
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def nanogpt(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """A nanoGPT-style GPT of width ``width`` (tied embeddings, its own normal(0, 0.02) init)."""
    return NanoGPT(width, layers, heads)


class _ViTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A ViT: conv patch embedding, class token, learned position embedding, encoder blocks, linear head."""

    def __init__(self, width: int, layers: int = 2, heads: int | None = None) -> None:
        super().__init__()
        n_patches = (IMAGE // PATCH) ** 2
        self.patch_embed = nn.Conv2d(3, width, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, width))
        self.blocks = nn.ModuleList([_ViTBlock(width, _heads(width, heads)) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, CLASSES)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def vit(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """A ViT-style classifier of width ``width`` (class token, position embedding, timm-like init)."""
    return ViT(width, layers, heads)


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """A small ResNet: stem conv, two stages of BasicBlocks (width, 2 * width), global pool, fc."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = _BasicBlock(width, width, 1)
        self.layer2 = _BasicBlock(width, 2 * width, 2)
        self.fc = nn.Linear(2 * width, CLASSES)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet(width: int, layers: int = 2, heads: int | None = None) -> nn.Module:
    """A small ResNet of base channel count ``width`` (torchvision-style init)."""
    return ResNet(width)


FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "hf_gpt2": hf_gpt2, "hf_llama": hf_llama, "hf_bert": hf_bert,
    "nanogpt": nanogpt, "vit": vit, "resnet": resnet,
}
#: What each model eats: token ids (language models), token ids + labels (BERT), or images + labels.
INPUTS: dict[str, str] = {"hf_gpt2": "tokens", "hf_llama": "tokens", "hf_bert": "classify-tokens",
                          "nanogpt": "tokens", "vit": "images", "resnet": "images"}


def batch(name: str, size: int = 8, seed: int = 0) -> dict[str, Any]:
    """A random batch for model ``name``: ``{"inputs": tensor, "labels": tensor}`` (labels = next tokens for LMs)."""
    g = torch.Generator().manual_seed(seed)
    kind = INPUTS[name]
    if kind == "images":
        return {"inputs": torch.randn(size, 3, IMAGE, IMAGE, generator=g),
                "labels": torch.randint(0, CLASSES, (size,), generator=g)}
    ids = torch.randint(0, VOCAB, (size, CONTEXT), generator=g)
    if kind == "classify-tokens":
        return {"inputs": ids, "labels": torch.randint(0, CLASSES, (size,), generator=g)}
    return {"inputs": ids, "labels": ids}


def logits(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The model's output logits, whatever the model returns (a tensor or a Hugging Face output)."""
    out = model(inputs)
    return out if isinstance(out, torch.Tensor) else out.logits


def loss(name: str, model: nn.Module, b: dict[str, Any]) -> torch.Tensor:
    """Cross-entropy of the model on a batch from ``batch`` (next-token prediction for language models)."""
    z = logits(model, b["inputs"])
    if INPUTS[name] == "tokens":
        return F.cross_entropy(z[:, :-1].reshape(-1, z.shape[-1]), b["labels"][:, 1:].reshape(-1))
    return F.cross_entropy(z, b["labels"])
