"""Figure of the any-model coordinate check: sizes against width per module, and every fitted slope."""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from infwidth.parametrization.rational import fmt
from infwidth.scaling.coordcheck import ModelCheckResult, ModuleFit
from infwidth.viz import save_figure


def _geo_means(result: ModelCheckResult, module: str, step: int) -> tuple[list[int], list[float]]:
    """Widths and the geometric mean over seeds of the module's size there (positive finite sizes only)."""
    by_w: dict[int, list[float]] = defaultdict(list)
    for r in result.records:
        if r["module"] == module and r["step"] == step and r["size"] > 0 and math.isfinite(r["size"]):
            by_w[r["width"]].append(r["size"])
    ws = sorted(by_w)
    return ws, [math.exp(sum(math.log(v) for v in by_w[w]) / len(by_w[w])) for w in ws]


def _size_panel(ax: plt.Axes, result: ModelCheckResult, fits: list[ModuleFit], title: str) -> None:
    """RMS against width, one line per module (red: not a pass), the predicted slope dashed."""
    ys_all: list[float] = []
    for f in fits:
        ws, ys = _geo_means(result, f.module, f.step)
        if not ws:
            continue
        bad = f.verdict not in ("pass", "-")
        ax.plot(ws, ys, "o-" if bad else "-", ms=2.5, lw=1.2 if bad else 0.7, alpha=0.9 if bad else 0.45,
                color="C3" if bad else "C0", label=f.module if bad else None)
        ys_all += ys
    pred = next((f.predicted for f in fits if f.predicted is not None), None)
    ws = list(result.config.widths)
    if ys_all and pred is not None:
        mid = math.exp(sum(math.log(y) for y in ys_all) / len(ys_all))
        gx = math.sqrt(ws[0] * ws[-1])
        for e in sorted({float(pred[0]), float(pred[1])}):
            ax.plot([ws[0], ws[-1]], [mid * (ws[0] / gx) ** e, mid * (ws[-1] / gx) ** e], "k--", lw=1.2,
                    label=f"predicted n^{fmt(pred[0]) if e == float(pred[0]) else fmt(pred[1])}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    if ys_all:
        lo, hi = math.log2(min(ys_all)), math.log2(max(ys_all))
        c, half = (lo + hi) / 2, max((hi - lo) / 2 + 0.5, 2.0)
        ax.set_ylim(2 ** (c - half), 2 ** (c + half))
    ax.set_title(f"{title} ({len(fits)} module{'s' * (len(fits) != 1)})", fontsize=9)
    ax.set_xlabel("width", fontsize=8)
    ax.tick_params(labelsize=7)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        keep = [(h, lab) for h, lab in zip(handles, labels) if lab.startswith("predicted")]
        keep += [(h, lab) for h, lab in zip(handles, labels) if not lab.startswith("predicted")][:5]
        ax.legend(*zip(*keep), fontsize=6, loc="best")


def _slope_panel(ax: plt.Axes, result: ModelCheckResult) -> None:
    """Every module's slope at init (circles) and of its change at the last step (squares), 95% CI bars,
    on the predicted bands (grey: hidden, orange: logits)."""
    t = result.shown_step
    modules = [m for m, k in result.kinds.items() if k in ("hidden", "logits")]
    fits = {(f.module, f.step): f for f in result.fits}
    for i, m in enumerate(modules):
        for step, marker, dx in ((0, "o", -0.18), (t, "s", 0.18)):
            f = fits.get((m, step))
            if f is None or not math.isfinite(f.slope):
                continue
            if f.predicted is not None:
                color = "#bbbbbb" if f.kind == "hidden" else "#f5c28a"
                lo, hi = float(f.predicted[0]), float(f.predicted[1])
                ax.fill_between([i + dx - 0.15, i + dx + 0.15], lo - result.config.tol, hi + result.config.tol,
                                color=color, alpha=0.6, lw=0)
            bad = f.verdict not in ("pass", "-")
            err = [[f.slope - f.ci_low], [f.ci_high - f.slope]] if math.isfinite(f.ci_low) else None
            ax.errorbar(i + dx, f.slope, yerr=err, fmt=marker, ms=3.5, lw=0.8,
                        color="C3" if bad else ("C0" if step == 0 else "C2"))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(modules)))
    ax.set_xticklabels(modules, rotation=90, fontsize=max(3.5, 7 - len(modules) / 20))
    ax.set_xlim(-0.7, len(modules) - 0.3)
    ax.set_ylabel("slope of log2 RMS vs log2 width", fontsize=8)
    steps = f"{t} step{'s' * (t > 1)}"
    ax.set_title(f"fitted exponents: o at init, [] change after {steps} (95% CI); band = predicted +- tol "
                 f"{result.config.tol:g}; red = not a pass", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def plot_model_coordcheck(result: ModelCheckResult, out: str | Path) -> Path:
    """Write the figure of ``result`` to ``out`` (PNG) and return the path.

    Top row: RMS against width at init and of the change after ``result.shown_step`` steps, for hidden outputs and
    logits (one line per module, geometric mean over seeds; red: modules that are not a pass; dashed:
    the predicted slope). Bottom: every module's fitted slope with its 95% CI on the predicted band.
    """
    t = result.shown_step
    fig = plt.figure(figsize=(16, 9.5))
    grid = fig.add_gridspec(2, 4, height_ratios=(1, 1.15))
    panels = [("hidden", 0, "hidden outputs at init"), ("hidden", t, f"hidden: change after {t} step{'s' * (t > 1)}"),
              ("logits", 0, "logits at init"), ("logits", t, f"logits: change after {t} step{'s' * (t > 1)}")]
    for j, (kind, step, title) in enumerate(panels):
        fits = [f for f in result.fits if f.kind == kind and f.step == step]
        _size_panel(fig.add_subplot(grid[0, j]), result, fits, title)
    _slope_panel(fig.add_subplot(grid[1, :]), result)
    cfg = result.config
    head = (f"{cfg.spec}: {cfg.parametrization} + {cfg.optimizer}, lr {cfg.lr:g}, widths "
            f"{','.join(map(str, cfg.widths))} (base {cfg.base_width}), {cfg.seeds} seed(s), data {result.data}")
    fig.suptitle(head + "\n" + "\n".join(textwrap.wrap(result.summary(), 180)[:3]), fontsize=9,
                 color="black" if result.verdict == "PASS" else "C3")
    return save_figure(fig, out, dpi=100, top=0.95)
