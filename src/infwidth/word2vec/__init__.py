"""Word2Vec (CBOW, negative sampling) in muP: finite widths, the exact infinite-width limit, NTK (TP4 Section 9.3)."""

from infwidth.word2vec.corpus import EpochStream, StreamConfig, synthetic_corpus, unigram_table
from infwidth.word2vec.model import ModelSpec, Trainer, TrainSettings, init_params, save_trainer

__all__ = [
    "EpochStream",
    "ModelSpec",
    "StreamConfig",
    "TrainSettings",
    "Trainer",
    "init_params",
    "save_trainer",
    "synthetic_corpus",
    "unigram_table",
]
