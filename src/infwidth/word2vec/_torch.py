"""Batched PyTorch CBOW negative-sampling step (GPU path; also a CPU fallback without numba).

Consumes the same :class:`~infwidth.word2vec.corpus.Block` examples as the numba loop, ``batch``
examples at a time: every example of a batch reads the parameters before any of them writes
(mini-batch SGD with summed, not averaged, per-example gradients of Eq. (34), so the per-example
learning rate is the same as in the sequential loop). Weight decay ``w <- w (1 - alpha wd)`` is
applied once per occurrence of a row in the batch, as in the sequential loop.
"""

from __future__ import annotations

import torch

from infwidth.word2vec.corpus import Block


def _decay_rows(mat: torch.Tensor, rows: torch.Tensor, log_factor: torch.Tensor) -> None:
    """Multiply each distinct row r of ``mat`` by exp(sum of ``log_factor`` over rows == r)."""
    uniq, inverse = torch.unique(rows, return_inverse=True)
    acc = torch.zeros(len(uniq), dtype=log_factor.dtype, device=mat.device)
    acc.index_add_(0, inverse, log_factor)
    mat[uniq] *= torch.exp(acc).to(mat.dtype)[:, None]


@torch.no_grad()
def train_block_torch(syn0: torch.Tensor, syn1: torch.Tensor, block: Block, window: int, wd: float,
                      batch: int = 256, divide_ctx: bool = True) -> float:
    """Train ``syn0``/``syn1`` (same device) in place on one block; returns the summed log-loss.

    ``divide_ctx``: context rows receive ``neu1e / cw`` (exact gradient, TP4) or ``neu1e`` (word2vec.c).
    """
    dev = syn0.device
    m = len(block.ids)
    if m == 0:
        return 0.0
    ids = torch.from_numpy(block.ids).to(dev, torch.long)
    sent_start = torch.from_numpy(block.sent_start).to(dev)
    sent_end = torch.from_numpy(block.sent_end).to(dev)
    shrink = torch.from_numpy(block.shrink).to(dev, torch.long)
    negs = torch.from_numpy(block.negs).to(dev, torch.long)
    alpha = torch.from_numpy(block.alpha).to(dev, torch.float64)
    offsets = torch.arange(-window, window + 1, device=dev)
    total = 0.0
    for s in range(0, m, batch):
        pos = torch.arange(s, min(s + batch, m), device=dev)
        ctx_pos = pos[:, None] + offsets[None, :]
        valid = ((offsets != 0)[None, :] & (offsets.abs()[None, :] <= (window - shrink[pos])[:, None])
                 & (ctx_pos >= sent_start[pos, None]) & (ctx_pos < sent_end[pos, None]))
        ctx_ids = ids[ctx_pos.clamp(0, m - 1)]
        cw = valid.sum(1)
        ok = cw > 0
        inv = 1.0 / cw.clamp(min=1).to(syn0.dtype)
        h = (syn0[ctx_ids] * valid[..., None].to(syn0.dtype)).sum(1) * inv[:, None]  # h(xi^J), Eq. (33)
        word = ids[pos]
        targets = torch.cat([word[:, None], negs[pos]], dim=1)
        tmask = torch.cat([torch.ones_like(word[:, None], dtype=torch.bool), negs[pos] != word[:, None]], 1)
        tmask &= ok[:, None]
        labels = torch.zeros(targets.shape, dtype=syn0.dtype, device=dev)
        labels[:, 0] = 1.0
        out = syn1[targets]
        prob = torch.sigmoid(torch.einsum("bn,bkn->bk", h, out))
        lr = alpha[pos].to(syn0.dtype)
        g = (labels - prob) * lr[:, None] * tmask.to(syn0.dtype)
        p_true = torch.where(labels > 0.5, prob, 1.0 - prob).clamp(min=1e-10)
        total += float(-(torch.log(p_true) * tmask).sum())
        neu1e = torch.einsum("bk,bkn->bn", g, out)
        log_dec = torch.log1p(-alpha[pos] * wd)
        # output rows: decay, then add g * h (Eq. (34) gradient)
        t_flat = targets[tmask]
        _decay_rows(syn1, t_flat, log_dec[:, None].expand_as(targets)[tmask])
        syn1.index_add_(0, t_flat, (g[..., None] * h[:, None, :])[tmask])
        # context rows: decay, then add neu1e / cw (exact gradient of the mean)
        c_flat = ctx_ids[valid & ok[:, None]]
        vmask = valid & ok[:, None]
        _decay_rows(syn0, c_flat, log_dec[:, None].expand_as(ctx_ids)[vmask])
        upd = (neu1e * inv[:, None] if divide_ctx else neu1e)[:, None, :].expand(-1, ctx_ids.shape[1], -1)
        syn0.index_add_(0, c_flat, upd[vmask])
    return total
