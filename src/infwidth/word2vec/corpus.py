"""The word2vec training stream: subsampling, sentences, shrunk windows, negatives, learning rates.

Everything the model sees is drawn here, from the seed only (never from the model), so that
finite widths, the infinite-width limit and every backend consume the *same* examples for a given
seed -- which is what makes the width-convergence test (finite width -> limit) meaningful.

Conventions follow word2vec.c as used by TP4 (github.com/edwardjhu/TP4, ``Word2Vec/src/word2vec.c``):

* subsampling (``-sample s``): a token of count c among T is kept with probability
  ``(sqrt(c / (s T)) + 1) (s T) / c``;
* sentences: the kept tokens are cut every ``sentence_len`` (1000) tokens; windows never cross them;
* window shrinking: for each position b ~ U{0..window-1} and the context is the ``window - b``
  tokens on each side;
* negatives: ``negative`` draws from the unigram^0.75 table; a draw equal to the centre word is skipped;
* learning rate: ``alpha0 (1 - words_seen / (epochs T + 1))`` floored at ``alpha0 * 1e-4``, where
  ``words_seen`` counts corpus tokens (kept or not) before the current one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infwidth.errors import InfwidthError

TABLE_SIZE = 10_000_000


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Per-word keep probability of word2vec's subsampling (values above 1 mean always kept)."""
    if sample <= 0:
        return np.ones(len(counts))
    total = float(np.sum(counts))
    c = counts.astype(np.float64)
    return (np.sqrt(c / (sample * total)) + 1.0) * (sample * total) / c


def unigram_table(counts: np.ndarray, power: float = 0.75, size: int = TABLE_SIZE) -> np.ndarray:
    """word2vec's negative-sampling table: word i fills a share count_i^power / sum_j count_j^power.

    Output: int32 (size,) array of word indices, sampled uniformly to draw negatives.
    """
    p = counts.astype(np.float64) ** power
    cdf = np.cumsum(p / p.sum())
    grid = (np.arange(size, dtype=np.float64) + 0.5) / size
    return np.minimum(np.searchsorted(cdf, grid), len(counts) - 1).astype(np.int32)


@dataclass
class Block:
    """A block of training examples (whole sentences of kept tokens).

    Attributes:
        ids: int32 (B,) centre words.
        sent_start, sent_end: int64 (B,) index range (within the block) of each token's sentence.
        shrink: int32 (B,) window shrink b (the context is ``window - b`` tokens on each side).
        negs: int32 (B, negative) negative draws (the centre word itself is skipped when drawn).
        alpha: float64 (B,) learning rate of each example.
        raw_end: corpus tokens seen (kept or not) after this block, within the epoch.
    """

    ids: np.ndarray
    sent_start: np.ndarray
    sent_end: np.ndarray
    shrink: np.ndarray
    negs: np.ndarray
    alpha: np.ndarray
    raw_end: int


@dataclass
class StreamConfig:
    """Sampling settings of the stream (word2vec.c names in parentheses)."""

    window: int = 8  # -window
    negative: int = 25  # -negative
    sample: float = 1e-4  # -sample
    alpha: float = 0.05  # -alpha (initial learning rate)
    epochs: int = 15  # -iter
    sentence_len: int = 1000  # MAX_SENTENCE_LENGTH
    block_sentences: int = 100  # sentences per block (progress/checkpoint granularity)


class EpochStream:
    """The blocks of one epoch, deterministic in (seed, epoch).

    Inputs: ``ids`` the encoded corpus (int32), ``counts`` word counts, ``table`` the unigram table,
    ``cfg`` the stream settings, ``seed`` and ``epoch``.
    """

    def __init__(self, ids: np.ndarray, counts: np.ndarray, table: np.ndarray, cfg: StreamConfig,
                 seed: int, epoch: int) -> None:
        if cfg.window < 1 or cfg.negative < 0 or cfg.sentence_len < 2:
            raise InfwidthError("window must be >= 1, negative >= 0 and sentence_len >= 2.")
        self.cfg, self.table, self.epoch, self.seed = cfg, table, epoch, seed
        self.total_words = len(ids)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch, 0])))
        keep = rng.random(len(ids)) < keep_probabilities(counts, cfg.sample)[ids]
        self.kept = ids[keep]
        self.rawpos = np.flatnonzero(keep).astype(np.int64)
        self.block_len = cfg.sentence_len * cfg.block_sentences
        self.n_blocks = max(1, -(-len(self.kept) // self.block_len))

    def block(self, k: int) -> Block:
        """Block ``k`` (0 <= k < n_blocks): its examples, drawn from (seed, epoch, k)."""
        cfg = self.cfg
        lo, hi = k * self.block_len, min((k + 1) * self.block_len, len(self.kept))
        ids = self.kept[lo:hi]
        m = len(ids)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, self.epoch, k + 1])))
        shrink = rng.integers(0, cfg.window, size=m, dtype=np.int32)
        negs = self.table[rng.integers(0, len(self.table), size=(m, cfg.negative))]
        local = np.arange(m, dtype=np.int64)
        sent_start = (local // cfg.sentence_len) * cfg.sentence_len
        sent_end = np.minimum(sent_start + cfg.sentence_len, m)
        seen = self.epoch * self.total_words + self.rawpos[lo:hi]
        frac = 1.0 - seen / (cfg.epochs * self.total_words + 1.0)
        alpha = cfg.alpha * np.maximum(frac, 1e-4)
        raw_end = int(self.rawpos[hi - 1]) + 1 if hi < len(self.kept) and m else self.total_words
        return Block(ids, sent_start, sent_end, shrink, negs.astype(np.int32), alpha, raw_end)


def synthetic_corpus(vocab: int = 40, tokens: int = 20000, topics: int = 4, seed: int = 0) -> np.ndarray:
    """A small corpus with structure to learn (for tests and examples).

    Words are split into ``topics`` groups; the text is a sequence of runs of 5-30 tokens, each run
    drawn from one topic with Zipf-like frequencies. Output: int32 (tokens,) word indices, where
    index order is by decreasing expected frequency within each topic.
    """
    rng = np.random.default_rng(seed)
    groups = np.array_split(np.arange(vocab), topics)
    out = np.empty(tokens, dtype=np.int32)
    i = 0
    while i < tokens:
        g = groups[rng.integers(topics)]
        p = 1.0 / np.arange(1, len(g) + 1)
        run = int(rng.integers(5, 31))
        out[i:i + run] = rng.choice(g, size=min(run, tokens - i), p=p / p.sum())
        i += run
    return out
