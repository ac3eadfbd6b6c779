"""Coordinate-check figure: one panel per quantity, one line per step, the predicted slope dashed."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from infwidth.nn.coordcheck import CoordCheckResult, QuantityFit
from infwidth.parametrization.rational import fmt
from infwidth.viz import save_figure


def _panel_key(kind: str, layer: int) -> tuple[int, int]:
    """(row, column) of a quantity: rows h0/x0, Delta h, Delta x, Delta W x; f in the last column."""
    L1 = layer if layer > 0 else -1
    rows = {"h0": 0, "x0": 1, "f0": 0, "dh": 2, "df": 2, "dx": 3, "dWx": 4}
    return rows[kind], L1


def plot_coordcheck(result: CoordCheckResult, out: str | Path) -> Path:
    """Write the coordinate-check PNG of ``result`` to ``out``; returns the path.

    Rows: h^l_0, x^l_0 (with f_0), Delta h^l_t (with Delta f_t), Delta x^l_t, Delta W^l x^{l-1}_t;
    columns: layers 1..L+1. Each panel: mean size over seeds (log2) per width, one line per step, the
    predicted slope dashed through the points of the last step that has a prediction, title with the
    measured vs predicted exponent of that step (red when any step of the panel is not a pass).
    """
    L = result.param.depth
    ncols = L + 1
    fig, axes = plt.subplots(5, ncols, figsize=(3.3 * ncols, 12.5), squeeze=False)
    sizes: dict[tuple[str, int, int], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in result.records:
        sizes[(r["quantity"], r["layer"], r["step"])][r["width"]].append(r["size"])
    fits: dict[tuple[str, int], list[QuantityFit]] = defaultdict(list)
    for f in result.fits:
        fits[(f.quantity.kind, f.quantity.layer)].append(f)
    used = set()
    cmap = plt.get_cmap("viridis")
    for (kind, layer), group in fits.items():
        row, col = _panel_key(kind, layer)
        col = ncols - 1 if col == -1 else col - 1
        ax = axes[row][col]
        used.add((row, col))
        all_y: list[float] = []
        for f in sorted(group, key=lambda g: g.quantity.step):
            t = f.quantity.step
            data = sizes[(kind, layer, t)]
            ws = sorted(w for w in data if all(v > 0 and math.isfinite(v) for v in data[w]))
            ys = [math.exp(sum(math.log(v) for v in data[w]) / len(data[w])) for w in ws]
            color = cmap(0.15 + 0.7 * (t - 1) / max(1, result.steps - 1)) if t > 0 else "C0"
            ax.plot(ws, ys, "o-", ms=3, color=color, label=f"t={t}")
            all_y += ys
        ordered = sorted(group, key=lambda g: g.quantity.step)
        ref = ([g for g in ordered if g.predicted is not None] or ordered)[-1]
        ws = sorted(w for w in sizes[(kind, layer, ref.quantity.step)])
        ys = [math.exp(sum(math.log(max(v, 1e-300)) for v in sizes[(kind, layer, ref.quantity.step)][w])
                       / len(sizes[(kind, layer, ref.quantity.step)][w])) for w in ws]
        if ref.predicted is not None and ws:
            gx = math.exp(sum(math.log(w) for w in ws) / len(ws))
            gy = math.exp(sum(math.log(y) for y in ys) / len(ys))
            e = float(ref.predicted)
            ax.plot([ws[0], ws[-1]], [gy * (ws[0] / gx) ** e, gy * (ws[-1] / gx) ** e], "k--", lw=1,
                    label=f"pred n^{fmt(ref.predicted)}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        if all_y:  # show at least a factor 2^4 vertically so flat lines look flat
            lo, hi = math.log2(min(all_y)), math.log2(max(all_y))
            mid, half = (lo + hi) / 2, max((hi - lo) / 2 + 0.3, 2.0)
            ax.set_ylim(2 ** (mid - half), 2 ** (mid + half))
        verdicts = {g.verdict for g in group if g.verdict != "-"}
        bad = bool(verdicts - {"pass"})
        pred = "?" if ref.predicted is None else fmt(ref.predicted)
        ax.set_title(f"{ref.quantity.label.replace('_t', '')}\nslope at t={ref.quantity.step}: {ref.slope:+.2f}"
                     f" (pred {pred})",
                     fontsize=8, color="red" if bad else "black")
        ax.tick_params(labelsize=7)
        if len(group) > 1 or ref.predicted is not None:
            ax.legend(fontsize=6, loc="best")
    for row in range(5):
        for col in range(ncols):
            if (row, col) not in used:
                axes[row][col].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("width n", fontsize=8)
    p = result.param
    built = "" if result.network_param == p else f"\nnetwork built as {result.network_param.describe()}"
    fig.suptitle(f"coordinate check: {p.describe()} (phi={result.phi}, eta={result.eta}, {result.seeds} seeds)"
                 f"{built}\n{result.verdict}", fontsize=9)
    return save_figure(fig, out, dpi=110, top=0.96)
