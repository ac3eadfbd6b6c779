"""CLI: ``experiment word2vec`` (TP4 Table 3) and ``analogy`` (evaluate saved embeddings)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from infwidth.cli import cli, experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.errors import InfwidthError

if TYPE_CHECKING:
    from infwidth.experiments.word2vec import Word2VecConfig


def _fmt(x: object) -> str:
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def _check_model(text: str) -> None:
    from infwidth.word2vec.model import ModelSpec

    ModelSpec.parse(text)


VECTOR_FORMATS = ("text", "bin", "npz")
VECTOR_KEYS = ("words", "vectors")


def _panel(spec: str) -> tuple[str, Path]:
    """``TITLE=RUN_DIR`` -> (title, vectors file): RUN_DIR/vectors.npz, or RUN_DIR itself if it is a file."""
    from infwidth.io import check_input_file

    title, sep, where = spec.partition("=")
    if not sep or not title.strip() or not where.strip():
        raise InfwidthError(f"--panel {spec!r} must look like TITLE=RUN_DIR.")
    p = Path(where)
    return title, check_input_file(p / "vectors.npz" if p.is_dir() else p, VECTOR_FORMATS, VECTOR_KEYS)


MODEL = o.Spec(_check_model, "model", "width:64")


def _check_size(cfg: Word2VecConfig, models: tuple[str, ...], force: bool) -> None:
    """Refuse models whose embedding tables or training time cannot fit (infwidth.cli.estimates.word2vec)."""
    from infwidth.cli.estimates import word2vec
    from infwidth.resources import check
    from infwidth.word2vec.model import ModelSpec

    r = cfg.resolved()
    for m in models:
        spec = ModelSpec.parse(m)
        est = word2vec(None if spec.kind == "limit" else spec.width, r["max_vocab"], r["max_tokens"],
                       0 if spec.kind == "ntk" else r["epochs"])
        check(est, force, "use a smaller width, --max-vocab, --max-tokens or fewer --epochs", cfg.device)
QUESTIONS = o.InputFile(("text",))


@experiment.command("word2vec")
@click.option("--model", type=MODEL, required=True,
              help="width:N (finite-width muP, e.g. width:256), limit (exact muP limit), "
              "or ntk[:N] (features fixed at init).")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "paper"]), default="tiny", show_default=True,
              help="tiny: seconds; cpu: reduced Table 3 (~2 h for 4 models on 2 cores); paper: TP4's settings.")
@click.option("--max-vocab", type=o.POSITIVE_INT,
              help="Keep only the N most frequent words (needed for the limit on CPU).")
@click.option("--epochs", type=o.SIZE, help="Override the preset's number of epochs.")
@click.option("--max-tokens", type=o.POSITIVE_INT, help="Train on the first N corpus tokens only.")
@click.option("--corpus", type=o.InputFile(("text", "gz", "zip")),
              help="Whitespace-tokenized text (plain, .gz, or text8.zip); default: the shared text8 substitute.")
@click.option("--questions", type=QUESTIONS,
              help="questions-words.txt; default: the shared copy.")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--seed", type=o.SEED, default=0, show_default=True)
@click.option("--threads", type=o.THREADS, default=2, show_default=True, help="CPU threads (1 = deterministic).")
@click.option("--device", type=o.DEVICE, default="cpu", show_default=True,
              help="cpu, or cuda for the PyTorch GPU path.")
@click.option("--backend", type=click.Choice(["auto", "numba", "torch"]), default="auto", show_default=True)
@click.option("--out", required=True, type=o.OutputDir(), help="Output directory.")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --out.")
@force_option
@json_option
def word2vec_cmd(model: str, preset: str, max_vocab: int | None, epochs: int | None, max_tokens: int | None,
                 corpus: Path | None, questions: Path | None, data_dir: Path | None, seed: int, threads: int,
                 device: str, backend: str, out: Path, resume: bool, force: bool, as_json: bool) -> None:
    """Train CBOW Word2Vec (finite-width muP, the exact muP limit, or NTK) and report analogy accuracy.

    Example: infwidth experiment word2vec --model width:64 --preset tiny --out runs/w2v-64
    """
    from infwidth.experiments.word2vec import FINISHED_FILES, Word2VecConfig, run
    from infwidth.io import refuse_overwrite

    cfg = Word2VecConfig(model=model, out=out, preset=preset, max_vocab=max_vocab, epochs=epochs,
                         max_tokens=max_tokens, corpus=corpus, questions=questions, data_dir=data_dir, seed=seed,
                         threads=threads, backend=backend, device=device, resume=resume, force=force)
    _check_size(cfg, (model,), force)
    refuse_overwrite(out, FINISHED_FILES, resume, force)
    info(f"word2vec {model} preset={preset} -> {out}")
    summary = run(cfg)
    if as_json:
        print_json(summary)
        return
    keys = [k for k in ("model", "vocab", "train_tokens", "epoch", "semantic", "syntactic", "total", "covered",
                        "analytic_full_vocab", "analytic_candidates", "tokens_per_s") if k in summary]
    print_table(f"Word2Vec analogy accuracy (%), {model}", keys, [[_fmt(summary[k]) for k in keys]])


@cli.command("analogy")
@click.argument("vectors", type=o.InputFile(VECTOR_FORMATS, VECTOR_KEYS))
@click.option("--questions", type=QUESTIONS,
              help="questions-words.txt; default: the shared copy.")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--restrict", type=o.POSITIVE_INT, default=30000, show_default=True,
              help="Candidates: the N first (most frequent) words, as word2vec's compute-accuracy.")
@click.option("--sections", "show_sections", is_flag=True, help="Also print per-section accuracies.")
@json_option
def analogy_cmd(vectors: Path, questions: Path | None, data_dir: Path | None, restrict: int, show_sections: bool,
                as_json: bool) -> None:
    """Evaluate saved embeddings on the word-analogy task (TP4 Eq. (35)).

    VECTORS: word2vec/gensim text format, word2vec binary (.bin), or an .npz with 'words' and 'vectors'
    (as written by `infwidth experiment word2vec`). Words must be ordered by decreasing frequency.

    Example: infwidth analogy runs/w2v-64/vectors.npz
    """
    from infwidth.data.analogy import evaluate_analogies, load_questions, read_word_vectors

    words, vecs = read_word_vectors(vectors)
    res = evaluate_analogies(vecs, words, load_questions(questions, data_dir=data_dir), restrict=restrict)
    if as_json:
        per = {k: {"correct": c, "counted": n} for k, (c, n) in res.sections.items()}
        print_json({**res.summary(), "sections": per})
        return
    s = res.summary()
    print_table(f"analogy accuracy (%) of {vectors}", list(s), [[_fmt(v) for v in s.values()]])
    if show_sections:
        print_table("per section", ["section", "correct", "counted", "accuracy"],
                    [[k, str(c), str(n), _fmt(100.0 * c / n if n else float("nan"))]
                     for k, (c, n) in res.sections.items()])


@cli.command("word2vec-figure")
@click.option("--panel", "panels", type=o.Spec(_panel, "panel", "A=run"), multiple=True, required=True,
              metavar="TITLE=RUN_DIR",
              help="A panel: its title and a run directory of `experiment word2vec` (or a vectors file).")
@click.option("--questions", type=QUESTIONS,
              help="questions-words.txt; default: the shared copy.")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--out", required=True, type=o.OutputFile(".png"), help="PNG to write.")
def word2vec_figure_cmd(panels: tuple[str, ...], questions: Path | None, data_dir: Path | None, out: Path) -> None:
    """TP4 Figure 1: PCA of the embeddings of US cities and states, one panel per run.

    Example: infwidth word2vec-figure --panel NTK=runs/ntk --panel "width 64=runs/w64"
    --panel "muP limit=runs/limit" --out results/word2vec_figure1.png
    """
    from infwidth.data.analogy import load_questions, read_word_vectors
    from infwidth.viz.word2vec import plot_city_state_pca

    loaded = []
    for spec in panels:
        title, path = _panel(spec)
        words, vecs = read_word_vectors(path)
        loaded.append((title, words, vecs))
    path = plot_city_state_pca(loaded, load_questions(questions, data_dir=data_dir), out)
    info(f"wrote {path}")


@experiment.command("word2vec-table3")
@click.option("--preset", type=click.Choice(["tiny", "cpu", "paper"]), default="tiny", show_default=True)
@click.option("--max-vocab", type=o.POSITIVE_INT, help="Vocabulary cap (default: the preset's).")
@click.option("--epochs", type=o.SIZE, help="Override the preset's number of epochs.")
@click.option("--max-tokens", type=o.POSITIVE_INT, help="Train on the first N corpus tokens only.")
@click.option("--models", type=o.CommaList(MODEL, unique=True), default="ntk,width:64,width:256,width:1024,limit",
              show_default=True,
              help="Comma-separated models.")
@click.option("--seed", type=o.SEED, default=0, show_default=True)
@click.option("--threads", type=o.THREADS, default=2, show_default=True)
@click.option("--device", type=o.DEVICE, default="cpu", show_default=True)
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--out", required=True, type=o.OutputDir(),
              help="Directory for the runs (one sub-directory per model; finished ones are reused).")
@click.option("--table", type=o.OutputFile(".md"), help="Markdown table to write.")
@click.option("--figure", type=o.OutputFile(".png"), help="Figure 1 PNG to write.")
@click.option("--resume", is_flag=True, help="Continue interrupted runs in --out.")
@force_option
@json_option
def word2vec_table3_cmd(preset: str, max_vocab: int | None, epochs: int | None, max_tokens: int | None,
                        models: tuple[str, ...],
                        seed: int, threads: int, device: str, data_dir: Path | None, out: Path, table: Path | None,
                        figure: Path | None, resume: bool, force: bool, as_json: bool) -> None:
    """TP4 Table 3 and Figure 1: run NTK, widths 64/256/1024 and the muP limit, then tabulate.

    Example: infwidth experiment word2vec-table3 --preset tiny --out runs/t3 --table t3.md --figure fig1.png
    """
    import sys

    from infwidth.experiments.word2vec import Word2VecConfig, table3

    base = Word2VecConfig(model="limit", out=out, preset=preset, max_vocab=max_vocab, epochs=epochs,
                          max_tokens=max_tokens, data_dir=data_dir, seed=seed, threads=threads, device=device,
                          resume=resume, force=force)
    _check_size(base, models, force)
    rows = table3(base, models, markdown=table, figure=figure,
                  command="infwidth " + " ".join(sys.argv[1:]))
    if as_json:
        print_json(rows)
        return
    keys = ["model", "total", "semantic", "syntactic", "covered", "vocab"]
    print_table("TP4 Table 3 (ours)", keys, [[_fmt(r[k]) for k in keys] for r in rows])
