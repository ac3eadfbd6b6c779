"""Small reference models (plain PyTorch, no infwidth code inside) used by tests, sweeps and benchmarks.

They are deliberately ordinary: the point of ``infwidth.scaling`` is to scale models it did
not write. ``readout_cls`` lets the mup cross-check swap in ``mup.MuReadout``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(width: int, d_in: int = 8, d_out: int = 4, depth: int = 2,
        readout_cls: type[nn.Linear] = nn.Linear) -> nn.Sequential:
    """An MLP d_in -> width (x depth, ReLU) -> d_out."""
    layers: list[nn.Module] = [nn.Linear(d_in, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(readout_cls(width, d_out))
    return nn.Sequential(*layers)


def cnn(width: int, channels: int = 3, classes: int = 10) -> nn.Sequential:
    """A small CNN: conv(3 -> w), conv(w -> w), global average pool, linear readout."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))


class Block(nn.Module):
    """Pre-LayerNorm transformer block with causal multi-head attention and a 4x MLP."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Decoder-only transformer: token + position embeddings, blocks, final LayerNorm, readout."""

    def __init__(self, width: int, vocab: int = 64, ctx: int = 32, layers: int = 2, head_dim: int = 16,
                 readout_cls: type[nn.Linear] = nn.Linear) -> None:
        super().__init__()
        heads = max(1, width // head_dim)  # fixed head size: the number of heads scales with width
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(ctx, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.out = readout_cls(width, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.out(self.ln(x))


def lm_loss(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy of a (batch, ctx) integer tensor."""
    logits = model(idx[:, :-1])
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1))


def rms(x: torch.Tensor) -> float:
    """Root mean square of a tensor's entries."""
    return math.sqrt(float((x.detach().double() ** 2).mean()))
