"""The Google word-analogy test set and the analogy evaluation of TP4 Eq. (35).

``questions-words.txt`` (data README section 2): 14 sections, 19,544 questions ``a b c d`` meaning
"a is to b as c is to d"; the first 5 sections are semantic, the 9 ``gram*`` sections syntactic.

Evaluation follows word2vec's ``compute-accuracy`` (and gensim's ``evaluate_word_analogies``):
vectors are normalized to unit length, only the ``restrict`` most frequent words are candidates (the
threshold; 0 = the whole vocabulary, which is how TP4 ran it: ``compute-accuracy FILE 0``) and
only questions whose four words are all among them are counted; the answer is
``argmax_i  h_i . (h_b - h_a + h_c)`` over the candidates other than a, b, c (Eq. (35)).
Every accuracy comes with its binomial standard error (:func:`binomial_se`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infwidth.errors import InfwidthError

QUESTIONS_WORDS = "questions-words/questions-words.txt"
QUESTIONS_WORDS_SHA256 = "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36"


@dataclass
class AnalogySection:
    """One section of the test set: its name and questions (lowercase 4-tuples of words)."""

    name: str
    questions: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def semantic(self) -> bool:
        """True for the 5 semantic sections (names not starting with ``gram``)."""
        return not self.name.startswith("gram")


def load_questions(path: str | Path | None = None, data_dir: str | Path | None = None) -> list[AnalogySection]:
    """Read ``questions-words.txt`` (default: the shared copy, checksum-verified), lowercased."""
    if path is None:
        from infwidth.data.text8 import resolve_data_file

        path = resolve_data_file(QUESTIONS_WORDS, data_dir=data_dir, sha256=QUESTIONS_WORDS_SHA256)
    p = Path(path)
    if not p.is_file():
        raise InfwidthError(f"analogy file {p} does not exist; pass the path of questions-words.txt.")
    sections: list[AnalogySection] = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            sections.append(AnalogySection(line[1:].strip()))
            continue
        parts = line.lower().split()
        if len(parts) != 4 or not sections:
            raise InfwidthError(f"malformed analogy line {line!r} in {p}; expected ': section' or four words.")
        sections[-1].questions.append((parts[0], parts[1], parts[2], parts[3]))
    return sections


def binomial_se(correct: int, n: int) -> float:
    """Binomial standard error of an accuracy, in percent: 100 sqrt(p (1 - p) / n) with p = correct / n.

    (NaN when n = 0.) Treats the n questions as independent draws at the true accuracy."""
    if n <= 0:
        return float("nan")
    p = correct / n
    return 100.0 * float(np.sqrt(p * (1.0 - p) / n))


@dataclass
class AnalogyResult:
    """Analogy accuracies: per section (correct, counted), semantic / syntactic / total, and which
    questions were answered right.

    ``candidates``: how many words could be answers (the compute-accuracy threshold, or |V| for 0).
    ``answers``: int8 array, one entry per question of the test set in file order: 1 right, 0 wrong,
    -1 not covered (a word outside the candidates); used for paired comparisons of two models.
    """

    sections: dict[str, tuple[int, int]]
    semantic_correct: int
    semantic_total: int
    syntactic_correct: int
    syntactic_total: int
    questions_total: int
    candidates: int = 0
    answers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    @staticmethod
    def _pct(c: int, n: int) -> float:
        return 100.0 * c / n if n else float("nan")

    @property
    def semantic(self) -> float:
        """Semantic accuracy in percent (NaN if no question is covered)."""
        return self._pct(self.semantic_correct, self.semantic_total)

    @property
    def syntactic(self) -> float:
        """Syntactic accuracy in percent."""
        return self._pct(self.syntactic_correct, self.syntactic_total)

    @property
    def total(self) -> float:
        """Total accuracy in percent over the covered questions."""
        return self._pct(self.semantic_correct + self.syntactic_correct, self.covered)

    @property
    def covered(self) -> int:
        """Number of questions whose four words are candidates."""
        return self.semantic_total + self.syntactic_total

    @property
    def total_se(self) -> float:
        """Binomial standard error of :attr:`total`, in percent (:func:`binomial_se`)."""
        return binomial_se(self.semantic_correct + self.syntactic_correct, self.covered)

    def summary(self) -> dict[str, float | int]:
        """Flat dict for CSV/JSON rows (accuracies and their binomial standard errors in percent)."""
        return {"semantic": self.semantic, "semantic_se": binomial_se(self.semantic_correct, self.semantic_total),
                "syntactic": self.syntactic,
                "syntactic_se": binomial_se(self.syntactic_correct, self.syntactic_total),
                "total": self.total, "total_se": self.total_se, "covered": self.covered,
                "questions": self.questions_total, "candidates": self.candidates}


def _threshold(restrict: int | None, vocab: int) -> int:
    """Number of candidate words for a compute-accuracy threshold (0 or None: the whole vocabulary)."""
    if restrict is not None and restrict < 0:
        raise InfwidthError(f"the analogy threshold must be >= 0 (0 = whole vocabulary), got {restrict}.")
    return vocab if not restrict else min(restrict, vocab)


def evaluate_analogies_at(vectors: np.ndarray, words: list[str], sections: list[AnalogySection],
                          restricts: tuple[int, ...] = (0, 30000), normalize: bool = True,
                          batch: int = 512) -> dict[int, AnalogyResult]:
    """Answer the analogy questions by Eq. (35) for several compute-accuracy thresholds at once.

    Inputs: ``vectors`` (|V|, d) embeddings h(xi), rows in the order of ``words`` (most frequent
    first); ``restricts``: thresholds k, each making the first k words the candidates and counting
    only the questions whose four words are among them (0 = the whole vocabulary, as TP4's
    ``compute-accuracy FILE 0``; 30000 is word2vec's usual value); ``normalize``: rank by cosine
    (unit-length rows, as compute-accuracy and gensim) or by the raw inner products of Eq. (35).
    Words are matched lowercase; for duplicate lowercase forms the first (most frequent) one is used.

    The scores of a batch of questions against every candidate are one matrix product, shared by
    all thresholds; the embeddings are never copied (column norms scale the scores instead), so the
    |V| x |V| embeddings of the Word2Vec limit can be evaluated in place.
    Output: {threshold: :class:`AnalogyResult`}.
    """
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise InfwidthError(f"vectors have shape {vectors.shape} but there are {len(words)} words.")
    ks = {r: _threshold(r, len(words)) for r in restricts}
    kmax = max(ks.values())
    emb = np.asarray(vectors[:kmax], dtype=np.float32)  # a view when already float32
    inv = np.ones(kmax, dtype=np.float32)
    if normalize:
        sq = np.einsum("ij,ij->i", emb, emb, dtype=np.float64)
        inv = np.where(sq > 0, 1.0 / np.sqrt(np.where(sq > 0, sq, 1.0)), 1.0).astype(np.float32)
    index: dict[str, int] = {}
    for i, w in enumerate(words[:kmax]):
        index.setdefault(w.lower(), i)
    flat = [qu for sec in sections for qu in sec.questions]
    q = np.array([[index.get(w, -1) for w in qu] for qu in flat], dtype=np.int64).reshape(-1, 4)
    sec_of = np.repeat(np.arange(len(sections)), [len(sec.questions) for sec in sections])
    ok = np.flatnonzero((q >= 0).all(axis=1))
    hit = {r: np.full(len(q), -1, dtype=np.int8) for r in ks}
    for s in range(0, len(ok), batch):
        rows = ok[s:s + batch]
        qb = q[rows]
        unit = emb[qb[:, :3]] * inv[qb[:, :3], None]  # (B, 3, d): a, b, c at unit length
        target = unit[:, 1] - unit[:, 0] + unit[:, 2]
        scores = (target @ emb.T) * inv[None, :]
        r_idx = np.arange(len(qb))
        for col in range(3):
            scores[r_idx, qb[:, col]] = -np.inf
        top = qb.max(axis=1)
        for r, k in ks.items():
            inside = top < k
            pred = np.argmax(scores[inside, :k], axis=1)
            hit[r][rows[inside]] = (pred == qb[inside, 3]).astype(np.int8)
    return {r: _tally(hit[r], sec_of, sections, ks[r]) for r in ks}


def _tally(hit: np.ndarray, sec_of: np.ndarray, sections: list[AnalogySection], candidates: int) -> AnalogyResult:
    """Count the per-question outcomes ``hit`` (1 right, 0 wrong, -1 not covered) per section."""
    per_section: dict[str, tuple[int, int]] = {}
    sem, syn = [0, 0], [0, 0]
    for j, sec in enumerate(sections):
        h = hit[sec_of == j]
        correct, n = int(np.sum(h == 1)), int(np.sum(h >= 0))
        per_section[sec.name] = (correct, n)
        acc = sem if sec.semantic else syn
        acc[0] += correct
        acc[1] += n
    return AnalogyResult(per_section, sem[0], sem[1], syn[0], syn[1], len(hit), candidates, hit)


def evaluate_analogies(vectors: np.ndarray, words: list[str], sections: list[AnalogySection],
                       restrict: int = 30000, normalize: bool = True, batch: int = 512) -> AnalogyResult:
    """Answer every covered analogy question by Eq. (35) and count the correct answers.

    Inputs: ``vectors`` (|V|, d) embeddings, rows in the order of ``words`` (most frequent first);
    ``restrict``: candidates = the first ``restrict`` words (word2vec's compute-accuracy threshold;
    0 = the whole vocabulary); ``normalize`` as in :func:`evaluate_analogies_at`.
    Output: :class:`AnalogyResult`.
    """
    return evaluate_analogies_at(vectors, words, sections, (restrict,), normalize, batch)[restrict]


def paired_difference(a: AnalogyResult, b: AnalogyResult) -> tuple[float, float, int]:
    """Accuracy of ``a`` minus that of ``b`` over the questions both cover, and its standard error.

    The two models answer the same questions, so the difference is paired: with d_i = a_i - b_i in
    {-1, 0, 1} per question, the estimate is mean(d) and its standard error sqrt(var(d) / N)
    (the normal approximation behind McNemar's test). Output: (difference, se, N), in percent.
    """
    if a.answers.shape != b.answers.shape or not len(a.answers):
        raise InfwidthError("paired comparison needs per-question answers on the same test set.")
    both = (a.answers >= 0) & (b.answers >= 0)
    n = int(both.sum())
    if n < 2:
        return float("nan"), float("nan"), n
    d = a.answers[both].astype(np.float64) - b.answers[both]
    return 100.0 * float(d.mean()), 100.0 * float(d.std(ddof=1) / np.sqrt(n)), n


def uniform_guess_accuracy(vocab_size: int) -> float:
    """Accuracy (percent) of a uniformly random answer over |V| - 3 candidates: 100 / (|V| - 3).

    This is the NNGP/NTK-limit accuracy of TP4 Section 9.3 (features fixed at initialization, so the
    argmax of Eq. (35) is uniform over the vocabulary).
    """
    if vocab_size <= 3:
        raise InfwidthError(f"vocabulary size must exceed 3, got {vocab_size}.")
    return 100.0 / (vocab_size - 3)


def read_word_vectors(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read embeddings in word2vec/gensim text format (``V d`` header, then ``word x1 .. xd`` lines)
    or word2vec binary format (``.bin``), or an ``.npz`` with arrays ``words`` and ``vectors``.

    Output: (words, float32 array (V, d)).
    """
    p = Path(path)
    if not p.is_file():
        raise InfwidthError(f"vectors file {p} does not exist.")
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if "words" not in z or "vectors" not in z:
                raise InfwidthError(f"{p} must contain arrays 'words' and 'vectors'.")
            return [str(w) for w in z["words"]], np.asarray(z["vectors"], dtype=np.float32)
    with open(p, "rb") as f:
        header = f.readline().split()
        if len(header) != 2:
            raise InfwidthError(f"{p}: first line must be '<vocab size> <dim>' (word2vec format).")
        n, d = int(header[0]), int(header[1])
        words: list[str] = []
        vecs = np.empty((n, d), dtype=np.float32)
        binary = p.suffix == ".bin"
        for i in range(n):
            if binary:
                chars = bytearray()
                while (ch := f.read(1)) not in (b" ", b""):
                    if ch != b"\n":
                        chars += ch
                words.append(chars.decode("utf-8", errors="replace"))
                vecs[i] = np.frombuffer(f.read(4 * d), dtype=np.float32)
            else:
                parts = f.readline().rstrip().split(b" ")
                if len(parts) != d + 1:
                    raise InfwidthError(f"{p}: line {i + 2} has {len(parts) - 1} numbers, expected {d}.")
                words.append(parts[0].decode("utf-8", errors="replace"))
                vecs[i] = np.array(parts[1:], dtype=np.float32)
    return words, vecs


def write_word_vectors(path: str | Path, words: list[str], vectors: np.ndarray) -> None:
    """Write embeddings in word2vec text format (readable by gensim ``KeyedVectors.load_word2vec_format``)."""
    from infwidth.io import atomic_open

    with atomic_open(path) as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, v in zip(words, vectors):
            f.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")
