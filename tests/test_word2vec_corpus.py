"""Corpus pipeline against gensim: vocabulary (min_count), counts, subsampling probabilities; file formats."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from infwidth.data.text8 import encode_tokens, read_text
from infwidth.word2vec.corpus import keep_probabilities


def _tokens(seed: int = 0, n: int = 30000) -> list[str]:
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.3, size=n)
    return [f"w{r}" for r in ranks]


def test_vocabulary_and_subsampling_match_gensim() -> None:
    gensim_models = pytest.importorskip("gensim.models")
    tokens = _tokens()
    ours = encode_tokens(tokens, min_count=5)
    m = gensim_models.Word2Vec(vector_size=4, min_count=5, sample=1e-3, workers=1)
    m.build_vocab([tokens[i:i + 1000] for i in range(0, len(tokens), 1000)])
    theirs = {w: m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key}
    assert dict(zip(ours.words, ours.counts.tolist())) == theirs
    assert len(ours.ids) == sum(theirs.values())  # out-of-vocabulary tokens are dropped from the stream
    p = np.minimum(keep_probabilities(ours.counts, 1e-3), 1.0)
    p_gensim = np.array([m.wv.get_vecattr(w, "sample_int") / 2**32 for w in ours.words])
    assert np.allclose(p, p_gensim, atol=1e-6)
    assert p.min() < 0.2  # the check covers heavily subsampled words


def test_vocab_cap_and_readers(tmp_path: Path) -> None:
    tokens = _tokens(1)
    capped = encode_tokens(tokens, min_count=5, max_vocab=10)
    full = encode_tokens(tokens, min_count=5)
    assert capped.words == full.words[:10] and np.all(np.diff(full.counts) <= 0)
    assert set(np.unique(capped.ids)) <= set(range(10))
    text = " ".join(tokens)
    (tmp_path / "c.txt").write_text(text)
    with gzip.open(tmp_path / "c.txt.gz", "wt") as f:
        f.write(text)
    with zipfile.ZipFile(tmp_path / "text8.zip", "w") as z:
        z.writestr("text8", text)
    for name in ("c.txt", "c.txt.gz", "text8.zip"):
        assert read_text(tmp_path / name) == text
