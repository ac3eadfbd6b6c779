"""TP4 Table 3 / Figure 1 experiment: CBOW Word2Vec in muP (finite widths, exact limit) and NTK.

``run(config)`` trains one model on the text8 substitute (or any corpus), checkpoints every epoch
(and every few minutes), resumes, evaluates the analogy task every ``eval_every`` epochs and at
the end (for every compute-accuracy threshold of ``restricts``: 0 = the whole vocabulary, as TP4
ran it, and 30000, word2vec's usual value), and writes the final embeddings. Nothing here knows
about the CLI; Table 3 itself is :mod:`infwidth.experiments.word2vec_table`.

Output directory layout::

    config.json        the resolved configuration
    metrics.csv        one row per epoch: loss, training seconds, tokens/s; on evaluated epochs the
                       accuracies (``all_*``: threshold 0, ``top30000_*``: threshold 30000) with their
                       binomial standard errors (``*_se``), questions covered and candidates
    checkpoint.pt      resume point (parameters, epoch, block)
    answers.npz        per-question outcomes of the last evaluation, one int8 array per threshold
                       (``t0``, ``t30000``: 1 right, 0 wrong, -1 not covered), for paired comparisons
    vectors.npz        final embeddings: arrays ``words`` and ``vectors`` (|V|, width)
    summary.json       the last row plus model facts (NTK: analytic 1/(|V|-3) and measured)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.data.analogy import AnalogyResult, evaluate_analogies_at, load_questions, uniform_guess_accuracy
from infwidth.data.text8 import EncodedCorpus, load_corpus
from infwidth.errors import InfwidthError
from infwidth.io import atomic_open, load_checkpoint, read_csv, refuse_overwrite, rows_until, write_csv, write_json
from infwidth.word2vec.model import ModelSpec, Trainer, TrainSettings, init_params, save_trainer

# Presets. ``paper``: TP4's text8 runs (Section 9.3 and the edwardjhu/TP4 scripts): every word with
# count >= 5, 15 epochs. ``cpu``: the reduced setting of the first reproduction (10,000 words, 2 epochs;
# 16 minutes for all four models on 2 idle cores). ``tiny``: seconds, for tests.
FINISHED_FILES = ("summary.json", "checkpoint.pt")  # a run's results (or its resume point) in ``out``
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"max_tokens": 300_000, "max_vocab": 2000, "epochs": 1},
    "cpu": {"max_tokens": None, "max_vocab": 10_000, "epochs": 2},
    "paper": {"max_tokens": None, "max_vocab": None, "epochs": 15},
}
RESTRICTS = (0, 30000)  # compute-accuracy thresholds: the whole vocabulary (TP4) and word2vec's 30k
LIMIT_MAX_GIB = 16.0  # refuse a CPU limit whose two |V| x |V| float32 matrices exceed this


def prefix(restrict: int) -> str:
    """Column prefix of a threshold: ``all`` for 0 (whole vocabulary), else ``top<k>``."""
    return "all" if restrict == 0 else f"top{restrict}"


@dataclass
class Word2VecConfig:
    """One run. ``model``: ``width:N`` / ``limit`` / ``ntk[:N]``; preset values are overridden by the
    explicit ``max_vocab`` / ``epochs`` / ``max_tokens`` when given. ``eval_every``: evaluate the
    analogies every that many epochs (0: only after the last one, which is always evaluated)."""

    model: str
    out: Path
    preset: str = "tiny"
    max_vocab: int | None = None
    epochs: int | None = None
    max_tokens: int | None = None
    corpus: Path | None = None  # None = shared text8 substitute
    questions: Path | None = None  # None = shared questions-words.txt
    data_dir: Path | None = None
    min_count: int = 5
    seed: int = 0
    threads: int = 2
    backend: str = "auto"
    device: str = "cpu"
    restricts: tuple[int, ...] = RESTRICTS
    eval_every: int = 0
    init: str = "uniform"
    resume: bool = False
    force: bool = False  # replace a finished or checkpointed run in ``out``
    progress: bool = True
    checkpoint_every_s: float = 600.0
    train: TrainSettings = field(default_factory=TrainSettings)

    def resolved(self) -> dict[str, Any]:
        """The preset merged with explicit overrides: max_tokens, max_vocab, epochs."""
        if self.preset not in PRESETS:
            raise InfwidthError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}.")
        p = dict(PRESETS[self.preset])
        for k in ("max_tokens", "max_vocab", "epochs"):
            if getattr(self, k) is not None:
                p[k] = getattr(self, k)
        return p


def load_run_corpus(cfg: Word2VecConfig) -> EncodedCorpus:
    """The encoded corpus of ``cfg``'s settings (preset merged with overrides)."""
    r = cfg.resolved()
    return load_corpus(cfg.corpus, data_dir=cfg.data_dir, min_count=cfg.min_count, max_vocab=r["max_vocab"],
                       max_tokens=r["max_tokens"])


