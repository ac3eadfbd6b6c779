"""Loader for text8-style corpora: the shared text8 substitute, the real ``text8``, any text file.

A corpus is a whitespace-tokenized text (``str.split``), read from a plain, ``.gz`` or ``.zip``
file (``text8.zip`` from mattmahoney.net holds one member, ``text8``). The default corpus is the
text8 substitute ``wiki_text8like/wiki_text8like.txt.gz`` of the shared data directory (data README
section 1): 100,000,000 characters, 16,943,202 tokens.

Data-directory resolution and checksums come from :mod:`infwidth.data.paths` (flag, then
``$INFWIDTH_DATA``, then ``../shared/data``).
"""

from __future__ import annotations

import gzip
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infwidth.data.paths import data_file
from infwidth.errors import InfwidthError

TEXT8_SUBSTITUTE = "wiki_text8like/wiki_text8like.txt.gz"
TEXT8_SUBSTITUTE_SHA256 = "114215b1fd8f070a66c16311e34168950d2c212c55fa3a72d659858d65d338d3"


def resolve_data_file(relative: str, data_dir: str | Path | None = None, sha256: str | None = None) -> Path:
    """Path of ``relative`` inside the data directory (flag, ``$INFWIDTH_DATA``, ``../shared/data``),
    sha256-verified; raises InfwidthError when it is missing or corrupt (:func:`infwidth.data.paths.data_file`)."""
    return data_file(relative, data_dir=data_dir, sha256=sha256)


def read_text(path: str | Path) -> str:
    """Read a corpus file as one string: plain text, gzip (``.gz``) or a one-member zip (``text8.zip``)."""
    p = Path(path)
    if not p.is_file():
        raise InfwidthError(f"corpus file {p} does not exist; pass an existing text file (or text8 / text8.zip).")
    if p.suffix == ".gz":
        with gzip.open(p, "rt", encoding="utf-8", errors="replace") as f:
            return f.read()
    if p.suffix == ".zip":
        with zipfile.ZipFile(p) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise InfwidthError(f"{p} holds {len(names)} files; a corpus zip must hold exactly one text file.")
            return z.read(names[0]).decode("utf-8", errors="replace")
    return p.read_text(encoding="utf-8", errors="replace")


@dataclass
class EncodedCorpus:
    """A tokenized corpus encoded against its vocabulary.

    Attributes:
        words: vocabulary, most frequent first (ties broken by first occurrence).
        counts: int64 (|V|,) corpus counts of ``words``.
        ids: int32 (T,) the corpus as vocabulary indices; tokens outside the vocabulary are removed
            (as word2vec.c does), so T = counts.sum().
        raw_tokens: number of whitespace tokens before removing out-of-vocabulary ones.
        source: the file it was read from ("" when built from a token list).
    """

    words: list[str]
    counts: np.ndarray
    ids: np.ndarray
    raw_tokens: int
    source: str = ""

    @property
    def description(self) -> str:
        """What the corpus is, for reports: "text8 substitute (...)" only when it is the substitute."""
        name = Path(self.source).name
        if name == Path(TEXT8_SUBSTITUTE).name:
            return "the text8 substitute (wiki_text8like: English Wikipedia ~2015, text8 normalisation)"
        if name in ("text8", "text8.zip"):
            return f"text8 ({self.source})"
        return self.source or "a token list"


def encode_tokens(tokens: list[str], min_count: int = 5, max_vocab: int | None = None) -> EncodedCorpus:
    """Build the vocabulary of ``tokens`` and encode them.

    Inputs: the token list; ``min_count`` (words seen fewer times are dropped, word2vec's -min-count);
    ``max_vocab`` (keep only the most frequent words, after min_count; None = no cap).
    Output: :class:`EncodedCorpus` (out-of-vocabulary tokens removed from the stream).
    """
    if min_count < 1:
        raise InfwidthError(f"min_count must be >= 1, got {min_count}.")
    counter = Counter(tokens)
    # Counter preserves first-insertion order, and sorted() is stable: ties by first occurrence.
    vocab = [(w, c) for w, c in sorted(counter.items(), key=lambda wc: -wc[1]) if c >= min_count]
    if max_vocab is not None:
        if max_vocab < 2:
            raise InfwidthError(f"max_vocab must be >= 2, got {max_vocab}.")
        vocab = vocab[:max_vocab]
    if not vocab:
        raise InfwidthError(f"no word occurs at least min_count={min_count} times; lower --min-count.")
    index = {w: i for i, (w, _) in enumerate(vocab)}
    ids = np.fromiter((index.get(w, -1) for w in tokens), dtype=np.int32, count=len(tokens))
    ids = ids[ids >= 0]
    counts = np.array([c for _, c in vocab], dtype=np.int64)
    return EncodedCorpus([w for w, _ in vocab], counts, ids, len(tokens))


def load_corpus(path: str | Path | None = None, *, data_dir: str | Path | None = None, min_count: int = 5,
                max_vocab: int | None = None, max_tokens: int | None = None) -> EncodedCorpus:
    """Load and encode a corpus.

    Inputs: ``path`` (a text file; None = the shared text8 substitute, checksum-verified, or when it is
    absent the original ``text8`` of the data directory, see :mod:`infwidth.data.download`);
    ``max_tokens`` keeps only the first tokens (a corpus slice; the vocabulary is built on the slice).
    Output: :class:`EncodedCorpus`.
    """
    if path is None:
        p = data_file(TEXT8_SUBSTITUTE, data_dir=data_dir, sha256=TEXT8_SUBSTITUTE_SHA256, original=True)
    else:
        p = Path(path)
    tokens = read_text(p).split()
    if max_tokens is not None:
        tokens = tokens[:max_tokens]
    if not tokens:
        raise InfwidthError(f"corpus {p} has no tokens; pass a non-empty whitespace-tokenized text file.")
    enc = encode_tokens(tokens, min_count=min_count, max_vocab=max_vocab)
    enc.source = str(p)
    return enc
