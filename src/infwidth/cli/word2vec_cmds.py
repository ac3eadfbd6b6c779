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
init_option = click.option(
    "--init", type=click.Choice(["uniform", "gaussian"]), default="uniform", show_default=True,
    help="Input-embedding init of finite widths, variance 1/width: uniform (TP4's code) or gaussian.")


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
@init_option
@click.option("--eval-every", type=o.NONNEG_INT, default=0, show_default=True,
              help="Evaluate the analogies every N epochs (0: only after the last epoch, which is always evaluated).")
@click.option("--checkpoint-minutes", type=o.POSITIVE_FLOAT, default=10.0, show_default=True,
              help="Minutes between mid-epoch checkpoints (every epoch end is checkpointed too).")
@click.option("--out", required=True, type=o.OutputDir(), help="Output directory.")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --out.")
@force_option
@json_option
def word2vec_cmd(model: str, preset: str, max_vocab: int | None, epochs: int | None, max_tokens: int | None,
                 corpus: Path | None, questions: Path | None, data_dir: Path | None, seed: int, threads: int,
                 device: str, backend: str, init: str, eval_every: int, checkpoint_minutes: float, out: Path,
                 resume: bool, force: bool, as_json: bool) -> None:
    """Train CBOW Word2Vec (finite-width muP, the exact muP limit, or NTK) and report analogy accuracy.

    Accuracies are over every question whose words are in the vocabulary with the whole vocabulary as
    candidates (compute-accuracy threshold 0, as TP4) and at word2vec's 30000 threshold, each with its
    binomial standard error.

    Example: infwidth experiment word2vec --model width:64 --preset tiny --out runs/w2v-64
    """
    from infwidth.experiments.word2vec import FINISHED_FILES, Word2VecConfig, run
    from infwidth.io import refuse_overwrite

    cfg = Word2VecConfig(model=model, out=out, preset=preset, max_vocab=max_vocab, epochs=epochs,
                         max_tokens=max_tokens, corpus=corpus, questions=questions, data_dir=data_dir, seed=seed,
                         threads=threads, backend=backend, device=device, init=init, eval_every=eval_every,
                         checkpoint_every_s=60.0 * checkpoint_minutes, resume=resume, force=force)
    _check_size(cfg, (model,), force)
    refuse_overwrite(out, FINISHED_FILES, resume, force)
    info(f"word2vec {model} preset={preset} -> {out}")
    summary = run(cfg)
    if as_json:
        print_json(summary)
        return
    keys = [k for k in ("model", "vocab", "epoch", "all_total", "all_total_se", "all_covered", "top30000_total",
                        "top30000_total_se", "top30000_covered", "analytic_full_vocab", "tokens_per_s")
            if k in summary]
    print_table(f"Word2Vec analogy accuracy (%), {model}", keys, [[_fmt(summary[k]) for k in keys]])


@cli.command("analogy")
@click.argument("vectors", type=o.InputFile(VECTOR_FORMATS, VECTOR_KEYS))
@click.option("--questions", type=QUESTIONS,
              help="questions-words.txt; default: the shared copy.")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--restrict", type=o.NONNEG_INT, default=30000, show_default=True,
              help="Candidates: the N first (most frequent) words, as word2vec's compute-accuracy threshold "
              "(0: the whole vocabulary, as TP4).")
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
              show_default=True, help="Comma-separated models.")
@click.option("--seeds", type=o.SEEDS, default="0", show_default=True,
              help="Comma-separated seeds of the finite widths.")
@click.option("--limit-seeds", type=o.SEEDS, help="Seeds of the limit and NTK (default: the first of --seeds).")
@click.option("--threads", type=o.THREADS, default=2, show_default=True)
@click.option("--device", type=o.DEVICE, default="cpu", show_default=True)
@init_option
@click.option("--eval-every", type=o.NONNEG_INT, default=0, show_default=True,
              help="Evaluate every N epochs besides the last (0: the last only).")
@click.option("--corpus", type=o.InputFile(("text", "gz", "zip")),
              help="Whitespace-tokenized text (plain, .gz, or text8.zip); default: the shared text8 substitute.")
@click.option("--questions", type=QUESTIONS, help="questions-words.txt; default: the shared copy.")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--out", required=True, type=o.OutputDir(),
              help="Directory for the runs (one sub-directory per model and seed; finished ones are reused).")
@click.option("--no-run", is_flag=True, help="Only tabulate the finished runs in --out; train nothing.")
@click.option("--table", type=o.OutputFile(".md"),
              help="Markdown file: its generated block --section is (re)written, the rest of the file is kept.")
@click.option("--section", type=o.STEM, default="table3", show_default=True,
              help="Name of the generated block in --table.")
@click.option("--csv", "csv_path", type=o.OutputFile(".csv"), help="Tidy CSV of the rows.")
@click.option("--figure", type=o.OutputFile(".png"), help="Figure 1 PNG to write.")
@force_option
@json_option
def word2vec_table3_cmd(preset: str, max_vocab: int | None, epochs: int | None, max_tokens: int | None,
                        models: tuple[str, ...], seeds: tuple[int, ...], limit_seeds: tuple[int, ...] | None,
                        threads: int, device: str, init: str, eval_every: int, corpus: Path | None,
                        questions: Path | None, data_dir: Path | None, out: Path, no_run: bool, table: Path | None,
                        section: str, csv_path: Path | None, figure: Path | None, force: bool,
                        as_json: bool) -> None:
    """TP4 Table 3 and Figure 1: run NTK, widths 64/256/1024 and the muP limit, then tabulate with
    binomial standard errors, seed spreads and paired differences.

    Example: infwidth experiment word2vec-table3 --preset tiny --out runs/t3 --table runs/t3.md --figure runs/fig1.png
    """
    import sys

    from infwidth.experiments.word2vec import Word2VecConfig
    from infwidth.experiments.word2vec_table import table3

    base = Word2VecConfig(model="limit", out=out, preset=preset, max_vocab=max_vocab, epochs=epochs,
                          max_tokens=max_tokens, corpus=corpus, questions=questions, data_dir=data_dir,
                          threads=threads, device=device, init=init, eval_every=eval_every, force=force)
    if not no_run:
        _check_size(base, models, force)
    rows = table3(base, models, seeds, limit_seeds, run_missing=not no_run, markdown=table, section=section,
                  csv=csv_path, figure=figure, command="infwidth " + " ".join(sys.argv[1:]))
    if as_json:
        print_json(rows)
        return
    keys = ["model", "seeds", "all_total", "all_total_se", "all_covered", "top30000_total", "top30000_total_se",
            "top30000_covered", "vocab"]
    print_table("TP4 Table 3 (ours)", keys, [[_fmt(r.get(k, "")) for k in keys] for r in rows])
