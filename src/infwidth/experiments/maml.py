"""TP4 Table 2: few-shot Omniglot (5-way 1-shot) with first-order MAML for the muP limit, finite widths
and kernel limits. ``run(config)`` meta-trains one model for one seed (resumable, per-epoch meta-validation
CSV, best-on-validation model meta-tested on the test split; the initialization, validated as epoch 0, is
a candidate too); ``table`` aggregates runs over seeds.

Protocol (TP4 Section 9.2 and its code ``edwardjhu/TP4/TP4MAML``): 28x28 inputs, ink = 1, rotation
classes for meta-train/val, 1 inner step of 0.4 in meta-training, meta-batch 32, SGD meta-optimizer,
meta-gradient summed over tasks and clipped at 0.5, 100 epochs x 100 meta-batches, float64; meta-val
each epoch with 1 adaptation step; meta-test with 20 adaptation steps on the test split (no rotations).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.data.omniglot import TaskBatch, TaskSampler, load_omniglot
from infwidth.errors import InfwidthError
from infwidth.io import (
    load_checkpoint,
    read_csv,
    read_json,
    refuse_overwrite,
    save_checkpoint,
    write_csv,
    write_json,
)
from infwidth.maml.core import MAMLConfig
from infwidth.maml.learners import KERNEL_SPECS, Hyper, Learner, parse_spec

# TP4 Table 2 (meta-test accuracy %, mean and std over seeds), keyed by our model specs.
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "gp-relu": (47.60, 0.02), "ntk-relu": (47.82, 0.04),
    "width:2": (55.34, 1.24), "width:8": (64.54, 0.70), "width:32": (66.21, 0.15), "width:128": (66.31, 0.16),
    "width:512": (66.43, 0.23), "width:2048": (66.36, 0.22), "width:8192": (66.41, 0.18),
    "limit": (66.42, 0.19), "gp-linear": (41.68, 0.09), "ntk-linear": (41.68, 0.09),
}
TABLE2_MODELS = ("gp-relu", "ntk-relu", "width:2", "width:8", "width:32", "width:128", "width:512",
                 "width:2048", "width:8192", "limit", "gp-linear", "ntk-linear")

# (meta_lr, sigma_u, sigma_v, hidden-bias alpha) of TP4's runs (TP4MAML/train_all.sh), by width.
_WIDTH_HYPER = {2: (0.05, 0.5, 0.5, 2.0), 8: (0.1, 0.5, 0.25, 1.0), 32: (0.4, 1.0, 0.125, 0.5),
                128: (0.1, 1.0, 0.125, 1.0), 512: (0.1, 1.0, 0.03125, 1.0)}
LIMIT_HYPER = Hyper(0.1, 1.0, 0.03125, 1.0)
# Kernel baselines: TP4 tuned these (its Table 4 is not in our copy of the paper); ours are defaults
# (sigma_w = sigma_b = sigma_v = 1, meta_lr 0.1), reported as untuned.
KERNEL_HYPER = Hyper(0.1, 1.0, 1.0, 1.0)


def default_hyper(spec: str) -> Hyper:
    """TP4's hyperparameters for a model spec; a width not in TP4's list takes the nearest smaller one."""
    kind, width = parse_spec(spec)
    if kind == "limit":
        return LIMIT_HYPER
    if width is None:
        return KERNEL_HYPER
    key = max([w for w in _WIDTH_HYPER if w <= width], default=2)
    return Hyper(*_WIDTH_HYPER[key])


@dataclass(frozen=True)
class MAMLRunConfig:
    """One meta-training run. Sizes: ``epochs`` x ``batches_per_epoch`` meta-iterations of ``meta_batch``
    tasks; ``val_tasks`` meta-validation tasks per epoch (1 adaptation step, as meta-training);
    ``test_tasks`` meta-test tasks with ``test_steps`` adaptation steps. ``hyper`` None = TP4's."""

    model: str = "limit"
    seed: int = 0
    epochs: int = 100
    batches_per_epoch: int = 100
    meta_batch: int = 32
    val_tasks: int = 3200
    test_tasks: int = 3200
    test_steps: int = 20
    inner_lr: float = 0.4
    grad_clip: float | None = 0.5
    first_order: bool = True
    hyper: Hyper | None = None
    data_dir: str | None = None

    def hp(self) -> Hyper:
        """The hyperparameters in force."""
        return self.hyper if self.hyper is not None else default_hyper(self.model)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "tiny": {"epochs": 2, "batches_per_epoch": 5, "meta_batch": 8, "val_tasks": 64, "test_tasks": 200},
}


