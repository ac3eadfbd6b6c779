"""The Google word-analogy test set and the analogy evaluation of TP4 Eq. (35).

``questions-words.txt`` (data README section 2): 14 sections, 19,544 questions ``a b c d`` meaning
"a is to b as c is to d"; the first 5 sections are semantic, the 9 ``gram*`` sections syntactic.

Evaluation follows word2vec's ``compute-accuracy`` (and gensim's ``evaluate_word_analogies``):
vectors are normalized to unit length, only the ``restrict`` most frequent words are candidates and
only questions whose four words are all among them are counted; the answer is
``argmax_i  h_i . (h_b - h_a + h_c)`` over the candidates other than a, b, c (Eq. (35)).
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


@dataclass
class AnalogyResult:
    """Analogy accuracies: per section (correct, counted) and semantic / syntactic / total."""

    sections: dict[str, tuple[int, int]]
    semantic_correct: int
    semantic_total: int
    syntactic_correct: int
    syntactic_total: int
    questions_total: int

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

    def summary(self) -> dict[str, float | int]:
        """Flat dict for CSV/JSON rows."""
        return {"semantic": self.semantic, "syntactic": self.syntactic, "total": self.total,
                "covered": self.covered, "questions": self.questions_total}


def evaluate_analogies(vectors: np.ndarray, words: list[str], sections: list[AnalogySection],
                       restrict: int = 30000, normalize: bool = True, batch: int = 256) -> AnalogyResult:
    """Answer every covered analogy question by Eq. (35) and count the correct answers.

    Inputs: ``vectors`` (|V|, d) embeddings h(xi), rows in the order of ``words`` (most frequent
    first); ``restrict`` candidates = the first ``restrict`` words (word2vec's compute-accuracy
    threshold, 30000); ``normalize`` (unit-length rows, as compute-accuracy and gensim do; False
    uses the raw inner products of Eq. (35)). Words are matched lowercase; for duplicate lowercase
    forms the first (most frequent) one is used.
    Output: :class:`AnalogyResult`.
    """
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise InfwidthError(f"vectors have shape {vectors.shape} but there are {len(words)} words.")
    k = min(restrict, len(words))
    emb = np.asarray(vectors[:k], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        emb = (emb / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    index: dict[str, int] = {}
    for i, w in enumerate(words[:k]):
        index.setdefault(w.lower(), i)
    per_section: dict[str, tuple[int, int]] = {}
    sem = [0, 0]
    syn = [0, 0]
    total_q = 0
    for sec in sections:
        total_q += len(sec.questions)
        q = np.array([[index[w] for w in qu] for qu in sec.questions if all(w in index for w in qu)],
                     dtype=np.int64).reshape(-1, 4)
        correct = 0
        for s in range(0, len(q), batch):
            qb = q[s:s + batch]
            target = emb[qb[:, 1]] - emb[qb[:, 0]] + emb[qb[:, 2]]
            scores = target @ emb.T
            rows = np.arange(len(qb))
            for col in range(3):
                scores[rows, qb[:, col]] = -np.inf
            correct += int(np.sum(np.argmax(scores, axis=1) == qb[:, 3]))
        per_section[sec.name] = (correct, len(q))
        acc = sem if sec.semantic else syn
        acc[0] += correct
        acc[1] += len(q)
    return AnalogyResult(per_section, sem[0], sem[1], syn[0], syn[1], total_q)


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
