"""Outputs of :func:`infwidth.experiments.everett.run`: JSON, CSV, figures and a generated Markdown block.

Everything written here is computed from the trials; the interpretation is hand-written outside the
generated block of ``everett.md`` and survives reruns (:func:`infwidth.io.write_generated_block`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infwidth.io import write_csv, write_generated_block, write_json

#: Stages after the constant search (A, always run): B transfer, C alignment-mid / alignment-none / eq8 /
#: sp-global, D scans, E eps, F measured-alignment, G sp-measured-omega (see :mod:`infwidth.experiments.everett`).
STAGES = ("transfer", "alignment-mid", "alignment-none", "eq8", "sp-global", "scans", "eps", "measured-alignment",
          "sp-measured-omega")
#: Keys of a trial's result (everything else in a stored row is the trial's parameters).
RESULT_KEYS = ("loss", "initial_loss", "diverged", "reason", "curve", "grad_over_eps", "measured_alignment",
               "finished")


def loss_or_inf(row: Mapping[str, Any]) -> float:
    """A trial's loss, or infinity when it diverged (``sweep.trial.outcome``'s rule; stored rows may hold the
    flag as the string "True")."""
    v = float(row["loss"])
    return math.inf if str(row.get("diverged")) == "True" or not math.isfinite(v) else v


def write_outputs(cfg: Any, result: dict[str, Any], command: str = "") -> None:
    """``everett.json``, ``everett_trials.csv``, ``everett_transfer.png``, ``everett_eps.png`` and the
    ``everett`` block of ``everett.md`` in ``cfg.out``."""
    out = Path(cfg.out)
    rows = [{**{k: v for k, v in r.items() if k not in ("curve", "grad_over_eps")}, "label": c["label"]}
            for c in result["curves"] for r in c["rows"]]
    write_csv(out / "everett_trials.csv", rows)
    slim = {**result, "curves": [{k: v for k, v in c.items() if k not in ("rows", "top_rows")}
                                 for c in result["curves"]]}
    write_json(out / "everett.json", slim)
    if rows:
        plot_transfer_grid(result["curves"], out / "everett_transfer.png")
    if result["eps"]:
        plot_eps(result["eps"], out / "everett_eps.png")
    write_generated_block(out / "everett.md", "everett", markdown(cfg, slim, command))


def plot_transfer_grid(curves: list[dict[str, Any]], path: Path, cols: int = 3) -> Path:
    """One panel per swept setting: mean test loss over seeds against log2(global LR), one line per width,
    each width's optimum marked; the y range is the 0.15 above the panel's best loss, where the optima are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from infwidth.viz import save_figure

    swept = [c for c in curves if c.get("rows")]
    widths = sorted({int(r["width"]) for c in swept for r in c["rows"]})
    rows_n = -(-len(swept) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.3 * rows_n), squeeze=False, sharex=True)
    cmap = plt.get_cmap("viridis")
    for ax, c in zip(axes.flat, swept):
        best = math.inf
        for i, w in enumerate(widths):
            by: dict[float, list[float]] = {}
            for r in c["rows"]:
                if int(r["width"]) == w and math.isfinite(loss_or_inf(r)):
                    by.setdefault(math.log2(float(r["lr"])), []).append(float(r["loss"]))
            if not by:
                continue
            xs = sorted(by)
            ys = [float(np.mean(by[x])) for x in xs]
            best = min(best, min(ys))
            color = cmap(i / max(1, len(widths) - 1))
            ax.plot(xs, ys, "o-", ms=3, color=color, label=f"width {w}")
            if w in c["widths"]:
                ax.axvline(c["log2_lr_opt"][c["widths"].index(w)], color=color, lw=0.8, ls=":")
        if math.isfinite(best):
            ax.set_ylim(best - 0.01, best + 0.15)
        ax.set_title(f"{c['label']}\ndrift {c['drift']:+.2f} ± {c['drift_se']:.2f} per doubling", fontsize=8.5)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(swept):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("log2 global LR")
    for ax in axes[:, 0]:
        ax.set_ylabel("test loss (mean over seeds)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("CIFAR MLP, Adam: test loss against the global LR per width (dotted: each width's optimum)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def plot_eps(curves: list[dict[str, Any]], path: Path) -> Path:
    """One panel per optimizer variant: training loss against step, one line per width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from infwidth.viz import save_figure

    variants = list(dict.fromkeys(c["variant"] for c in curves))
    widths = sorted({c["width"] for c in curves})
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(variants), figsize=(4.3 * len(variants), 3.8), sharey=True, squeeze=False)
    for ax, v in zip(axes[0], variants):
        for i, w in enumerate(widths):
            cs = [x["curve"] for x in curves if x["variant"] == v and x["width"] == w and x["curve"]]
            if not cs:
                continue
            k = min(len(c) for c in cs)  # a diverged run stops early
            mean = [sum(c[j] for c in cs) / len(cs) for j in range(k)]
            every = next(x["curve_every"] for x in curves if x["variant"] == v)
            ax.plot([every * j for j in range(k)], mean, color=cmap(i / max(1, len(widths) - 1)),
                    label=f"width {w}")
        scale = next((x["loss_scale"] for x in curves if x["variant"] == v), 1.0)
        ax.set_title(f"{v}\n(loss x {scale:g})", fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training cross-entropy (unscaled), mean over seeds")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("muP MLP on CIFAR-10, float32, Adam eps vs gradient underflow", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _f(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "–"


def markdown(cfg: Any, result: dict[str, Any], command: str = "") -> str:
    """The generated block: the search, the transfer table, SP vs muP at the largest width, the layer
    scans and the epsilon stage, each computed from the trials."""
    seeds = list(cfg.seeds)
    lines = [f"Command: `{command}`" if command else "", "",
             f"Settings: CIFAR MLP 3072 -> w -> w -> 10 (ReLU), Adam, {cfg.steps} steps of batch {cfg.batch}, "
             f"4096 training images, test cross-entropy on 1000; base width {cfg.base_width}; widths "
             f"{list(cfg.widths)}; global LR grid 2^{min(cfg.log2_lrs):g}..2^{max(cfg.log2_lrs):g} in steps of "
             f"2^{cfg.log2_lrs[1] - cfg.log2_lrs[0]:g}; seeds {seeds} (losses averaged over seeds before the "
             f"optimum is taken), plus seeds {list(cfg.extra_seeds_at_largest)} at the largest width.", "",
             "Stages not run in this result (`--stages`): "
             + (", ".join(result.get("stages_not_run", [])) or "none") + ".", "",
             "### A. Per-layer constants searched at the base width", "",
             "At the base width every parametrization is the same network (all width multipliers are 1), so one "
             "search serves all four. One pass of coordinate search over the LR multipliers (readout, then "
             f"hidden, then embedding; factors {list(cfg.search_factors)}), each at the current best global LR "
             "with the others held; then the global LR again.", "",
             "| step | factors tried | mean loss per factor | chosen |", "|---|---|---|---|"]
    s = result["search"]
    lines.append(f"| global LR, multipliers 1 | grid | best {_f(s['loss_untuned'])} | log2 LR "
                 f"{s['log2_lr_untuned']:+.2f} |")
    for st in s["steps"]:
        lines.append(f"| {st['role']} multiplier | {', '.join(f'{x:g}' for x in st['factors'])} | "
                     f"{', '.join(_f(x) for x in st['losses'])} | {st['chosen']:g} |")
    lines.append(f"| global LR, tuned | grid | best {_f(s['loss_tuned'])} | log2 LR {s['log2_lr_tuned']:+.2f} |")
    lines += ["", "### B, C. Transfer of the global LR across widths", "",
              "Drift: least-squares slope of log2(optimal LR) on log2(width) (± its standard error over the "
              "widths); 0 = the optimum transfers. Best loss at the largest width: each seed's best over the "
              "grid, mean ± SE over seeds. Penalty: at the largest width, the mean loss at the grid LR nearest "
              "the base width's optimum minus the best mean loss (what using the base width's LR costs).", "",
              "| setting | optimal log2 LR per width | best loss per width | drift per doubling | "
              "best loss at the largest width | penalty |", "|---|---|---|---|---|---|"]
    for c in result["curves"]:
        if "equivalent_to" in c:
            lines.append(f"| {c['label']} | = {c['equivalent_to']} (Adam symmetry); checked at width "
                         f"{c['check_width']}: max abs loss difference {c['check_max_abs_diff']:.1e} over "
                         f"{c['check_trials']} trials, same divergences: {c['check_same_divergence']} | | "
                         f"{c['drift']:+.2f} ± {_f(c['drift_se'], 2)} | {_f(c['largest_best_loss_mean'])} ± "
                         f"{_f(c['largest_best_loss_se'])} | {_f(c.get('transfer_penalty', math.nan))} |")
            continue
        opts = ", ".join(f"{w}: {o:+.2f}" for w, o in zip(c["widths"], c["log2_lr_opt"]))
        best = ", ".join(_f(b) for b in c["best_loss"])
        lines.append(f"| {c['label']} | {opts} | {best} | {c['drift']:+.2f} ± {_f(c['drift_se'], 2)} | "
                     f"{_f(c['largest_best_loss_mean'])} ± {_f(c['largest_best_loss_se'])} "
                     f"(n = {len(c['largest_seeds'])}) | {_f(c.get('transfer_penalty', math.nan))} |")
    lines += _sp_vs_mup(result["curves"]) + _scans(result["scans"], cfg) + _eps(result["eps"], cfg)
    lines += _alignment(result.get("alignment", []))
    return "\n".join(lines)


def _sp_vs_mup(curves: list[dict[str, Any]]) -> list[str]:
    by = {c["label"]: c for c in curves}
    a, b = by.get("sp tuned"), by.get("mup tuned")
    if a is None or b is None:
        return []
    d = a["largest_best_loss_mean"] - b["largest_best_loss_mean"]
    se = math.hypot(a["largest_best_loss_se"], b["largest_best_loss_se"])
    verdict = ("SP better" if d < -2 * se else "muP better" if d > 2 * se else "not resolved (|diff| < 2 SE)")
    return ["", f"SP (per-layer prescription, tuned) minus muP (tuned), best loss at width {a['largest_width']}: "
            f"{d:+.4f} ± {se:.4f}: {verdict}."]


def _scans(scans: list[dict[str, Any]], cfg: Any) -> list[str]:
    if not scans:
        return []
    lines = ["", "### D. Per-layer LR scans (the others at their tuned values)", "",
             f"Each layer's LR multiplier alone (factors {list(cfg.scan_factors)} of its tuned value) at widths "
             f"{scans[0]['widths']}, the global LR at its tuned base optimum; shift = change of that layer's log2 "
             "optimal multiplier per width doubling (0: that layer transfers). The other layers are held, so when "
             "the whole network is too hot at the largest width each layer alone compensates: the shifts are "
             "conditional, not independent per-layer exponents. An optimum at the edge of the factors is "
             "censored.", "",
             "| parametrization | layer | log2 optimal factor at the base width | at the largest width | "
             "shift per doubling |", "|---|---|---|---|---|"]
    for s in scans:
        for role, r in s["roles"].items():
            lo, hi = (f"{w['log2_opt']:+.2f}" + ("" if w.get("interior", True) else " (edge)")
                      for w in r["per_width"])
            lines.append(f"| {s['parametrization']} | {role} | {lo} | {hi} | {r['missing_exponent']:+.2f} |")
    return lines


def _mean_se(vals: list[float], sign: str = "") -> str:
    """``mean ± SE`` over seeds (the SE only when there are several); ``sign="+"`` prints the mean's sign."""
    import numpy as np

    v = np.array([x for x in vals if math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "–"
    m = f"{v.mean():{sign}.3f}"
    return f"{m} ± {v.std(ddof=1) / math.sqrt(len(v)):.3f}" if len(v) > 1 else m


def _eps(eps: list[dict[str, Any]], cfg: Any) -> list[str]:
    if not eps:
        return []
    widths = sorted({e["width"] for e in eps})
    seeds = sorted({int(e.get("seed", 0)) for e in eps})
    lines = ["", "### E. Adam epsilon and gradient underflow (muP, float32)", "",
             f"Loss multiplied by {cfg.loss_scale:g} before backward, eps = {cfg.eps:g}, {cfg.eps_steps} steps, "
             f"seeds {seeds}; median |gradient entry| / eps per weight matrix at the first step (with that loss "
             f"scale; seed {seeds[0]}):", "",
             "| width | embedding | hidden | readout |", "|---|---|---|---|"]
    first = next(e for e in eps if e["variant"].startswith("Adam, constant eps") and e["loss_scale"] != 1.0)
    for w in widths:
        e = next((x for x in eps if x["variant"] == first["variant"] and x["width"] == w
                  and int(x.get("seed", 0)) == seeds[0]), None)
        g = e["grad_over_eps"] if e else {}
        lines.append(f"| {w} | " + " | ".join(_f(g.get(r, math.nan), 3) for r in ("embedding", "hidden", "readout"))
                     + " |")
    variants = list(dict.fromkeys(e["variant"] for e in eps))
    ref = variants[-1]  # the unscaled loss: no gradient near eps

    def loss(v: str, w: int, sd: int) -> float:
        return next((float(e["loss"]) for e in eps if e["variant"] == v and e["width"] == w
                     and int(e.get("seed", 0)) == sd), math.nan)

    lines += ["", "Final test loss, mean ± SE over the seeds:", "",
              "| variant | " + " | ".join(f"width {w}" for w in widths) + " |", "|---|" + "---|" * len(widths)]
    for v in variants:
        lines.append(f"| {v} | " + " | ".join(_mean_se([loss(v, w, sd) for sd in seeds]) for w in widths) + " |")
    lines += ["", f"Minus the reference ({ref}), paired by seed (same init and minibatches), mean ± SE:", "",
              "| variant | " + " | ".join(f"width {w}" for w in widths) + " |", "|---|" + "---|" * len(widths)]
    for v in variants[:-1]:
        lines.append(f"| {v} | " + " | ".join(_mean_se([loss(v, w, sd) - loss(ref, w, sd) for sd in seeds], "+")
                                              for w in widths) + " |")
    return lines + ["", "Figure: `everett_eps.png` (training loss per step, mean over the seeds, one panel per "
                    "variant)."]


def _alignment(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    widths = rows[0]["widths"]
    lines = ["", "### F. Measured alignment of W_0 and Delta z (tuned base LR, seed 0, after training)", "",
             "Ratio |W_0 Delta z| / (|W_0| |Delta z|) (RMS over 256 test images) per width; it grows like n^omega, "
             "omega = its slope in log2(width) (1/2: independent, as the derived exponents assume; 1: fully "
             "aligned). Layer `0` (embedding) has no Delta z: its input is the data. Layers: "
             "`0` embedding, `2` hidden, `4` readout.", "",
             "| parametrization | layer | " + " | ".join(f"width {w}" for w in widths) + " | omega |",
             "|---|---|" + "---|" * (len(widths) + 1)]
    for r in rows:
        for layer, d in r["layers"].items():
            lines.append(f"| {r['parametrization']} | {layer} | " + " | ".join(_f(x, 2) for x in d["ratio_omega"])
                         + f" | {_f(d['omega'], 2)} |")
    return lines