def preset_config(preset: str, **overrides: Any) -> MAMLRunConfig:
    """A :class:`MAMLRunConfig` from a preset name ('paper' or 'tiny') with field overrides."""
    if preset not in PRESETS:
        raise InfwidthError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}.")
    return replace(MAMLRunConfig(), **{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


def run_dir(out: str | Path, model: str, seed: int) -> Path:
    """Output folder of one run: ``out/<model with ':' -> '-'>/seed<k>``."""
    return Path(out) / model.replace(":", "-") / f"seed{seed}"


def _draw(sampler: TaskSampler, n_tasks: int, batch: int) -> list[TaskBatch]:
    """Tasks 0 .. n_tasks-1 of ``sampler`` in batches of ``batch`` (drawn once, reused by every evaluation)."""
    return [sampler.batch(start, min(batch, n_tasks - start)) for start in range(0, n_tasks, batch)]


def _mean_accuracy(learner: Learner, batches: list[TaskBatch], steps: int) -> np.ndarray:
    """Per-task query accuracy after ``steps`` adaptation steps, over all ``batches``."""
    return np.concatenate([learner.evaluate(b, steps).numpy() for b in batches])


def check_run_dir(cfg: MAMLRunConfig, out: str | Path, resume: bool, force: bool) -> dict[str, Any] | None:
    """Nothing finished is replaced silently: the finished result of this very configuration (``resume``), or
    None when the run may start; ``InfwidthError`` when :func:`run_dir` holds results without ``resume`` or
    ``force``, or (with ``resume``) a run of other settings without ``force``."""
    folder = run_dir(out, cfg.model, cfg.seed)
    refuse_overwrite(folder, ("result.json", "checkpoint.pt"), resume, force)
    if not resume or force:
        return None
    for name in ("result.json", "checkpoint.pt"):
        if (folder / name).exists():
            saved = read_json(folder / name) if name.endswith(".json") else load_checkpoint(folder / name)
            if (saved or {}).get("config") != _jsonable(cfg):
                raise InfwidthError(f"{str(folder)!r} holds a run with other settings ({name}); pass --force to "
                                    "replace it or choose another --out.")
            if name == "result.json":
                return saved
    return None


def run(cfg: MAMLRunConfig, out: str | Path, resume: bool = False,
        progress: Callable[[int, int, dict[str, float]], None] | None = None, force: bool = False) -> dict[str, Any]:
    """Meta-train ``cfg.model`` for seed ``cfg.seed``, meta-test the best-on-validation model.

    Writes ``val.csv`` (one row per epoch), ``checkpoint.pt`` (each epoch) and ``result.json`` in
    :func:`run_dir`. ``progress(iteration, total, stats)`` is called after each meta-iteration.
    Finished results are reused with ``resume`` and replaced only with ``force`` (:func:`check_run_dir`).
    Returns the result dict (test accuracy mean/std-error in %, best epoch, timings, config).
    """
    folder = run_dir(out, cfg.model, cfg.seed)
    result_path = folder / "result.json"
    done = check_run_dir(cfg, out, resume, force)
    if done is not None:
        return done
    hp = cfg.hp()
    torch.manual_seed(cfg.seed)
    learner = Learner(cfg.model, hp, MAMLConfig(cfg.inner_lr, 1, cfg.first_order, cfg.grad_clip, "sum"), cfg.seed)
    data = load_omniglot(cfg.data_dir)
    train = TaskSampler(data.split_images("train"), rotations=True, seed=cfg.seed)
    val = TaskSampler(data.split_images("val"), rotations=True, seed=1_000_003 + cfg.seed)
    test = TaskSampler(data.split_images("test"), rotations=False, seed=2_000_003 + cfg.seed)
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"val_accuracy": -1.0, "epoch": 0, "state": learner.state_dict()}
    start_epoch, elapsed = 0, 0.0
    ckpt_path = folder / "checkpoint.pt"
    state = load_checkpoint(ckpt_path) if resume and not force else None
    if state is not None and state.get("config") == _jsonable(cfg):
        learner.load_state_dict(state["learner"])
        rows, best, start_epoch, elapsed = state["rows"], state["best"], state["epoch"], state["elapsed_s"]
    val_batches = _draw(val, cfg.val_tasks, cfg.meta_batch)  # the same tasks every epoch
    if not rows:  # the initialization competes too: a run never returns a model worse on validation than its start
        val0 = float(_mean_accuracy(learner, val_batches, 1).mean())
        nan = float("nan")
        rows.append({"epoch": 0, "iterations": 0, "train_loss": nan, "train_accuracy": nan, "val_accuracy": val0,
                     "grad_norm": nan, "train_s": 0.0, "elapsed_s": 0.0})
        best = {"val_accuracy": val0, "epoch": 0, "state": learner.state_dict()}
    total = cfg.epochs * cfg.batches_per_epoch
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        stats: list[dict[str, float]] = []
        for i in range(cfg.batches_per_epoch):
            it = epoch * cfg.batches_per_epoch + i
            s = learner.step(train.batch(it * cfg.meta_batch, cfg.meta_batch))
            stats.append(s)
            if progress is not None:
                progress(it + 1, total, s)
        train_s = time.perf_counter() - t0
        val_acc = float(_mean_accuracy(learner, val_batches, 1).mean())
        elapsed += time.perf_counter() - t0
        row = {"epoch": epoch + 1, "iterations": (epoch + 1) * cfg.batches_per_epoch,
               "train_loss": float(np.mean([s["loss"] for s in stats])),
               "train_accuracy": float(np.mean([s["accuracy"] for s in stats])),
               "val_accuracy": val_acc, "grad_norm": float(np.mean([s["grad_norm"] for s in stats])),
               "train_s": train_s, "elapsed_s": elapsed}
        rows.append(row)
        if math.isfinite(val_acc) and val_acc > best["val_accuracy"]:
            best = {"val_accuracy": val_acc, "epoch": epoch + 1, "state": learner.state_dict()}
        write_csv(folder / "val.csv", rows)
        save_checkpoint(ckpt_path, {"config": _jsonable(cfg), "learner": learner.state_dict(), "rows": rows,
                                    "best": best, "epoch": epoch + 1, "elapsed_s": elapsed})
    learner.load_state_dict(best["state"])
    t0 = time.perf_counter()
    accs = _mean_accuracy(learner, _draw(test, cfg.test_tasks, cfg.meta_batch), cfg.test_steps)
    result = {"model": cfg.model, "seed": cfg.seed, "test_accuracy": 100 * float(accs.mean()),
              "test_accuracy_se": 100 * float(accs.std(ddof=1) / np.sqrt(len(accs))) if len(accs) > 1 else 0.0,
              "test_tasks": len(accs), "best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"],
              "train_s": elapsed, "test_s": time.perf_counter() - t0,
              "meta_iterations": cfg.epochs * cfg.batches_per_epoch, "hyper": asdict(hp), "config": _jsonable(cfg)}
    write_json(result_path, result)
    return result


