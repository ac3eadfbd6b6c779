"""The analogy evaluator (TP4 Eq. (35), compute-accuracy convention) against gensim, and the NTK baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from infwidth.data.analogy import (
    AnalogySection,
    binomial_se,
    evaluate_analogies,
    evaluate_analogies_at,
    load_questions,
    paired_difference,
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


def test_thresholds_in_one_pass_agree_with_gensim(tmp_path: Path) -> None:
    """Threshold 0 (whole vocabulary, TP4's `compute-accuracy FILE 0`) and a smaller threshold, computed
    from one matrix product, each equal gensim's evaluate_word_analogies with that restrict_vocab."""
    gensim_models = pytest.importorskip("gensim.models")
    from _data import questions_words

    qpath = questions_words(tmp_path)  # the shared file, or a generated one in its format
    sections = load_questions(qpath)
    words, vecs = _planted_vectors(sections, seed=3)
    small = int(0.6 * len(words))
    ours = evaluate_analogies_at(vecs, words, sections, (0, small), batch=37)  # batches not dividing N
    kv = gensim_models.KeyedVectors(vecs.shape[1])
    kv.add_vectors(words, vecs)
    for r, restrict_vocab in ((0, len(words)), (small, small)):
        score, gsections = kv.evaluate_word_analogies(str(qpath), restrict_vocab=restrict_vocab,
                                                      case_insensitive=True)
        total = next(s for s in gsections if s["section"] == "Total accuracy")
        res = ours[r]
        assert (len(total["correct"]), len(total["correct"]) + len(total["incorrect"])) == (
            res.semantic_correct + res.syntactic_correct, res.covered)
        assert res.candidates == restrict_vocab
        assert int(np.sum(res.answers >= 0)) == res.covered and len(res.answers) == res.questions_total
    assert ours[0].covered > ours[small].covered > 0
    # the single-threshold entry point agrees with the multi-threshold one
    assert evaluate_analogies(vecs, words, sections, restrict=small).total == ours[small].total


def test_binomial_standard_error() -> None:
    assert binomial_se(30, 100) == pytest.approx(100 * np.sqrt(0.3 * 0.7 / 100))
    assert binomial_se(0, 50) == 0.0 and np.isnan(binomial_se(0, 0))
    # it is the spread of the accuracy of N independent questions answered right with probability p
    rng = np.random.default_rng(0)
    n, p = 400, 0.42
    acc = 100 * rng.binomial(n, p, size=20000) / n
    assert binomial_se(int(p * n), n) == pytest.approx(acc.std(), rel=0.03)


def test_paired_difference() -> None:
    a = AnalogyResultLike(np.array([1, 1, 0, 1, -1, 0], dtype=np.int8))
    b = AnalogyResultLike(np.array([1, 0, 0, 0, 1, -1], dtype=np.int8))
    diff, se, n = paired_difference(a, b)  # type: ignore[arg-type]
    d = np.array([0, 1, 0, 1])  # the 4 questions both cover
    assert n == 4 and diff == pytest.approx(100 * d.mean()) and se == pytest.approx(100 * d.std(ddof=1) / 2)
    # identical models: zero difference, zero error
    assert paired_difference(a, a)[:2] == (0.0, 0.0)  # type: ignore[arg-type]


class AnalogyResultLike:
    """Only the per-question answers, which is all paired_difference reads."""

    def __init__(self, answers: np.ndarray) -> None:
        self.answers = answers
