"""TP4 Table 2's figure: Omniglot meta-test accuracy against width, the muP limit as a horizontal line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infwidth.viz import save_figure


def plot_accuracy_vs_width(rows: Sequence[Mapping[str, Any]], path: str | Path,
                           paper: Mapping[str, tuple[float, float]] | None = None, title: str = "",
                           per_seed: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write the PNG: ours (mean +- std over seeds) for ``width:N`` rows against log2 width; ``limit`` and
    kernel rows as horizontal lines (kernels shaded +- std); the paper's numbers as hollow markers / dotted
    lines; with ``per_seed`` (run results: model, test_accuracy) every seed as a small dot, the limit's seeds
    in an extra column "limit" right of the widest width; a seed whose ``diverged`` field is true is drawn as a
    red cross (the means leave it out).

    ``rows``: dicts with model, accuracy, std (as :func:`infwidth.experiments.maml.aggregate`).
    Output: the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=130)
    ax.set_xscale("log", base=2)
    widths = sorted((int(r["model"].split(":")[1]), r) for r in rows if r["model"].startswith("width:"))
    if widths:
        xs = [w for w, _ in widths]
        ys = [r["accuracy"] for _, r in widths]
        es = [0.0 if r["std"] != r["std"] else r["std"] for _, r in widths]
        ax.errorbar(xs, ys, yerr=es, marker="o", color="C0", capsize=3, label="finite width muP (ours)")
    colors = {"limit": "C3", "gp-relu": "C2", "ntk-relu": "C4", "gp-linear": "C5", "ntk-linear": "C7"}
    for r in rows:
        if r["model"] in colors:
            c = colors[r["model"]]
            ax.axhline(r["accuracy"], color=c, lw=1.6, label=f"{r['model']} (ours, mean)")
            if r["std"] == r["std"] and r["model"] != "limit":
                ax.axhspan(r["accuracy"] - r["std"], r["accuracy"] + r["std"], color=c, alpha=0.15)
    if per_seed:
        x_limit = 2 * max([w for w, _ in widths], default=1)
        pts = [(int(r["model"].split(":")[1]) if r["model"].startswith("width:") else x_limit, r["test_accuracy"],
                bool(r.get("diverged", False)))
               for r in per_seed if r["model"].startswith("width:") or r["model"] == "limit"]
        kept = [(x, y) for x, y, bad in pts if not bad]
        ax.plot([x for x, _ in kept], [y for _, y in kept], ls="none", marker=".", ms=5, color="k", alpha=0.6,
                label="one seed (ours)")
        bad = [(x, y) for x, y, b in pts if b]
        if bad:
            ax.plot([x for x, _ in bad], [y for _, y in bad], ls="none", marker="x", ms=5, color="C3",
                    label="diverged seed (not in the mean)")
        ticks = sorted({x for x, _, _ in pts})
        ax.set_xticks(ticks, [("limit" if x == x_limit else f"$2^{{{x.bit_length() - 1}}}$") for x in ticks])
    if paper:
        pw = sorted((int(k.split(":")[1]), v[0]) for k, v in paper.items() if k.startswith("width:"))
        ax.plot([w for w, _ in pw], [a for _, a in pw], ls="none", marker="o", mfc="none", color="0.4",
                label="finite width (TP4)")
        if "limit" in paper:
            ax.axhline(paper["limit"][0], color="C3", ls=":", lw=1.2, label="muP limit (TP4)")
    ax.set_xlabel("width")
    ax.set_ylabel("meta-test accuracy (%)")
    ax.set_title(title or "Omniglot 5-way 1-shot, first-order MAML")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_val_curves(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write the PNG of meta-validation accuracy against meta-iterations, one line per model (mean over
    seeds). ``rows``: tidy dicts with model, seed, iterations, val_accuracy (``maml_val_curves.csv``).
    Output: the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        curves.setdefault(str(r["model"]), {}).setdefault(int(r["iterations"]), []).append(float(r["val_accuracy"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=130)
    for i, (model, by_it) in enumerate(curves.items()):
        its = sorted(by_it)
        ax.plot(its, [100 * sum(by_it[t]) / len(by_it[t]) for t in its], marker=".", color=plt.cm.tab20(i % 20),
                lw=2.2 if model == "limit" else 1.2, ls="--" if model.startswith(("gp", "ntk")) else "-", label=model)
    ax.set_xlabel("meta-iterations")
    ax.set_ylabel("meta-validation accuracy (%), 1 step")
    ax.set_title(title or "Omniglot meta-validation during meta-training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)
