"""The 2x2 max-learning-rate figure of TP4 Section 1: LR vs test accuracy, one curve per width.

Rows: SP, muP. Columns: x = log2(eta * width) (SP's theoretical scaling, eta_max ~ 1/n) and
x = log2(eta) (muP's, eta_max ~ 1). On the diagonal each parametrization is drawn in its own scaling,
so the right edges of the curves (the max stable LR) line up when the theory holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from infwidth.viz import save_figure

LABELS = {"sp": "SP", "mup": "muP"}


def plot_max_lr(runs: Sequence[dict[str, Any]], exponents: dict[str, dict[str, float]], out: str | Path,
                params: Sequence[str] = ("sp", "mup")) -> Path:
    """Write the 2x2 PNG from run rows (param, width, log2_lr, status, test_acc) and fitted exponents."""
    widths = sorted({int(r["width"]) for r in runs})
    cmap = plt.get_cmap("viridis")
    colors = {w: cmap(i / max(1, len(widths) - 1)) for i, w in enumerate(widths)}
    fig, axes = plt.subplots(len(params), 2, figsize=(10, 4.2 * len(params)), squeeze=False)
    scalings = [("log2(eta * width)  [SP scaling]", 1.0), ("log2(eta)  [muP scaling]", 0.0)]
    for i, pname in enumerate(params):
        for j, (xlabel, power) in enumerate(scalings):
            ax = axes[i][j]
            for w in widths:
                rows = sorted((r for r in runs if r["param"] == pname and int(r["width"]) == w
                               and r["status"] == "ok" and r.get("test_acc") not in ("", None)),
                              key=lambda r: float(r["log2_lr"]))
                if not rows:
                    continue
                xs = [float(r["log2_lr"]) + power * math.log2(w) for r in rows]
                ys = [float(r["test_acc"]) for r in rows]
                ax.plot(xs, ys, "o-", ms=3, color=colors[w], label=f"width {w}")
                ax.axvline(xs[-1], color=colors[w], lw=0.6, ls=":")
            e = exponents.get(pname, {})
            diag = (pname == "sp" and j == 0) or (pname == "mup" and j == 1)
            slope = e.get("slope", math.nan)
            ci = f"[{e.get('ci_low', math.nan):+.2f}, {e.get('ci_high', math.nan):+.2f}]"
            name = LABELS.get(pname, pname)
            theory = e.get("theory", math.nan)
            title = f"{name}: max-LR exponent {slope:+.2f} {ci} (theory {theory:+.0f})" if j == 0 else name
            ax.set_title(title + ("  (diagonal: own scaling)" if diag else ""), fontsize=9)
            ax.set_xlabel(xlabel, fontsize=9)
            ax.set_ylabel("test accuracy", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Max learning rate vs width: relu MLP, 2 hidden layers, square loss, CIFAR-10\n"
                 "(right edge of each curve = largest stable LR; dotted lines mark it)", fontsize=10)
    return save_figure(fig, out, dpi=110, top=0.95)
