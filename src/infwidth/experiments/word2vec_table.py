"""TP4 Table 3 from runs of :mod:`infwidth.experiments.word2vec`: accuracies with standard errors.

``table3(base, models, seeds)`` runs (or, with ``run_missing=False``, only collects) every model and
seed with the settings of ``base`` -- one sub-directory of ``base.out`` per run, each resumable --
and writes a generated Markdown block (ours next to TP4's), a tidy CSV and Figure 1.

Uncertainties, all in accuracy points (percent):

* binomial SE of one run's accuracy over its N covered questions: 100 sqrt(p (1 - p) / N);
* seed SD: the sample standard deviation of the accuracy over seeds (training randomness only:
  every seed answers the same questions);
* paired differences between two models with the same seed (same example stream, same questions):
  mean and SE of the per-question difference (:func:`infwidth.data.analogy.paired_difference`);
  over several common seeds the mean difference with SE sqrt(mean_i se_i^2 + var_seeds / k).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.data.analogy import AnalogyResult
from infwidth.data.text8 import EncodedCorpus
from infwidth.errors import InfwidthError
from infwidth.experiments.word2vec import Word2VecConfig, load_run_corpus, prefix, run
from infwidth.io import read_json, write_csv, write_generated_block
from infwidth.word2vec.model import ModelSpec, init_params

PAPER_TABLE3 = {"width64": 33.35, "width256": 41.58, "width1024": 42.56, "limit": 43.31, "ntk": 0.0}
TABLE3_MODELS = ("ntk", "width:64", "width:256", "width:1024", "limit")


def run_dir(out: str | Path, label: str, seed: int) -> Path:
    """Sub-directory of one run: ``<out>/<label>`` for seed 0, ``<out>/<label>-seed<s>`` otherwise."""
    return Path(out) / (label if seed == 0 else f"{label}-seed{seed}")


@dataclass
class FinishedRun:
    """A finished run: its model label, seed, summary and per-question answers per threshold."""

    label: str
    seed: int
    path: Path
    summary: dict[str, Any]
    answers: dict[int, np.ndarray]

    @staticmethod
    def load(path: Path, label: str, seed: int) -> FinishedRun:
        summary: dict[str, Any] = read_json(path / "summary.json")
        answers: dict[int, np.ndarray] = {}
        if (path / "answers.npz").exists():
            with np.load(path / "answers.npz") as z:
                answers = {int(k[1:]): np.asarray(z[k]) for k in z.files}
        return FinishedRun(label, seed, path, summary, answers)

    def result(self, r: int) -> AnalogyResult:
        """The per-question answers at threshold ``r`` as an :class:`AnalogyResult` (counts only)."""
        a = self.answers[r]
        return AnalogyResult({}, 0, 0, int(np.sum(a == 1)), int(np.sum(a >= 0)), len(a), 0, a)


def _num(x: Any) -> float:
    """A number from a summary (JSON null, written for NaN, back to NaN)."""
    return float("nan") if x is None else float(x)


def paired(a_runs: list[FinishedRun], b_runs: list[FinishedRun], r: int) -> tuple[float, float, int] | None:
    """Mean over common seeds of the paired difference a - b at threshold ``r``, its SE, and the seeds used."""
    from infwidth.data.analogy import paired_difference

    b_of = {x.seed: x for x in b_runs}
    diffs = [paired_difference(x.result(r), b_of[x.seed].result(r)) for x in a_runs
             if x.seed in b_of and r in x.answers and r in b_of[x.seed].answers]
    if not diffs:
        return None
    d = np.array([x[0] for x in diffs])
    se2 = np.mean([x[1] ** 2 for x in diffs]) + (d.var(ddof=1) / len(d) if len(d) > 1 else 0.0)
    return float(d.mean()), float(np.sqrt(se2)), len(d)


def _collect(base: Word2VecConfig, models: tuple[str, ...], seeds: tuple[int, ...], limit_seeds: tuple[int, ...],
             run_missing: bool) -> tuple[dict[str, list[FinishedRun]], list[str]]:
    """Finished runs per model label (running the missing ones when ``run_missing``), and the missing ones."""
    runs: dict[str, list[FinishedRun]] = {}
    missing: list[str] = []
    corpus: EncodedCorpus | None = None
    for m in models:
        spec = ModelSpec.parse(m)
        for seed in (limit_seeds if spec.kind in ("limit", "ntk") else seeds):
            sub = run_dir(base.out, spec.label, seed)
            if not (sub / "summary.json").exists():
                if not run_missing:
                    missing.append(str(sub))
                    continue
                corpus = corpus or load_run_corpus(base)
                run(replace(base, model=m, seed=seed, out=sub, resume=True), corpus)
            runs.setdefault(spec.label, []).append(FinishedRun.load(sub, spec.label, seed))
    return runs, missing


def _gram_distances(runs: dict[str, list[FinishedRun]]) -> dict[tuple[str, int], tuple[float, float]]:
    """:func:`gram_distances` of each finite-width run to the limit run with the same seed."""
    out: dict[tuple[str, int], tuple[float, float]] = {}
    for lim in runs.get("limit", []):
        with np.load(lim.path / "vectors.npz") as z:
            a = np.asarray(z["vectors"][:2000])
        for label, group in runs.items():
            for x in group:
                if label.startswith("width") and x.seed == lim.seed:
                    with np.load(x.path / "vectors.npz") as z:
                        emb = np.asarray(z["vectors"])
                    init = str(x.summary.get("init", "gaussian"))
                    emb0, _ = init_params(ModelSpec("width", emb.shape[1]), len(emb), x.seed, init=init)
                    out[(label, x.seed)] = gram_distances(emb, emb0, a)
    return out


def gram_distances(emb: np.ndarray, emb0: np.ndarray, emb_limit: np.ndarray, top: int = 2000) -> tuple[float, float]:
    """Distances between the Gram matrices of the ``top`` most frequent words (same words, same order).

    Inputs: finite-width embeddings ``emb`` (E) and their initialization ``emb0`` (Z), the limit's
    ``emb_limit`` (A, initialized at I). Output: (||E E^T - A A^T|| / ||A A^T||,
    ||(E E^T - Z Z^T) - (A A^T - I)|| / ||A A^T - I||), Frobenius norms: the whole Gram matrix and its
    learned part. Both tend to 0 as the width grows when the runs share the example stream.
    """
    e, z, a = (x[:top].astype(np.float64) for x in (emb, emb0, emb_limit))
    g_inf = a @ a.T
    learned_inf = g_inf - np.eye(len(a))
    whole = np.linalg.norm(e @ e.T - g_inf) / np.linalg.norm(g_inf)
    learned = np.linalg.norm(e @ e.T - z @ z.T - learned_inf) / np.linalg.norm(learned_inf)
    return float(whole), float(learned)


def _aggregate(runs: dict[str, list[FinishedRun]], restricts: tuple[int, ...],
               grams: dict[tuple[str, int], tuple[float, float]]) -> list[dict[str, Any]]:
    """One row per model: means over seeds, binomial SEs, seed SD, loss, Gram distance, paired diff vs limit."""
    rows = []
    for label, group in runs.items():
        row: dict[str, Any] = {"model": label, "seeds": " ".join(str(x.seed) for x in group),
                               "vocab": group[0].summary["vocab"],
                               "epochs": 0 if label == "ntk" else group[0].summary.get("epochs"),  # NTK: untrained
                               "paper_total": PAPER_TABLE3.get(label, float("nan"))}
        for r in restricts:
            pre = prefix(r)
            for key in ("total", "semantic", "syntactic"):
                vals = np.array([_num(x.summary[f"{pre}_{key}"]) for x in group])
                row[f"{pre}_{key}"] = float(vals.mean())
                row[f"{pre}_{key}_se"] = float(np.mean([_num(x.summary[f"{pre}_{key}_se"]) for x in group]))
                row[f"{pre}_{key}_seed_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
            row[f"{pre}_covered"] = int(group[0].summary[f"{pre}_covered"])
            row[f"{pre}_candidates"] = int(group[0].summary[f"{pre}_candidates"])
            if label not in ("limit", "ntk") and "limit" in runs:
                d = paired(group, runs["limit"], r)
                if d is not None:
                    row[f"{pre}_minus_limit"], row[f"{pre}_minus_limit_se"] = d[0], d[1]
        losses = [_num(x.summary["loss"]) for x in group if "loss" in x.summary]
        if losses:
            row["loss"] = float(np.mean(losses))
        g = [grams[(label, x.seed)] for x in group if (label, x.seed) in grams]
        if g:
            row["gram_distance_to_limit"], row["learned_gram_distance_to_limit"] = g[0]
        if label == "ntk":
            row["analytic"] = _num(group[0].summary["analytic_full_vocab"])
        rows.append(row)
    return rows


def comparisons(runs: dict[str, list[FinishedRun]], order: list[str], restricts: tuple[int, ...]) -> list[str]:
    """Markdown lines: each consecutive pair of ``order`` (and each model vs the limit), paired differences
    with SEs, and whether the difference is resolved (|difference| > 2 SE)."""
    pairs = [(order[i + 1], order[i]) for i in range(len(order) - 1)]
    if "limit" in order:
        pairs += [("limit", m) for m in order if m not in ("limit", "ntk") and (("limit", m) not in pairs)]
    lines = []
    for hi, lo in pairs:
        parts = []
        for r in restricts:
            d = paired(runs[hi], runs[lo], r)
            if d is None:
                continue
            verdict = "resolved" if abs(d[0]) > 2 * d[1] else "NOT resolved"
            parts.append(f"{_thr(r)}: {d[0]:+.2f} ± {d[1]:.2f} ({verdict}, {d[2]} seed(s))")
        if parts:
            lines.append(f"* {hi} − {lo}: " + "; ".join(parts))
    return lines


def _thr(r: int) -> str:
    return "all words" if r == 0 else f"top {r}"


def table3(base: Word2VecConfig, models: tuple[str, ...] = TABLE3_MODELS, seeds: tuple[int, ...] = (0,),
           limit_seeds: tuple[int, ...] | None = None, run_missing: bool = True, markdown: Path | None = None,
           section: str = "table3", csv: Path | None = None, figure: Path | None = None,
           command: str = "") -> list[dict[str, Any]]:
    """Run (or collect) every model x seed of Table 3 with the settings of ``base`` and write the outputs.

    ``limit_seeds`` (default: the first of ``seeds``) are the seeds of the limit (its runs are the costly
    ones) and of NTK (features at initialization: one seed shows it is at chance).
    ``markdown``: file whose generated block ``section`` is (re)written; text outside it is kept.
    Output: the per-model rows (also written to ``csv``).
    """
    runs, missing = _collect(base, models, seeds, limit_seeds or seeds[:1], run_missing)
    if not runs:
        raise InfwidthError(f"no finished Word2Vec runs in {base.out}; run them first or drop --no-run.")
    rows = _aggregate(runs, base.restricts, _gram_distances(runs))
    if csv is not None:
        write_csv(csv, rows)
    if markdown is not None:
        from infwidth.experiments.word2vec_report import table3_markdown

        order = [ModelSpec.parse(m).label for m in models if ModelSpec.parse(m).label in runs]
        text = table3_markdown(rows, base, comparisons(runs, [m for m in order if m != "ntk"], base.restricts),
                               missing, command, runs)
        write_generated_block(markdown, section, text)
    if figure is not None:
        _figure(runs, base, figure)
    return rows


def _figure(runs: dict[str, list[FinishedRun]], base: Word2VecConfig, path: Path) -> None:
    from infwidth.data.analogy import load_questions, read_word_vectors
    from infwidth.viz.word2vec import plot_city_state_pca

    panels = []
    for label, title in (("ntk", "NTK (features at init)"), ("width64", "muP width 64"),
                         ("limit", "muP limit (width infinity)")):
        first = next((x for x in runs.get(label, []) if x.seed == 0), None)
        if first is not None:
            words, vecs = read_word_vectors(first.path / "vectors.npz")
            panels.append((title, words, vecs))
    plot_city_state_pca(panels, load_questions(base.questions, data_dir=base.data_dir), path)
