"""Figure 4 plot: limit loss curves vs finite-width mean +- std bands (TP4 Fig. 4)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from infwidth.viz import save_figure


def plot_fig4(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """Grid (phi rows x builder columns) of loss vs step: limit (black dashed), widths (mean, std band)."""
    builders = list(dict.fromkeys(r["builder"] for r in rows))
    phis = list(dict.fromkeys(r["phi"] for r in rows))
    widths = [w for w in dict.fromkeys(r["width"] for r in rows) if w != "inf"]
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    fig, axes = plt.subplots(len(phis), len(builders), figsize=(4.2 * len(builders), 3.4 * len(phis)),
                             squeeze=False)
    for i, phi in enumerate(phis):
        for j, bname in enumerate(builders):
            ax = axes[i][j]
            for k, w in enumerate(widths):
                rr = sorted((r for r in rows if r["builder"] == bname and r["phi"] == phi and r["width"] == w),
                            key=lambda r: r["t"])
                t = [r["t"] for r in rr]
                m = [r["loss_mean"] for r in rr]
                s = [r["loss_std"] for r in rr]
                c = colors[k % len(colors)]
                ax.plot(t, m, color=c, label=f"width {w}")
                ax.fill_between(t, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=c, alpha=0.2)
            rr = sorted((r for r in rows if r["builder"] == bname and r["phi"] == phi and r["width"] == "inf"),
                        key=lambda r: r["t"])
            ax.plot([r["t"] for r in rr], [r["loss_mean"] for r in rr], "k--o", ms=3, label="infinite width")
            ax.set_title(f"{bname}, phi = {phi}")
            ax.set_xlabel("SGD step t")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("loss 1/2 (f_t - y_t)^2")
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.suptitle("muP limits (Tensor Programs, exact) vs finite width, mean +- std over seeds")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