def _numeric(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row with numbers parsed back (int, then float, else the string; "" dropped)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v == "":
            continue
        for cast in (int, float):
            try:
                out[k] = cast(v)
                break
            except ValueError:
                continue
        else:
            out[k] = v
    return out


def evaluation_row(results: dict[int, AnalogyResult]) -> dict[str, Any]:
    """Flat columns for each threshold's result (``all_total``, ``all_total_se``, ``top30000_total``, ...),
    plus unprefixed ``total`` / ``semantic`` / ``syntactic`` / ``covered`` for the first threshold."""
    row: dict[str, Any] = {}
    for r, res in results.items():
        row.update({f"{prefix(r)}_{k}": v for k, v in res.summary().items()})
    first = next(iter(results.values())).summary()
    row.update({k: first[k] for k in ("semantic", "syntactic", "total", "total_se", "covered", "questions")})
    return row


def save_answers(path: Path, results: dict[int, AnalogyResult]) -> None:
    """Write the per-question outcomes of ``results`` (arrays ``t<threshold>``) atomically."""
    with atomic_open(path, "wb") as f:
        arrays: dict[str, Any] = {f"t{r}": res.answers for r, res in results.items()}
        np.savez(f, **arrays)


def _check_limit_fits(spec: ModelSpec, vocab: int, device: str) -> None:
    gib = 2 * vocab * vocab * 4 / 2**30
    if spec.kind == "limit" and device == "cpu" and gib > LIMIT_MAX_GIB:
        raise InfwidthError(f"the limit needs two {vocab}x{vocab} float32 matrices ({gib:.0f} GiB); "
                            "cap the vocabulary with --max-vocab (30000 needs 6.7 GiB) or use --device cuda.")


def run(cfg: Word2VecConfig, corpus: EncodedCorpus | None = None) -> dict[str, Any]:
    """Train (or, for ``ntk``, just initialize) the model and evaluate the analogies.

    ``corpus``: an already loaded corpus for these settings (else it is loaded from ``cfg``).
    Output: the summary dict (also written to ``summary.json``).
    """
    spec = ModelSpec.parse(cfg.model)
    r = cfg.resolved()
    out = Path(cfg.out)
    refuse_overwrite(out, FINISHED_FILES, cfg.resume, cfg.force)
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.csv"
    if corpus is None:
        corpus = load_run_corpus(cfg)
    vocab = len(corpus.words)
    _check_limit_fits(spec, vocab, cfg.device)
    sections = load_questions(cfg.questions, data_dir=cfg.data_dir)
    settings = replace(cfg.train, stream=replace(cfg.train.stream, epochs=r["epochs"]), seed=cfg.seed,
                       threads=cfg.threads, backend=cfg.backend, device=cfg.device, init=cfg.init)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"model": cfg.model, "preset": cfg.preset, **r, "vocab": vocab,
                                     "corpus_tokens": corpus.raw_tokens, "train_tokens": len(corpus.ids),
                                     "restricts": list(cfg.restricts), "eval_every": cfg.eval_every,
                                     "train": asdict(settings), "corpus": corpus.description})
    base = {"model": spec.label, "seed": cfg.seed, "vocab": vocab, "train_tokens": len(corpus.ids),
            "epochs": r["epochs"], "init": cfg.init}

    def evaluate(emb: np.ndarray) -> dict[str, Any]:
        results = evaluate_analogies_at(emb, corpus.words, sections, cfg.restricts)
        save_answers(out / "answers.npz", results)
        return evaluation_row(results)

    if spec.kind == "ntk":
        return _run_ntk(spec, corpus, cfg, out, base, evaluate)
    trainer = Trainer(corpus.ids, corpus.counts, spec, settings)
    rows: list[dict[str, Any]] = []
    if cfg.resume:
        state = load_checkpoint(ckpt_path, mmap=True)
        if state is not None:
            trainer.load_state_dict(state)
            del state
            # metrics.csv is derived: keep the epochs the checkpoint has finished (a kill between the two writes
            # leaves a row the resumed run recomputes)
            rows = rows_until([_numeric(row) for row in read_csv(metrics_path)] if metrics_path.exists() else [],
                              "epoch", trainer.epoch)
    clock = {"t": time.monotonic()}

    def on_epoch_end(tr: Trainer) -> None:
        dt = time.monotonic() - clock["t"]
        row = {**base, "epoch": tr.epoch, "loss": tr.loss_sum / max(1, tr.examples), "train_seconds": dt,
               "tokens_per_s": len(corpus.ids) / dt if dt > 0 else float("nan")}
        last = tr.epoch == settings.stream.epochs
        if last or (cfg.eval_every > 0 and tr.epoch % cfg.eval_every == 0):
            t0 = time.monotonic()
            row.update(evaluate(tr.embeddings()))
            row["eval_seconds"] = time.monotonic() - t0
        rows.append(row)
        write_csv(metrics_path, rows)
        clock["t"] = time.monotonic()

    try:
        trainer.train(on_epoch_end=on_epoch_end, checkpoint=lambda tr: save_trainer(ckpt_path, tr),
                      checkpoint_every_s=cfg.checkpoint_every_s, progress=cfg.progress)
    except KeyboardInterrupt:  # keep the work done so far for --resume
        save_trainer(ckpt_path, trainer)
        raise
    summary = {**base, **(rows[-1] if rows else {})}
    if "total" not in summary:  # finished before this version evaluated at the end: evaluate now
        summary.update(evaluate(trainer.embeddings()))
    _save_vectors(out, corpus.words, trainer.embeddings())
    write_json(out / "summary.json", summary)
    return summary