def tune_kernel(model: str, sigma_vs: Sequence[float], biases: Sequence[float], val_tasks: int = 1600,
                steps: int = 20, inner_lr: float = 0.4, seed: int = 0, data_dir: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Tune a kernel baseline's variances on meta-validation (TP4 tuned its kernel baselines).

    Inputs: a kernel spec (gp-relu, ntk-relu, gp-linear, ntk-linear), grids of sigma_v and of the bias
    (sigma_b for relu kernels, the bias coordinate for linear ones); sigma_w = 1 loses nothing (the relu
    NNGP/NTK scale by c^2 when (sigma_w, sigma_b) scale by c; the linear kernels depend on sigma_w sigma_v
    and sigma_b / sigma_w only). Each point is the model before meta-training (f_0 = 0), adapted with
    ``steps`` kernel-gradient steps of ``inner_lr`` on ``val_tasks`` meta-validation tasks (with rotations,
    the same tasks for every point). Output rows: sigma_v, bias, val_accuracy (%), val_se, chosen; sorted best
    first. ``chosen`` marks one point by the one-standard-error rule: the smallest sigma_v (then bias) whose
    accuracy is within one s.e. of the best. The accuracy is flat along a ridge of (sigma_v, bias), and a
    smaller kernel keeps each clipped meta-step (RKHS norm <= meta_lr * clip) from moving f(x) by
    O(meta_lr * clip * sqrt(K(x, x))), which with a large kernel undoes what the tuning found.
    """
    if parse_spec(model)[0] not in KERNEL_SPECS:
        raise InfwidthError(f"{model!r} is not a kernel baseline; use gp-relu, ntk-relu, gp-linear or ntk-linear.")
    data = load_omniglot(data_dir)
    val = TaskSampler(data.split_images("val"), rotations=True, seed=1_000_003 + seed)
    batches = _draw(val, val_tasks, 32)  # the same tasks for every grid point
    grid = [(float(v), float(b)) for v in sigma_vs for b in biases]
    rows: list[dict[str, Any]] = []
    for i, (sv, b) in enumerate(grid):
        learner = Learner(model, Hyper(KERNEL_HYPER.meta_lr, 1.0, sv, b), MAMLConfig(inner_lr, 1, True), seed)
        accs = _mean_accuracy(learner, batches, steps)
        rows.append({"model": model, "sigma_w": 1.0, "sigma_v": sv, "bias": b, "val_accuracy": 100 * float(accs.mean()),
                     "val_se": 100 * float(accs.std(ddof=1) / np.sqrt(len(accs))), "val_tasks": len(accs),
                     "steps": steps})
        if progress is not None:
            progress(i + 1, len(grid))
    rows.sort(key=lambda r: -r["val_accuracy"])
    near = [r for r in rows if r["val_accuracy"] >= rows[0]["val_accuracy"] - rows[0]["val_se"]]
    chosen = min(near, key=lambda r: (r["sigma_v"], r["bias"]))
    for r in rows:
        r["chosen"] = r is chosen
    return rows


def _jsonable(cfg: MAMLRunConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["hyper"] = asdict(cfg.hp())
    return d


DIVERGENCE_FACTOR = 10.0  # a run diverged when its last epoch's meta-train loss exceeds this x its minimum


def _epoch_losses(result: dict[str, Any]) -> list[float]:
    return [float(r["train_loss"]) for r in result.get("val_curve", []) if int(float(r["epoch"])) > 0]


def diverged(result: dict[str, Any]) -> bool:
    """Whether a run's meta-training diverged: its last epoch's meta-train loss is non-finite or above
    :data:`DIVERGENCE_FACTOR` times the smallest epoch loss of the run (from its ``val_curve`` rows)."""
    losses = _epoch_losses(result)
    if not losses:
        return False
    finite = [x for x in losses if math.isfinite(x)]
    return not math.isfinite(losses[-1]) or (bool(finite) and losses[-1] > DIVERGENCE_FACTOR * min(finite))


def divergence_epoch(result: dict[str, Any]) -> int | None:
    """First epoch whose meta-train loss is non-finite or above :data:`DIVERGENCE_FACTOR` times the smallest
    loss of the epochs before it (None when the run did not diverge)."""
    if not diverged(result):
        return None
    best = math.inf
    for epoch, x in enumerate(_epoch_losses(result), start=1):
        if not math.isfinite(x) or x > DIVERGENCE_FACTOR * best:
            return epoch
        best = min(best, x)
    return None


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model (input order): mean and std over the seeds that did not diverge
    (:func:`diverged`; all seeds when every one diverged), the mean over all seeds, and which diverged."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["model"], []).append(r)
    rows = []
    for model, runs in by.items():
        bad = [r["seed"] for r in runs if diverged(r)]
        onset = "; ".join(f"seed {r['seed']}: diverged at epoch {divergence_epoch(r)}, best-validation epoch "
                          f"{r['best_epoch']}" for r in runs if diverged(r))
        kept = [r["test_accuracy"] for r in runs if r["seed"] not in bad] or [r["test_accuracy"] for r in runs]
        every = [r["test_accuracy"] for r in runs]
        paper = PAPER_TABLE2.get(model)
        rows.append({"model": model, "seeds": len(runs), "seeds_kept": len(kept), "accuracy": float(np.mean(kept)),
                     "std": float(np.std(kept, ddof=1)) if len(kept) > 1 else float("nan"),
                     "accuracy_all_seeds": float(np.mean(every)),
                     "diverged_seeds": " ".join(str(x) for x in bad), "divergence": onset,
                     "paper": paper[0] if paper else None, "paper_std": paper[1] if paper else None})
    return rows


def collect(out: str | Path, models: list[str]) -> list[dict[str, Any]]:
    """Every finished run (``result.json``) under ``out`` for the given model specs, in model order."""
    found = []
    for m in models:
        for path in sorted(run_dir(out, m, 0).parent.glob("seed*/result.json")):
            r = read_json(path)
            curve = path.parent / "val.csv"
            r["val_curve"] = read_csv(curve) if curve.exists() else []
            found.append(r)
    return found


def _fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None or x != x else f"{x:.{nd}f}"


def write_table(results: list[dict[str, Any]], results_dir: str | Path, command: str = "") -> list[dict[str, Any]]:
    """Write ``maml_table2.csv`` (per model), ``maml_runs.csv`` (per run, with its divergence flag),
    ``maml_val_curves.csv`` (per-epoch meta-validation accuracy of every run), ``maml_accuracy_vs_width.png``,
    ``maml_val_curves.png`` and the generated block ``maml-table2`` of ``maml_table2.md`` in ``results_dir``.

    The block puts our mean +- std over the seeds that did not diverge next to TP4's Table 2, the mean over
    all seeds, what each run used, and a note computed from those rows. Text of ``maml_table2.md``
    outside the block (the hand-written account) is kept. Returns the aggregated rows.
    """
    from infwidth.io import write_generated_block
    from infwidth.viz.maml import plot_accuracy_vs_width, plot_val_curves

    if not results:
        raise InfwidthError("no finished MAML runs found; run `infwidth experiment maml` first or drop --no-run.")
    rows = aggregate(results)
    d = Path(results_dir)
    write_csv(d / "maml_table2.csv", rows)
    write_csv(d / "maml_runs.csv", [{"model": r["model"], "seed": r["seed"], "test_accuracy": r["test_accuracy"],
                                     "test_accuracy_se": r.get("test_accuracy_se", ""), "best_epoch": r["best_epoch"],
                                     "diverged": diverged(r), "divergence_epoch": divergence_epoch(r)}
                                    for r in results])
    curves = [{"model": r["model"], "seed": r["seed"], **row} for r in results for row in r.get("val_curve", [])]
    write_csv(d / "maml_val_curves.csv", curves)
    if curves:
        plot_val_curves(curves, d / "maml_val_curves.png")
    plot_accuracy_vs_width(rows, d / "maml_accuracy_vs_width.png", PAPER_TABLE2,
                           per_seed=[{**r, "diverged": diverged(r)} for r in results])
    write_generated_block(d / "maml_table2.md", "maml-table2", _table_markdown(rows, results, command))
    return rows


def _table_markdown(rows: list[dict[str, Any]], results: list[dict[str, Any]], command: str) -> str:
    lines = ["# TP4 Table 2: Omniglot 5-way 1-shot meta-test accuracy (%), first-order MAML", ""]
    if command:
        lines += [f"Produced by `{command}`.", ""]
    lines += [f"A seed counts as diverged when its last epoch's meta-train loss is above {DIVERGENCE_FACTOR:g}x its "
              "smallest (or not finite); the mean and std are over the other seeds.", "",
              "| model | seeds (kept) | ours: mean | std over seeds | TP4 | TP4 std | ours - TP4 | mean over all seeds "
              "| diverged seeds | per seed: accuracy (best-validation epoch) |", "|" + "---|" * 10]
    for r in rows:
        diff = None if r["paper"] is None else r["accuracy"] - r["paper"]
        per_seed = "; ".join(f"s{x['seed']} {x['test_accuracy']:.2f} (e{x['best_epoch']})"
                             for x in results if x["model"] == r["model"])
        lines.append(f"| {r['model']} | {r['seeds']} ({r['seeds_kept']}) | {_fmt(r['accuracy'])} | {_fmt(r['std'])} | "
                     f"{_fmt(r['paper'])} | {_fmt(r['paper_std'])} | {_fmt(diff)} | {_fmt(r['accuracy_all_seeds'])} | "
                     f"{r['diverged_seeds'] or '-'} | {per_seed} |")
    lines += ["", "## What was run (per model; TP4: 10,000 meta-iterations of 32 tasks, meta-val 3,200 tasks per "
              "epoch, meta-test thousands of tasks with 20 steps, tuned kernel variances)", "",
              "| model | meta-iterations | meta-batch | val tasks/epoch | test tasks | test steps | meta-lr | "
              "sigma_u (sigma_w) | sigma_v | bias | train s (mean) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    seen: set[str] = set()
    for r in results:
        if r["model"] in seen:
            continue
        seen.add(r["model"])
        c, h = r["config"], r["hyper"]
        secs = np.mean([x["train_s"] for x in results if x["model"] == r["model"]])
        lines.append(f"| {r['model']} | {r['meta_iterations']} | {c['meta_batch']} | {c['val_tasks']} | "
                     f"{r['test_tasks']} | {c['test_steps']} | {h['meta_lr']} | {h['sigma_u']} | {h['sigma_v']} | "
                     f"{h['bias']} | {secs:.0f} |")
    lines += ["", "## Note (computed from the table above)", "", *_findings(rows)]
    return "\n".join(lines)


def _findings(rows: list[dict[str, Any]]) -> list[str]:
    """Lines quoting the numbers behind TP4's two claims, on the means over non-diverged seeds."""
    acc = {r["model"]: r["accuracy"] for r in rows}
    every = {r["model"]: r["accuracy_all_seeds"] for r in rows}
    dropped = [f"{r['model']} ({r['divergence']})" for r in rows if r["diverged_seeds"]]
    out = []
    if dropped:
        out.append("- diverged seeds, left out of the means below: " + ", ".join(dropped) + ".")
    kernels = {m: a for m, a in acc.items() if m in KERNEL_SPECS}
    if "limit" in acc and kernels:
        best = max(kernels, key=kernels.__getitem__)
        out.append(f"- muP limit {acc['limit']:.2f}% vs best kernel limit ({best}) {kernels[best]:.2f}%: "
                   f"difference {acc['limit'] - kernels[best]:+.2f} points; over all seeds "
                   f"{every['limit'] - every[best]:+.2f} (TP4: 66.42 vs 47.82, +18.60).")
    widths = sorted((int(m.split(":")[1]), a) for m, a in acc.items() if m.startswith("width:"))
    if widths:
        out.append("- finite widths (width: accuracy %): " + ", ".join(f"{w}: {a:.2f}" for w, a in widths) + ".")
        if "limit" in acc:
            std = {r["model"]: r["std"] for r in rows}
            below = sum(a <= acc["limit"] for _, a in widths)
            w_max, a_max = widths[-1]
            out.append(f"- {below} of {len(widths)} widths are at or below the limit ({acc['limit']:.2f}%); "
                       f"largest width ({w_max}) minus limit: {a_max - acc['limit']:+.2f} points (std over seeds: "
                       f"width {_fmt(std.get(f'width:{w_max}'))}, limit {_fmt(std.get('limit'))}).")
    return out or ["- not enough models to compare."]
