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
    """Write the 2x2 PNG from run rows (param, width, log2_lr, status, test_acc) and fitted exponents.

    With several seeds only the first seed's curves are drawn (the exponent is fitted to all of them)."""
    seeds = sorted({int(r["seed"]) for r in runs if r.get("seed") not in (None, "")})
    if seeds:
        runs = [r for r in runs if r.get("seed") in (None, "") or int(r["seed"]) == seeds[0]]
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


def plot_max_lr_vs_width(table: Sequence[dict[str, Any]], exponents: dict[str, dict[str, float]], out: str | Path,
                         params: Sequence[str] = ("sp", "mup")) -> Path:
    """Write log2(max LR) against log2(width): one point per (width, seed) estimate (censored ones hollow),
    the fitted line with its slope and 95% interval, and a line of the theory's slope through the mean."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for pname, color in zip(params, ("tab:red", "tab:blue", "tab:green")):
        rows = [r for r in table if r["param"] == pname]
        if not rows:
            continue
        x = np.array([math.log2(int(r["width"])) for r in rows])
        y = np.array([float(r["log2_max_lr_estimate"]) for r in rows])
        cens = np.array([bool(r["censored"]) for r in rows])
        jitter = 0.04 * (np.array([int(r.get("seed", 0)) for r in rows]) - 1.5)
        ax.scatter(x[~cens] + jitter[~cens], y[~cens], s=14, color=color, alpha=0.7)
        ax.scatter(x[cens] + jitter[cens], y[cens], s=14, facecolors="none", edgecolors=color)
        e = exponents.get(pname, {})
        if math.isfinite(e.get("slope", math.nan)) and (~cens).any():
            xs = np.array([x.min(), x.max()])
            b = float(np.mean(y[~cens]) - e["slope"] * np.mean(x[~cens]))
            large = (f"; widths >= 1024: {e['large_slope']:+.2f} [{e['large_ci_low']:+.2f}, "
                     f"{e['large_ci_high']:+.2f}]") if math.isfinite(e.get("large_slope", math.nan)) else ""
            ax.plot(xs, b + e["slope"] * xs, color=color,
                    label=f"{LABELS.get(pname, pname)}: slope {e['slope']:+.2f} [{e['ci_low']:+.2f}, "
                    f"{e['ci_high']:+.2f}]{large} (theory {e.get('theory', math.nan):+.0f})")
            t = e.get("theory", math.nan)
            if math.isfinite(t):
                bt = float(np.mean(y[~cens]) - t * np.mean(x[~cens]))
                ax.plot(xs, bt + t * xs, color=color, ls=":", lw=1)
    ax.set_xlabel("log2(width)")
    ax.set_ylabel("log2(max stable learning rate)")
    ax.grid(alpha=0.3)
    # below the axes: inside, the legend hid the widest points
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    ax.set_title("Max LR vs width (one point per seed; dotted: theory's slope)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)
