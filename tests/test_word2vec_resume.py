"""Resume after an interruption equals an uninterrupted run (single thread), and the stream's statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from infwidth.io import load_checkpoint
from infwidth.word2vec import ModelSpec, StreamConfig, Trainer, TrainSettings, save_trainer, synthetic_corpus
from infwidth.word2vec.corpus import EpochStream, keep_probabilities, unigram_table

STREAM = StreamConfig(window=4, negative=5, sample=1e-2, alpha=0.05, epochs=2, sentence_len=100, block_sentences=4)


def _setup() -> tuple[np.ndarray, np.ndarray, TrainSettings]:
    ids = synthetic_corpus(vocab=50, tokens=6000, seed=3)
    return ids, np.bincount(ids, minlength=50).astype(np.int64), TrainSettings(stream=STREAM, seed=5, threads=1)


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    ids, counts, st = _setup()
    full = Trainer(ids, counts, ModelSpec("width", 32), st)
    full.train(progress=False)
    part = Trainer(ids, counts, ModelSpec("width", 32), st)
    n_blocks = EpochStream(ids, counts, part.table, STREAM, 5, 0).n_blocks
    part.train(progress=False, stop_after_blocks=n_blocks + 2)  # interrupted inside epoch 2
    save_trainer(tmp_path / "ckpt.pt", part)
    resumed = Trainer(ids, counts, ModelSpec("width", 32), st)
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state is not None and state["epoch"] == 1 and state["block"] == 2
    resumed.load_state_dict(state)
    # the progress bar of the resumed run starts where the run stopped: one epoch plus two blocks of corpus tokens
    stream1 = EpochStream(ids, counts, part.table, STREAM, 5, 1)
    assert resumed._tokens_done() == len(ids) + stream1.block(1).raw_end
    assert 0 < stream1.block(1).raw_end < len(ids)
    resumed.train(progress=False)
    assert resumed._tokens_done() == 2 * len(ids)
    a, b = full.params_numpy(), resumed.params_numpy()
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # and the run did train: a different seed gives different parameters
    other = Trainer(ids, counts, ModelSpec("width", 32), TrainSettings(stream=STREAM, seed=6, threads=1))
    other.train(progress=False)
    assert not np.allclose(other.params_numpy()[1], a[1])


def test_stream_statistics() -> None:
    """Subsampling keeps each word at word2vec's rate; negatives follow unigram^0.75."""
    ids = synthetic_corpus(vocab=50, tokens=200_000, seed=1)
    counts = np.bincount(ids, minlength=50).astype(np.int64)
    cfg = StreamConfig(sample=1e-2, negative=5)
    table = unigram_table(counts)
    s = EpochStream(ids, counts, table, cfg, seed=0, epoch=0)
    kept = np.bincount(s.kept, minlength=50)
    p = np.minimum(keep_probabilities(counts, 1e-2), 1.0)
    sd = np.sqrt(counts * p * (1 - p)) + 1e-9
    assert np.all(np.abs(kept - counts * p) < 5 * sd + 1)
    assert p.min() < 0.5  # subsampling is active for frequent words
    negs = np.concatenate([s.block(k).negs.ravel() for k in range(s.n_blocks)])
    freq = np.bincount(negs, minlength=50) / len(negs)
    target = counts**0.75 / np.sum(counts**0.75)
    assert np.abs(freq - target).max() < 5 * np.sqrt(target.max() / len(negs))
