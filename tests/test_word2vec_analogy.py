"""The analogy evaluator (TP4 Eq. (35), compute-accuracy convention) against gensim, and the NTK baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infwidth.data.analogy import (
    AnalogySection,
    evaluate_analogies,
    load_questions,
    read_word_vectors,
    uniform_guess_accuracy,
    write_word_vectors,
)

SECTIONS = ["capital-common-countries", "city-in-state", "gram2-opposite", "gram8-plural"]


def _planted_vectors(sections: list[AnalogySection], seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Vectors where b ~ a + offset(section) for the questions' (a, b) pairs, plus noise and fillers."""
    rng = np.random.default_rng(seed)
    d = 24
    vec: dict[str, np.ndarray] = {}
    for sec in sections:
        if sec.name not in SECTIONS:
            continue
        offset = rng.standard_normal(d)
        for a, b, _, _ in sec.questions:
            if a not in vec:
                vec[a] = rng.standard_normal(d)
            if b not in vec:
                vec[b] = vec[a] + offset + 0.9 * rng.standard_normal(d)
    words = list(vec) + [f"filler{i}" for i in range(200)]
    for w in words[len(vec):]:
        vec[w] = rng.standard_normal(d)
    order = rng.permutation(len(words))  # an arbitrary "frequency" order
    words = [words[i] for i in order]
    return words, np.stack([vec[w] for w in words]).astype(np.float32)


def test_agrees_with_gensim(tmp_path: Path) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    from _data import questions_words

    qpath = questions_words(tmp_path)  # the shared file, or a generated one in its format
    sections = load_questions(qpath)
    words, vecs = _planted_vectors(sections)
    restrict = int(0.8 * len(words))  # some questions fall outside the candidates
    ours = evaluate_analogies(vecs, words, sections, restrict=restrict)
    kv = gensim_models.KeyedVectors(vecs.shape[1])
    kv.add_vectors(words, vecs)
    score, gsections = kv.evaluate_word_analogies(str(qpath), restrict_vocab=restrict, case_insensitive=True)
    theirs = {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in gsections}
    total_correct = sum(c for c, _ in ours.sections.values())
    assert theirs["Total accuracy"] == (total_correct, ours.covered)
    assert 0.05 < score < 0.95  # a non-trivial accuracy, so agreement is informative
    assert abs(100 * score - ours.total) < 1e-9
    for name, (c, n) in ours.sections.items():
        if n:
            assert theirs[name] == (c, n), name
    # word2vec text format round trip, read by gensim too
    path = tmp_path / "vecs.txt"
    write_word_vectors(path, words, vecs)
    w2, v2 = read_word_vectors(path)
    assert w2 == words and np.allclose(v2, vecs, rtol=1e-5, atol=1e-5)
    kv2 = gensim_models.KeyedVectors.load_word2vec_format(str(path))
    assert kv2.index_to_key == words


def test_ntk_random_features_give_uniform_answers() -> None:
    """Features fixed at a random initialization (the NTK limit) answer uniformly over |V| - 3 words."""
    rng = np.random.default_rng(1)
    v = 20
    words = [f"w{i}" for i in range(v)]
    q = [tuple(words[j] for j in rng.choice(v, size=4, replace=False)) for _ in range(4000)]
    sections = [AnalogySection("family", q)]  # type: ignore[arg-type]
    hits = []
    for seed in range(5):
        emb = np.random.default_rng(seed).standard_normal((v, 2048)) / np.sqrt(2048)
        hits.append(evaluate_analogies(emb, words, sections).total)
    p = uniform_guess_accuracy(v) / 100
    sigma = 100 * np.sqrt(p * (1 - p) / (4000 * 5))
    assert abs(np.mean(hits) - 100 * p) < 4 * sigma, (np.mean(hits), 100 * p)
