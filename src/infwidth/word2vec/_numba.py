"""CPU hot loop: CBOW negative-sampling SGD (TP4 Eq. (33)-(34)) compiled with numba.

One call trains on one :class:`~infwidth.word2vec.corpus.Block`, split into ``parts`` contiguous
ranges of whole sentences that run on separate threads, Hogwild-style (lock-free, as word2vec.c
and gensim do). With one thread the parts run in order and the result is deterministic.

Per example (word2vec.c order, TP4's fork): ``neu1`` = mean of the context rows of ``syn0``
(h(xi^J) of Eq. (33)); for the centre word (label 1) then each negative (label 0):
``f = neu1 . syn1[t]``, ``g = (label - sigmoid(f)) alpha``, ``neu1e += g syn1[t]``,
``syn1[t] <- syn1[t] (1 - alpha wd) + g neu1``; finally every context row
``syn0[c] <- syn0[c] (1 - alpha wd) + neu1e / cw`` (the exact gradient of the mean, as in TP4's
fork; word2vec.c and gensim add ``neu1e`` undivided, available with ``divide_ctx=False``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from infwidth.word2vec.corpus import Block


@njit(cache=True, fastmath=True)
def _train_range(syn0, syn1, ids, sent_start, sent_end, shrink, negs, alpha, window, wd, divide_ctx, lo, hi):  # type: ignore[no-untyped-def]
    n = syn0.shape[1]
    neu1 = np.empty(n, dtype=syn0.dtype)
    neu1e = np.empty(n, dtype=syn0.dtype)
    scal = np.empty(3, dtype=syn0.dtype)  # scalars in the parameters' dtype (float32 SIMD loops)
    k_neg = negs.shape[1]
    loss = 0.0
    for pos in range(lo, hi):
        word = ids[pos]
        w = window - shrink[pos]
        a0 = max(sent_start[pos], pos - w)
        a1 = min(sent_end[pos], pos + w + 1)
        cw = a1 - a0 - 1
        if cw <= 0:
            continue
        for c in range(n):
            neu1[c] = 0.0
            neu1e[c] = 0.0
        for q in range(a0, a1):
            if q != pos:
                row = ids[q]
                for c in range(n):
                    neu1[c] += syn0[row, c]
        scal[0] = 1.0 / cw
        inv = scal[0]
        for c in range(n):
            neu1[c] *= inv
        lr = alpha[pos]
        scal[1] = 1.0 - lr * wd
        decay = scal[1]
        for d in range(k_neg + 1):
            if d == 0:
                t = word
                label = 1.0
            else:
                t = negs[pos, d - 1]
                if t == word:
                    continue
                label = 0.0
            f = neu1[0] - neu1[0]
            for c in range(n):
                f += neu1[c] * syn1[t, c]
            if f > 30.0:
                prob = 1.0
            elif f < -30.0:
                prob = 0.0
            else:
                prob = 1.0 / (1.0 + math.exp(-f))
            loss -= math.log(max(prob if label > 0.5 else 1.0 - prob, 1e-10))
            scal[2] = (label - prob) * lr
            g = scal[2]
            for c in range(n):
                neu1e[c] += g * syn1[t, c]
                syn1[t, c] = syn1[t, c] * decay + g * neu1[c]
        if divide_ctx:  # exact gradient of the mean (TP4's word2vec.c); else word2vec.c / gensim
            for c in range(n):
                neu1e[c] *= inv
        for q in range(a0, a1):
            if q != pos:
                row = ids[q]
                for c in range(n):
                    syn0[row, c] = syn0[row, c] * decay + neu1e[c]
    return loss


@njit(cache=True, parallel=True)
def _train_parts(syn0, syn1, ids, sent_start, sent_end, shrink, negs, alpha, window, wd, divide_ctx, bounds):  # type: ignore[no-untyped-def]
    n_parts = len(bounds) - 1
    losses = np.zeros(n_parts)
    for p in prange(n_parts):
        losses[p] = _train_range(syn0, syn1, ids, sent_start, sent_end, shrink, negs, alpha, window, wd,
                                 divide_ctx, bounds[p], bounds[p + 1])
    return losses.sum()


def part_bounds(m: int, sentence_len: int, parts: int) -> np.ndarray:
    """Split ``m`` tokens into ``parts`` ranges of whole sentences; int64 (parts + 1,) boundaries."""
    n_sent = -(-m // sentence_len)
    cuts = [min(m, (n_sent * i // parts) * sentence_len) for i in range(parts + 1)]
    cuts[-1] = m
    return np.asarray(cuts, dtype=np.int64)


def train_block_numba(syn0: np.ndarray, syn1: np.ndarray, block: Block, window: int, wd: float,
                      sentence_len: int, parts: int = 2, divide_ctx: bool = True) -> float:
    """Train ``syn0``/``syn1`` in place on one block; returns the summed log-loss of Eq. (34).

    ``block`` is a :class:`~infwidth.word2vec.corpus.Block`; ``parts`` ranges run on the numba
    threads (set their number with ``numba.set_num_threads``). ``divide_ctx``: each context row
    receives ``neu1e / cw`` (True: the exact gradient, TP4) or ``neu1e`` (False: word2vec.c, gensim).
    """
    b = block
    bounds = part_bounds(len(b.ids), sentence_len, parts)
    alpha = b.alpha.astype(syn0.dtype)
    return float(_train_parts(syn0, syn1, b.ids, b.sent_start, b.sent_end, b.shrink, b.negs, alpha,
                              window, syn0.dtype.type(wd), divide_ctx, bounds))