def _save_vectors(out: Path, words: list[str], vectors: np.ndarray) -> None:
    """``out/vectors.npz`` (arrays ``words`` and ``vectors``), written atomically."""
    with atomic_open(out / "vectors.npz", "wb") as f:
        np.savez(f, words=np.array(words), vectors=vectors)


def _run_ntk(spec: ModelSpec, corpus: EncodedCorpus, cfg: Word2VecConfig, out: Path, base: dict[str, Any],
             evaluate: Any) -> dict[str, Any]:
    """NNGP/NTK limit: the features never move (TP4 Corollary 3.9), so evaluate the initial ones."""
    syn0, _ = init_params(spec, len(corpus.words), cfg.seed, init=cfg.init)
    # features at init: no training (epochs 0)
    summary = {**base, "epochs": 0, "epoch": 0, **evaluate(syn0), "ntk_feature_width": spec.width,
               "analytic_full_vocab": uniform_guess_accuracy(len(corpus.words))}
    for r in cfg.restricts:
        summary[f"{prefix(r)}_analytic"] = uniform_guess_accuracy(len(corpus.words) if r == 0
                                                                  else min(r, len(corpus.words)))
    write_csv(out / "metrics.csv", [summary])
    _save_vectors(out, corpus.words, syn0)
    write_json(out / "summary.json", summary)
    return summary
