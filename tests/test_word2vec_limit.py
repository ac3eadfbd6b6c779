"""Finite-width muP CBOW converges to the exact width-|V| limit (TP4 Section 9.3, Corollary 6.2 / D.1).

The data stream (subsampling, windows, negatives) depends only on the seed, so every width and the
limit see the same examples; only the random initial embeddings differ. The Gram matrix
syn0 syn0^T of the learned embeddings (= A Z Z^T A^T at width n, A A^T in the limit) must approach
the limit's at the rate n^{-1/2} of Z Z^T -> I.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.word2vec import ModelSpec, StreamConfig, Trainer, TrainSettings, synthetic_corpus
from infwidth.word2vec.corpus import EpochStream

V = 30
STREAM = StreamConfig(window=3, negative=5, sample=0.0, alpha=0.05, epochs=1, sentence_len=200, block_sentences=5)


def _corpus(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = synthetic_corpus(vocab=V, tokens=4000, topics=3, seed=seed)
    return ids, np.bincount(ids, minlength=V).astype(np.int64)


def _gram(spec: ModelSpec, seed: int, backend: str = "numba", wd: float = 0.001) -> np.ndarray:
    ids, counts = _corpus()
    st = TrainSettings(stream=STREAM, wd=wd, seed=seed, threads=1, backend=backend, dtype="float64", batch=1)
    tr = Trainer(ids, counts, spec, st)
    tr.train(progress=False)
    syn0, _ = tr.params_numpy()
    return syn0 @ syn0.T


def test_finite_width_converges_to_limit() -> None:
    widths = [64, 256, 1024, 4096]
    seeds = range(4)
    errs = {n: [] for n in widths}
    for s in seeds:
        g_inf = _gram(ModelSpec("limit"), s)
        # the limit learned something: its Gram is far from the initial identity
        assert np.linalg.norm(g_inf - np.eye(V)) > 0.5 * np.linalg.norm(np.eye(V))
        for n in widths:
            g_n = _gram(ModelSpec("width", n), s)
            errs[n].append(np.linalg.norm(g_n - g_inf) / np.linalg.norm(g_inf))
    mean = np.array([np.mean(errs[n]) for n in widths])
    # each 4x width halves the error (Z Z^T - I = O(n^{-1/2})); measured ratios 0.46-0.53, error 0.015 at
    # n = 4096. A limit started at 1.1 I instead of I gives ratios up to 0.74 and fails here.
    ratios = mean[1:] / mean[:-1]
    assert np.all((0.35 < ratios) & (ratios < 0.62)), (ratios, mean)
    slope = np.polyfit(np.log(widths), np.log(mean), 1)[0]
    assert -0.65 < slope < -0.38, (slope, mean)
    assert mean[-1] < 0.02, mean


def _linear_mup_negative_sampling(stream_ids: np.ndarray, counts: np.ndarray, lr_scale: float = 1.0) -> np.ndarray:
    """Independent implementation: the limit as `LinearMuP(|V|, |V|)` with zero output init, trained by
    autograd SGD on the negative-sampling loss of Eq. (34), one example at a time, on the same stream."""
    from infwidth.limits.linear_network import LinearMuP
    from infwidth.word2vec.corpus import unigram_table

    net = LinearMuP(V, V, sigmas=(1.0, 0.0))
    stream = EpochStream(stream_ids, counts, unigram_table(counts), STREAM, seed=0, epoch=0)
    for k in range(stream.n_blocks):
        b = stream.block(k)
        for pos in range(len(b.ids)):
            w = STREAM.window - int(b.shrink[pos])
            ctx = [q for q in range(max(int(b.sent_start[pos]), pos - w), min(int(b.sent_end[pos]), pos + w + 1))
                   if q != pos]
            if not ctx:
                continue
            x = torch.zeros(1, V, dtype=torch.float64)
            for q in ctx:
                x[0, int(b.ids[q])] += 1.0 / len(ctx)  # xi^J, the averaged context
            word = int(b.ids[pos])
            targets = [word] + [int(t) for t in b.negs[pos] if int(t) != word]
            signs = torch.tensor([1.0] + [-1.0] * (len(targets) - 1), dtype=torch.float64)
            net.zero_grad()
            f = net(x)[0, targets]
            loss = -torch.nn.functional.logsigmoid(signs * f).sum()
            loss.backward()
            with torch.no_grad():
                lr = float(b.alpha[pos]) * lr_scale
                net.U -= lr * net.U.grad
                net.V -= lr * net.V.grad
    U = net.U.detach().numpy()
    assert np.allclose(U[V:], 0.0)  # the d_o extra hidden coordinates stay exactly zero
    return U[:V].T  # rows = words


def test_limit_equals_linear_mup_module() -> None:
    pytest.importorskip("infwidth.limits.linear_network")
    ids, counts = _corpus()
    emb = _linear_mup_negative_sampling(ids, counts)
    g_ref = emb @ emb.T
    g_ours = _gram(ModelSpec("limit"), 0, backend="torch", wd=0.0)  # batch 1: same simultaneous update
    assert np.allclose(g_ours, g_ref, rtol=1e-9, atol=1e-9)
    # the sequential word2vec.c loop differs only at second order in the learning rate
    g_seq = _gram(ModelSpec("limit"), 0, backend="numba", wd=0.0)
    assert np.linalg.norm(g_seq - g_ref) / np.linalg.norm(g_ref) < 0.02
