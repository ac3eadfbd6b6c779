"""Figures for width scaling: alignment exponents vs step, and loss vs learning rate per width."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker

from infwidth.viz import save_figure


def plot_alignment(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Three panels (alpha: Delta W z0, omega: W0 Delta z, u: Delta W Delta z) against training step,
    one line per layer, with the reference levels 1 (full alignment) and 1/2 (none). Writes a PNG."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    by_layer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_layer[str(r["layer"])].append(r)
    for ax, key, title in zip(axes, ("alpha", "omega", "u"),
                              (r"$\Delta W\, z_0$", r"$W_0\, \Delta z$", r"$\Delta W\, \Delta z$")):
        for i, (layer, rs) in enumerate(by_layer.items()):
            pts = [(int(r["step"]), float(r[key])) for r in rs if not math.isnan(float(r[key]))]
            if pts:
                ax.plot(*zip(*pts), marker=".", color=f"C{i % 10}", label=f"{layer} (fan-in {rs[0]['fan_in']})")
        ax.axhline(1.0, color="k", lw=0.7, ls="--")
        ax.axhline(0.5, color="k", lw=0.7, ls=":")
        ax.set_title(f"{key}: {title}")
        ax.set_xlabel("step")
    axes[0].set_ylabel("log_fan-in alignment")
    axes[0].legend(fontsize=7, title="layer")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def plot_transfer(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], panel: str = "parametrization",
                  metric: str = "loss") -> None:
    """The muTransfer figure: final loss against learning rate, one curve per width (seeds averaged),
    one panel per value of ``panel``. Non-finite losses are drawn at the top of the axis."""
    panels = sorted({str(r[panel]) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
    curves: dict[str, dict[int, dict[float, list[float]]]] = {
        p: defaultdict(lambda: defaultdict(list)) for p in panels}
    for r in rows:
        v = float(r[metric])
        curves[str(r[panel])][int(r["width"])][float(r["lr"])].append(v if math.isfinite(v) else math.inf)
    means = {p: {w: {lr: sum(v) / len(v) for lr, v in c.items()} for w, c in cw.items()}
             for p, cw in curves.items()}
    minima = [min(m.values()) for cw in means.values() for m in cw.values() if math.isfinite(min(m.values()))]
    # y range: from the best loss to 1.5x the worst per-curve optimum; worse points (and
    # diverged runs) are drawn on the top edge so that the optima stay readable.
    lo, top = (0.97 * min(minima), 1.5 * max(minima)) if minima else (0.0, 1.0)
    for ax, p in zip(axes[0], panels):
        for w in sorted(means[p]):
            lrs = sorted(means[p][w])
            ax.plot(lrs, [min(means[p][w][x], top) for x in lrs], marker="o", label=f"width {w}")
        ax.set_xscale("log")
        ax.set_ylim(lo, top * 1.01)
        ax.set_title(p)
        ax.set_xlabel("learning rate (base)")
    axes[0][0].set_ylabel(metric)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def plot_optima(analysis: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], title: str = "") -> None:
    """Optimal learning rate against width (log-log), one colour per parametrization: the optimum of the
    seed-mean loss curve (line; hollow where it sits at the edge of the grid) and each seed's own optimum
    (small dots), with the fitted drift per doubling in the legend (transfer = a flat line)."""
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    for i, a in enumerate(analysis):
        colour, widths = f"C{i % 10}", list(a["widths"])
        if not widths:
            continue
        sem = a.get("drift_seed_sem", math.nan)
        seeds = a.get("drift_seeds") or []
        err = (f", seeds {sum(seeds) / len(seeds):+.2f} ± {sem:.2f}" if seeds and math.isfinite(sem) else "")
        ax.plot(widths, a["lr_opt"], color=colour, marker="o", ms=6, mfc="none",
                label=f"{a['parametrization']} ({a['optimizer']}): drift {a['drift_per_doubling']:+.2f} "
                      f"± {a['drift_se']:.2f}{err}")
        inner = [(w, lr) for w, lr, ok in zip(widths, a["lr_opt"], a["interior"]) if ok]
        if inner:
            ax.plot(*zip(*inner), color=colour, marker="o", ms=6, ls="none")
        for k, lrs in enumerate(a.get("lr_opt_seeds") or []):
            shift = 1.0 + 0.04 * (k - (len(a["lr_opt_seeds"]) - 1) / 2)  # side by side, not on top of each other
            ax.plot([w * shift for w in widths], lrs, color=colour, marker=".", ms=4, ls="none", alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    found = [lr for a in analysis for lrs in [a["lr_opt"], *(a.get("lr_opt_seeds") or [])] for lr in lrs]
    if found:  # at least two octaves each side: a drift of one factor of 2 per doubling stays visible
        ax.set_ylim(min(found) / 4, max(found) * 4)
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=2, numticks=30))
    ax.set_xlabel("width")
    ax.set_ylabel("optimal base learning rate")
    ax.set_title(title or "optimal learning rate against width", fontsize=9)
    ax.legend(fontsize=7, title="line: seed-mean loss; dots: each seed", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
