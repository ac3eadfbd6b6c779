"""Input-embedding initializations (TP4's uniform and the Gaussian) and memory-lean checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.io import load_checkpoint
from infwidth.word2vec import (
    ModelSpec,
    StreamConfig,
    Trainer,
    TrainSettings,
    init_params,
    save_trainer,
    synthetic_corpus,
)


@pytest.mark.parametrize("width", [16, 256])
def test_uniform_init_moments(width: int) -> None:
    """TP4's code: U(-sqrt(3/n), sqrt(3/n)): mean 0, variance 1/n, kurtosis 9/5, support bounded by sqrt(3/n)."""
    syn0, syn1 = init_params(ModelSpec("width", width), 4000, seed=0, dtype="float64")
    x = syn0.ravel() * np.sqrt(width)  # standardized: U(-sqrt 3, sqrt 3)
    n = x.size
    assert syn0.shape == (4000, width) and not syn1.any()
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert x.var() == pytest.approx(1.0, abs=5 * np.sqrt(0.8 / n))  # var of x^2 for U(-sqrt3, sqrt3) is 4/5
    assert np.abs(x).max() <= np.sqrt(3.0) and np.abs(x).max() > np.sqrt(3.0) * (1 - 1e-3)
    assert np.mean(x**4) == pytest.approx(9 / 5, abs=0.05)


def test_gaussian_init_moments_and_names() -> None:
    syn0, _ = init_params(ModelSpec("width", 64), 4000, seed=1, dtype="float64", init="gaussian")
    x = syn0.ravel() * 8.0
    assert abs(x.mean()) < 5 / np.sqrt(x.size)
    assert x.var() == pytest.approx(1.0, abs=0.01)
    assert np.mean(x**4) == pytest.approx(3.0, abs=0.1)  # Gaussian kurtosis, unlike the uniform's 9/5
    lim, _ = init_params(ModelSpec("limit"), 5, seed=0, init="gaussian")
    assert np.array_equal(lim, np.eye(5, dtype=np.float32))  # the limit starts at I whatever the init
    with pytest.raises(InfwidthError, match="init"):
        init_params(ModelSpec("width", 4), 5, seed=0, init="normal")


def test_checkpoint_shares_memory_and_refuses_other_init(tmp_path: Path) -> None:
    ids = synthetic_corpus(vocab=30, tokens=3000, seed=0)
    counts = np.bincount(ids, minlength=30).astype(np.int64)
    st = TrainSettings(stream=StreamConfig(window=3, negative=3, epochs=1, sentence_len=100, block_sentences=5),
                       threads=1)
    tr = Trainer(ids, counts, ModelSpec("width", 8), st)
    tr.train(progress=False, stop_after_blocks=2)
    state = tr.state_dict()
    assert state["syn0"].data_ptr() == tr.syn0.ctypes.data  # type: ignore[attr-defined, union-attr]
    save_trainer(tmp_path / "c.pt", tr)
    loaded = load_checkpoint(tmp_path / "c.pt", mmap=True)
    assert loaded is not None
    again = Trainer(ids, counts, ModelSpec("width", 8), st)
    again.load_state_dict(loaded)
    assert np.array_equal(again.syn0, tr.syn0) and np.array_equal(again.syn1, tr.syn1)  # type: ignore[arg-type]
    other = Trainer(ids, counts, ModelSpec("width", 8), TrainSettings(stream=st.stream, threads=1, init="gaussian"))
    with pytest.raises(InfwidthError, match="--init"):
        other.load_state_dict(loaded)
