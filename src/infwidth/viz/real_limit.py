"""Figure of the real-task limit experiment: curves per model, and error to the limit against width."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from infwidth.viz import save_figure

_WIDTH_COLORS = ["#c6dbef", "#6baed6", "#2171b5", "#08306b", "#041a3a"]


def _style(reading: str, widths: list[str]) -> dict[str, Any]:
    if reading == "limit":
        return {"color": "black", "lw": 2.2, "label": "muP limit (particles)", "zorder": 5}
    if reading == "NTK":
        return {"color": "tab:red", "ls": "--", "lw": 1.6, "label": "NTK (kernel GD)"}
    if reading == "NNGP":
        return {"color": "tab:orange", "ls": ":", "lw": 1.8, "label": "NNGP (kernel GD)"}
    i = widths.index(reading)
    return {"color": _WIDTH_COLORS[min(i, len(_WIDTH_COLORS) - 1)], "lw": 1.3, "label": reading}


def plot_real_limit(summary: Mapping[str, Any], path: str | os.PathLike[str], title: str = "") -> None:
    """Rows: training loss, test accuracy; one column per model; last column: error to the limit vs width."""
    curves = summary["curves"]
    models = list(dict.fromkeys(r["model"] for r in curves))
    readings = list(dict.fromkeys(r["reading"] for r in curves))
    widths = [r for r in readings if r.startswith("width")]
    fig, axes = plt.subplots(2, len(models) + 1, figsize=(3.6 * (len(models) + 1), 6.4), squeeze=False)
    for j, m in enumerate(models):
        for i, (metric, label) in enumerate((("train_loss", "training loss (last epoch)"),
                                             ("test_acc", "test accuracy"))):
            ax = axes[i][j]
            for rd in readings:
                rr = sorted((r for r in curves if r["model"] == m and r["reading"] == rd), key=lambda r: r["step"])
                t = np.array([r["step"] for r in rr])
                v = np.array([r[metric] for r in rr])
                se = np.array([r.get(f"{metric}_se", 0.0) or 0.0 for r in rr])
                st = _style(rd, widths)
                ax.plot(t, v, **st)
                if np.any(se > 0):
                    ax.fill_between(t, v - se, v + se, color=st["color"], alpha=0.25, lw=0)
            ax.set_title(m if i == 0 else "")
            ax.set_xlabel("SGD step")
            if j == 0:
                ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    ax = axes[0][-1]
    for m in models:
        e = [r for r in summary["errors"] if r["model"] == m]
        w = np.array([r["width"] for r in e], dtype=float)
        ax.errorbar(w, [r["rms_error"] for r in e], yerr=[r["rms_error_se"] for r in e], marker="o", ms=4,
                    capsize=2, label=m)
    if summary["errors"]:
        w = np.array(sorted({r["width"] for r in summary["errors"]}), dtype=float)
        e0 = max(r["rms_error"] for r in summary["errors"] if r["width"] == w[0])
        ax.plot(w, e0 * (w / w[0]) ** -0.5, "k:", lw=1, label="slope -1/2")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_title("RMS |f_width - f_limit| (test, last step)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    axes[1][-1].axis("off")
    axes[1][-1].text(0.0, 1.0, "\n".join(_caption(summary)), va="top", fontsize=7, family="monospace",
                     transform=axes[1][-1].transAxes)
    import textwrap

    fig.suptitle(textwrap.fill(title, 130), fontsize=9)
    save_figure(fig, path, dpi=110, top=0.92)


def _caption(summary: Mapping[str, Any]) -> list[str]:
    lines = ["final test accuracy (%):"]
    for r in summary["table"]:
        if r["reading"] in ("limit", "NTK", "NNGP") or r["reading"] == max(
                (t["reading"] for t in summary["table"] if t["reading"].startswith("width")),
                key=lambda s: int(s.split()[1]), default=""):
            lines.append(f"{r['model']:>7} {r['reading']:<11} {100 * r['test_acc']:5.1f}")
    return lines
