"""Tables, error-to-the-limit statistics and the figure of :mod:`infwidth.experiments.real_limit`.

Metrics at each evaluation step t (t updates done): test accuracy (sign(f) = y, ties half), test loss
(mean 1/2 (f - y)^2) and the training loss as the mean batch loss over the last epoch of steps before t.
Finite widths: mean over seeds, standard error std / sqrt(seeds). The limit: its particle standard
errors propagated (test loss by the delta method, accuracy by the probability that each logit's sign
flips within its error); these treat test examples as independent and are approximate.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.io import write_csv


def _acc_each(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = np.sign(f)
    return np.where(s == 0, 0.5, (s == y).astype(np.float64))


def _train_loss(loss: np.ndarray, steps: list[int], window: int) -> np.ndarray:
    """Mean batch loss over the ``window`` steps before each evaluation step (step 0: the first batch)."""
    out = []
    for t in steps:
        lo, hi = max(0, t - window), max(t, 1)
        out.append(float(np.mean(loss[..., lo:hi], axis=-1).mean()) if loss.ndim == 1 else np.nan)
    return np.array(out)


def _reading_metrics(f: np.ndarray, loss: np.ndarray, y: np.ndarray, steps: list[int], window: int,
                     f_se: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """f (S, n_eval, E) seeds (S = 1 for deterministic readings); loss (S, T)."""
    acc = _acc_each(f, y).mean(axis=-1)                        # (S, n_eval)
    tl = (0.5 * (f - y) ** 2).mean(axis=-1)
    tr = np.array([_train_loss(ls, steps, window) for ls in loss])
    S = f.shape[0]
    out = {"test_acc": acc.mean(0), "test_loss": tl.mean(0), "train_loss": tr.mean(0)}
    if S > 1:
        out |= {f"{k}_se": v.std(0, ddof=1) / math.sqrt(S) for k, v in (("test_acc", acc), ("test_loss", tl),
                                                                        ("train_loss", tr))}
    elif f_se is not None:
        from scipy.stats import norm

        p = norm.cdf(-np.abs(f[0]) / np.maximum(f_se, 1e-300))           # chance that the sign flips
        out["test_acc_se"] = np.sqrt((p * (1 - p)).sum(-1)) / f.shape[-1]
        out["test_loss_se"] = np.sqrt((((f[0] - y) * f_se) ** 2).sum(-1)) / f.shape[-1]
        out["train_loss_se"] = np.zeros(len(steps))
    else:
        out |= {f"{k}_se": np.zeros(len(steps)) for k in ("test_acc", "test_loss", "train_loss")}
    return out


def summarize(cfg: Any, data: Any, done: dict[str, Any]) -> dict[str, Any]:
    """Curves, final-step table, errors to the limit and the claims, from the finished cells."""
    y = data.y_test
    window = max(1, cfg.n_train // cfg.batch)
    curves: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    for m in cfg.models:
        lim = done[f"{m}|limit"]
        steps = lim["eval_steps"]
        f_lim = np.array(lim["f_eval"])
        readings: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {
            "limit": (f_lim[None], np.array(lim["loss"])[None], np.array(lim["f_eval_se"]))}
        for w in cfg.widths:
            cells = [done[f"{m}|width:{w}|seed:{s}"] for s in range(cfg.seeds)]
            readings[f"width {w}"] = (np.array([c["f_eval"] for c in cells]), np.array([c["loss"] for c in cells]),
                                      None)
        for k in ("ntk", "nngp"):
            c = done[f"{m}|{k}"]
            readings[k.upper()] = (np.array(c["f_eval"])[None], np.array(c["loss"])[None], None)
        for name, (f, loss, f_se) in readings.items():
            met = _reading_metrics(f, loss, y, steps, window, f_se)
            for i, t in enumerate(steps):
                curves.append({"model": m, "reading": name, "step": t, "n_seeds": f.shape[0],
                               **{k: float(v[i]) for k, v in met.items()}})
            table.append({"model": m, "steps": cfg.steps, "reading": name, "n_seeds": f.shape[0],
                          **{k: float(v[-1]) for k, v in met.items()},
                          **({"kernel_lr": done[f"{m}|{name.lower()}"]["lr"]} if name in ("NTK", "NNGP") else {})})
        errors += _errors(m, cfg, readings, f_lim, np.array(lim["f_eval_se"]))
        claims.append(_claim(m, readings, y, errors))
    return {"curves": curves, "table": table, "errors": errors, "claims": claims, "data": data.description,
            "limit_cost": {m: done[f"{m}|limit"]["cost"] | {"seconds": done[f"{m}|limit"]["seconds"],
                                                             "cpu_seconds": done[f"{m}|limit"]["cpu_seconds"]}
                           for m in cfg.models}}


def _errors(model: str, cfg: Any, readings: dict[str, Any], f_lim: np.ndarray, f_lim_se: np.ndarray) -> list[dict]:
    """Per width: RMS over test inputs of f_width - f_limit at the last step (mean and SE over seeds)."""
    rows = []
    lim_noise = float(np.sqrt((f_lim_se[-1] ** 2).mean()))
    for w in cfg.widths:
        F = readings[f"width {w}"][0][:, -1, :]                        # (S, E)
        per_seed = np.sqrt(((F - f_lim[-1]) ** 2).mean(axis=-1))
        rows.append({"model": model, "width": w, "n_seeds": len(per_seed),
                     "rms_error": float(per_seed.mean()),
                     "rms_error_se": float(per_seed.std(ddof=1) / math.sqrt(len(per_seed))) if len(per_seed) > 1
                     else 0.0,
                     "seed_mean_rms_error": float(np.sqrt(((F.mean(0) - f_lim[-1]) ** 2).mean())),
                     "limit_rms_stderr": lim_noise})
    ws = np.log([r["width"] for r in rows])
    es = np.log([max(r["rms_error"], 1e-300) for r in rows])
    slope = float(np.polyfit(ws, es, 1)[0]) if len(rows) > 1 else float("nan")
    for r in rows:
        r["slope"] = slope
    return rows


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def _claim(model: str, readings: dict[str, Any], y: np.ndarray, errors: list[dict]) -> dict[str, Any]:
    """Does width approach the limit? Does the limit beat the kernels (paired over test examples)?"""
    f_lim = readings["limit"][0][0, -1]
    rows = [e for e in errors if e["model"] == model]
    shrinking = all(a["rms_error"] > b["rms_error"] for a, b in itertools.pairwise(rows))
    out: dict[str, Any] = {"model": model, "error_slope": rows[0]["slope"] if rows else float("nan"),
                           "error_shrinks_with_width": bool(shrinking)}
    for k in ("NTK", "NNGP"):
        f_k = readings[k][0][0, -1]
        out[f"acc_minus_{k.lower()}"], out[f"acc_minus_{k.lower()}_se"] = _paired(_acc_each(f_lim, y),
                                                                                  _acc_each(f_k, y))
        out[f"loss_minus_{k.lower()}"], out[f"loss_minus_{k.lower()}_se"] = _paired(0.5 * (f_lim - y) ** 2,
                                                                                    0.5 * (f_k - y) ** 2)
    return out


def claim_sentences(summary: dict[str, Any]) -> list[str]:
    """The claims tested, in words, with their error bars."""
    out = []
    for c in summary["claims"]:
        e = [r for r in summary["errors"] if r["model"] == c["model"]]
        first, last = e[0], e[-1]
        out.append(
            f"{c['model']}: RMS distance of the test logits to the limit goes from {first['rms_error']:.3f} "
            f"+- {first['rms_error_se']:.3f} (width {first['width']}) to {last['rms_error']:.3f} +- "
            f"{last['rms_error_se']:.3f} (width {last['width']}), log-log slope {c['error_slope']:.2f} (theory -1/2; "
            f"the limit's own particle error is {last['limit_rms_stderr']:.3f}); "
            f"{'monotone' if c['error_shrinks_with_width'] else 'not monotone'} in width.")
        for k in ("ntk", "nngp"):
            d, s = c[f"acc_minus_{k}"], c[f"acc_minus_{k}_se"]
            dl, sl = c[f"loss_minus_{k}"], c[f"loss_minus_{k}_se"]
            verdict = ("beats" if d > 2 * s else "loses to" if d < -2 * s else "ties with")
            out.append(f"{c['model']}: the limit {verdict} the {k.upper()} in test accuracy (limit - kernel: "
                       f"{100 * d:+.1f} +- {100 * s:.1f} points, paired over test images; test loss difference "
                       f"{dl:+.4f} +- {sl:.4f}; 'ties' = within 2 standard errors).")
    return out


def _fmt(v: float, se: float | None = None, pct: bool = False) -> str:
    if v != v:  # NaN
        return "nan"
    k = 100.0 if pct else 1.0
    s = f"{k * v:.1f}" if pct else f"{v:.4f}"
    if se:
        s += f" +- {k * se:.1f}" if pct else f" +- {se:.4f}"
    return s


def markdown(cfg: Any, summary: dict[str, Any], command: str) -> str:
    """The table (final step), errors to the limit and claims as Markdown; the command on top."""
    lines = [f"<!-- produced by: {command} -->" if command else "<!-- produced by infwidth.experiments.real_limit -->",
             "", f"Task: {summary['data']}; {cfg.steps} SGD steps, batch {cfg.batch}, lr {cfg.lr}, mse, muP.", "",
             "| model | steps | reading | train loss (last epoch) | test loss | test accuracy (%) |",
             "|---|---|---|---|---|---|"]
    for r in summary["table"]:
        name = r["reading"] + (f" (lr {r['kernel_lr']:g})" if "kernel_lr" in r else "")
        if r["n_seeds"] > 1:
            name += f", {r['n_seeds']} seeds"
        lines.append(f"| {r['model']} | {r['steps']} | {name} | {_fmt(r['train_loss'], r.get('train_loss_se'))} | "
                     f"{_fmt(r['test_loss'], r.get('test_loss_se'))} | "
                     f"{_fmt(r['test_acc'], r.get('test_acc_se'), pct=True)} |")
    lines += ["", "Error to the limit at the last step (RMS over test images of f_width - f_limit):", "",
              "| model | width | seeds | RMS error | seed-mean RMS error | limit's own stderr |",
              "|---|---|---|---|---|---|"]
    for e in summary["errors"]:
        lines.append(f"| {e['model']} | {e['width']} | {e['n_seeds']} | {e['rms_error']:.4f} +- {e['rms_error_se']:.4f}"
                     f" | {e['seed_mean_rms_error']:.4f} | {e['limit_rms_stderr']:.4f} |")
    lines += ["", "Claims tested:", ""] + [f"- {s}" for s in claim_sentences(summary)]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, cfg: Any, summary: dict[str, Any], command: str) -> dict[str, Path]:
    """CSV curves/table/errors, the Markdown table and the PNG figure in ``out``."""
    from infwidth.io import atomic_open
    from infwidth.viz.real_limit import plot_real_limit

    paths = {"curves": out / "real_limit.csv", "table": out / "real_limit_table.csv",
             "errors": out / "real_limit_errors.csv", "markdown": out / "real_limit_table.md",
             "figure": out / "real_limit.png"}
    write_csv(paths["curves"], summary["curves"])
    write_csv(paths["table"], summary["table"])
    write_csv(paths["errors"], summary["errors"])
    with atomic_open(paths["markdown"]) as f:
        f.write(markdown(cfg, summary, command))
    plot_real_limit(summary, paths["figure"], title=f"{summary['data']}; {cfg.steps} steps of SGD, batch {cfg.batch}, "
                    f"lr {cfg.lr:g} (muP); kernels: lr tuned on validation loss")
    return paths
