"""Hyperparameter transfer across width (the muTransfer experiment), at CPU scale.

For each task, parametrization and optimizer, train at several widths over a grid of base
learning rates (``infwidth.sweep``: resumable SQLite store, process pool) and measure where the
optimal learning rate goes as the width doubles.

Tasks (real data from the shared data directory):
* ``cifar-mlp``: an MLP (3072 -> w -> w -> 10, ReLU) on a fixed random subset of CIFAR-10
  (JPEG copy, decoded with Pillow), minibatch Adam; metric: test cross-entropy on 1000 images.
* ``text-transformer``: a 2-block decoder-only transformer (head size 16) on characters of the
  text8 substitute (27 symbols, first 2e6 characters), context 32; metric: held-out next-character loss.

Parametrizations: ``sp-global`` (PyTorch's SP, one learning rate for all layers), ``sp`` (SP with
the derived per-layer learning rates), ``mup``. Optimizers: ``adam``, ``adam-atan2``.

Optimum per width: the best grid point refined by a parabola through it and its two neighbours
in log(lr) (when interior). Drift: least-squares slope of log2(lr*) against log2(width), i.e. how
many factors of 2 the optimum moves per doubling of width, with its standard error.
"""

from __future__ import annotations

import functools
import gzip
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from infwidth.errors import InfwidthError
from infwidth.io import atomic_open, read_json, write_csv, write_json
from infwidth.scaling.models import TinyTransformer, mlp
from infwidth.sweep import SweepStore, grid, run_sweep
from infwidth.sweep.trial import outcome, scaled_optimizer

CIFAR = "cifar10_jpeg/cifar10_jpeg_bytes.npz"
TEXT = "wiki_text8like/wiki_text8like.txt.gz"


@dataclass
class TransferConfig:
    """What to run. Widths/lrs/seeds define the grid; ``out`` receives CSV, PNG and Markdown."""

    task: str = "cifar-mlp"
    parametrizations: Sequence[str] = ("sp-global", "sp", "mup")
    optimizers: Sequence[str] = ("adam", "adam-atan2")
    widths: Sequence[int] = (64, 128, 256, 512, 1024)
    lrs: Sequence[float] = (1e-4, 4e-4, 1.6e-3, 6.4e-3, 2.56e-2, 1e-1)
    seeds: Sequence[int] = (0,)
    steps: int = 100
    batch: int = 64
    base_width: int = 64
    workers: int = 2
    data_dir: str | None = None
    out: Path = field(default_factory=lambda: Path("results"))


def _data_file(relative: str, data_dir: str | None) -> Path:
    from infwidth.data.text8 import resolve_data_file

    return resolve_data_file(relative, data_dir)


@functools.lru_cache(maxsize=2)
def _cifar(data_dir: str | None, n_train: int = 4096, n_test: int = 1000) -> tuple[torch.Tensor, ...]:
    try:
        from PIL import Image
    except ImportError:
        raise InfwidthError("the cifar-mlp task decodes JPEGs with Pillow; `pip install pillow`.") from None
    d = np.load(_data_file(CIFAR, data_dir))
    rng = np.random.default_rng(0)
    out: list[torch.Tensor] = []
    for split, n in (("train", n_train), ("test", n_test)):
        j, o, lab = d[f"{split}_jpeg"], d[f"{split}_offsets"], d[f"{split}_labels"]
        idx = rng.choice(len(o) - 1, n, replace=False)
        x = np.stack([np.asarray(Image.open(io.BytesIO(j[o[i]:o[i + 1]].tobytes())).convert("RGB"))
                      for i in idx]).astype(np.float32) / 255.0
        x = (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))
        out += [torch.from_numpy(x.reshape(n, -1)), torch.from_numpy(lab[idx].astype(np.int64))]
    return tuple(out)


@functools.lru_cache(maxsize=2)
def _text(data_dir: str | None, n_chars: int = 2_000_000) -> torch.Tensor:
    with gzip.open(_data_file(TEXT, data_dir), "rb") as f:
        raw = f.read(n_chars)
    codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    codes = np.where(codes == 32, 0, codes - 96)  # ' ' -> 0, 'a'..'z' -> 1..26 (text8 alphabet)
    if codes.min() < 0 or codes.max() > 26:
        raise InfwidthError("the text corpus is not in text8 form (only 'a'-'z' and spaces).")
    return torch.from_numpy(codes)


@dataclass
class TaskSetup:
    """One trial's model, base model (same code at the base width), training loss and held-out metric."""

    model: nn.Module
    base: nn.Module
    batch_loss: Callable[[nn.Module], torch.Tensor]
    test_loss: Callable[[nn.Module], float]


def _cifar_task(params: Mapping[str, Any], g: torch.Generator) -> TaskSetup:
    xtr, ytr, xte, yte = _cifar(params.get("data_dir"))
    w, bw = int(params["width"]), int(params["base_width"])

    def batch_loss(m: nn.Module) -> torch.Tensor:
        i = torch.randint(0, len(xtr), (int(params["batch"]),), generator=g)
        return nn.functional.cross_entropy(m(xtr[i]), ytr[i])

    def test_loss(m: nn.Module) -> float:
        return float(nn.functional.cross_entropy(m(xte), yte))

    return TaskSetup(mlp(w, d_in=3072, d_out=10, depth=2), mlp(bw, d_in=3072, d_out=10, depth=2), batch_loss, test_loss)


def text_windows(params: Mapping[str, Any], g: torch.Generator, ctx: int = 32
                 ) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """(draw a training batch of ``ctx + 1`` characters, the fixed held-out batch) from the text8 corpus."""
    codes = _text(params.get("data_dir"))
    split = int(0.9 * len(codes))

    def windows(lo: int, hi: int, n: int, gen: torch.Generator) -> torch.Tensor:
        starts = torch.randint(lo, hi - ctx - 1, (n,), generator=gen)
        return torch.stack([codes[s:s + ctx + 1] for s in starts.tolist()])

    held = windows(split, len(codes), 64, torch.Generator().manual_seed(99))
    return (lambda: windows(0, split, int(params["batch"]), g)), held


def _text_task(params: Mapping[str, Any], g: torch.Generator) -> TaskSetup:
    from infwidth.scaling.models import lm_loss

    ctx = 32
    train, held = text_windows(params, g, ctx)
    w, bw = int(params["width"]), int(params["base_width"])
    return TaskSetup(TinyTransformer(w, vocab=27, ctx=ctx, layers=2), TinyTransformer(bw, vocab=27, ctx=ctx, layers=2),
                     lambda m: lm_loss(m, train()), lambda m: float(lm_loss(m, held)))


def _gpt2_task(params: Mapping[str, Any], g: torch.Generator) -> TaskSetup:
    from infwidth.experiments.transfer_gpt2 import gpt2_task

    return gpt2_task(params, g)


#: Task name -> builder(trial parameters, the trial's generator) -> TaskSetup.
TASKS: dict[str, Callable[[Mapping[str, Any], torch.Generator], TaskSetup]] = {
    "cifar-mlp": _cifar_task, "text-transformer": _text_task, "hf-gpt2": _gpt2_task}


def run_transfer_trial(params: Mapping[str, Any]) -> dict[str, Any]:
    """One (task, parametrization, optimizer, width, lr, seed) trial; returns the held-out loss."""
    torch.set_num_threads(1)
    torch.manual_seed(int(params["seed"]))
    task = str(params["task"])
    g = torch.Generator().manual_seed(int(params["seed"]))
    if task not in TASKS:
        raise InfwidthError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    setup = TASKS[task](params, g)
    model = setup.model
    opt = scaled_optimizer(model, setup.base, str(params["parametrization"]), str(params["optimizer"]),
                           float(params["lr"]))
    with torch.no_grad():
        initial = setup.test_loss(model)
    for _ in range(int(params["steps"])):
        opt.zero_grad()
        loss = setup.batch_loss(model)
        if not math.isfinite(float(loss.detach())):
            return outcome(initial, float("nan"))
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = setup.test_loss(model)
    return outcome(initial, final)  # diverged: non-finite, or above DIVERGENCE_FACTOR x the initial test loss


def optimum(lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, bool]:
    """log2 of the optimal learning rate (parabola-refined when interior) and whether it is interior."""
    x = np.log2(np.asarray(lrs, dtype=float))
    y = np.array([v if math.isfinite(v) else np.inf for v in losses])
    i = int(np.argmin(y))
    if 0 < i < len(x) - 1 and np.all(np.isfinite(y[i - 1:i + 2])):
        a, b, _ = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
        if a > 0:
            return float(np.clip(-b / (2 * a), x[i - 1], x[i + 1])), True
    return float(x[i]), False


def drift(widths: Sequence[int], log2_lr: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of log2(lr*) vs log2(width) and its standard error (nan for < 3 points)."""
    x, y = np.log2(np.asarray(widths, dtype=float)), np.asarray(log2_lr, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    slope, icpt = np.polyfit(x, y, 1)
    if len(x) < 3:
        return float(slope), math.nan
    resid = y - (slope * x + icpt)
    se = math.sqrt(float(resid @ resid) / (len(x) - 2) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), se


def _optima(sub: Sequence[Mapping[str, Any]], widths: Sequence[int]) -> tuple[list[float], list[bool], list[float]]:
    """Per width: log2 of the optimal lr of the seed-mean loss curve, whether it is interior, the best mean loss.
    A diverged trial counts as an infinite loss (its learning rate is never the optimum)."""
    opts, interior, best = [], [], []
    for w in widths:
        by_lr: dict[float, list[float]] = {}
        for r in sub:
            if int(r["width"]) == w:
                by_lr.setdefault(float(r["lr"]), []).append(math.inf if r.get("diverged") else float(r["loss"]))
        lrs = sorted(by_lr)
        means = [float(np.mean(by_lr[x])) if all(map(math.isfinite, by_lr[x])) else math.inf for x in lrs]
        lo, inner = optimum(lrs, means)
        opts.append(lo)
        interior.append(inner)
        best.append(min(means))
    return opts, interior, best


def _complete_widths(sub: Sequence[Mapping[str, Any]], lrs: Sequence[float] | None,
                     seeds: Sequence[int] | None) -> tuple[list[int], list[int]]:
    """(widths whose grid of lrs x seeds is complete, widths with missing trials); all complete without a grid."""
    widths = sorted({int(r["width"]) for r in sub})
    if lrs is None or seeds is None:
        return widths, []
    need = {(float(lr), int(s)) for lr in lrs for s in seeds}
    have: dict[int, set[tuple[float, int]]] = {}
    for r in sub:
        have.setdefault(int(r["width"]), set()).add((float(r["lr"]), int(r.get("seed", 0))))
    return [w for w in widths if need <= have[w]], [w for w in widths if not need <= have[w]]


def analyse(rows: Sequence[Mapping[str, Any]], lrs: Sequence[float] | None = None,
            seeds: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Per (parametrization, optimizer): optimum per width and the drift per doubling.

    ``drift_per_doubling`` +- ``drift_se``: the fit through the optima of the seed-mean loss curves, with its
    regression standard error. ``drift_seeds``: the same fit for each seed alone (``lr_opt_seeds``: its optima),
    and ``drift_seed_sem`` their standard error of the mean (nan for one seed): the seed-to-seed error bar.
    With ``lrs`` and ``seeds`` (the grid), widths with missing trials are left out and listed in ``incomplete``.
    """
    out = []
    keys = sorted({(str(r["parametrization"]), str(r["optimizer"])) for r in rows})
    for p, o in keys:
        sub = [r for r in rows if r["parametrization"] == p and r["optimizer"] == o]
        widths, incomplete = _complete_widths(sub, lrs, seeds)
        sub = [r for r in sub if int(r["width"]) in widths]
        opts, interior, best = _optima(sub, widths)
        s, se = drift(widths, opts)
        seed_ids = sorted({int(r.get("seed", 0)) for r in sub})
        per_seed = [_optima([r for r in sub if int(r.get("seed", 0)) == k], widths)[0] for k in seed_ids]
        drifts = [drift(widths, v)[0] for v in per_seed]
        sem = float(np.std(drifts, ddof=1) / math.sqrt(len(drifts))) if len(drifts) > 1 else math.nan
        out.append({"parametrization": p, "optimizer": o, "widths": widths,
                    "lr_opt": [2.0 ** v for v in opts], "interior": interior, "best_loss": best,
                    "drift_per_doubling": s, "drift_se": se, "seeds": seed_ids,
                    "lr_opt_seeds": [[2.0 ** v for v in vs] for vs in per_seed], "drift_seeds": drifts,
                    "drift_seed_sem": sem, "incomplete": incomplete})
    return out


def _grid(config: TransferConfig) -> list[dict[str, Any]]:
    trials = grid(task=[config.task], parametrization=list(config.parametrizations),
                  optimizer=list(config.optimizers), width=list(config.widths), lr=list(config.lrs),
                  seed=list(config.seeds), steps=[config.steps], batch=[config.batch],
                  base_width=[config.base_width])
    if config.data_dir is not None:
        trials = [{**t, "data_dir": config.data_dir} for t in trials]
    return trials


def run(config: TransferConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the sweep, then write ``transfer_<task>.csv/.json/.png`` and ``transfer.md``; return the
    analysis."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    trials = _grid(config)
    store = SweepStore(out / f"transfer_{config.task}.sqlite")
    ran = run_sweep(trials, store, run_transfer_trial, workers=config.workers, progress=progress)
    return write_results(config, store.results(), len(trials), ran)


def write_results(config: TransferConfig, results: Sequence[Mapping[str, Any]], expected: int,
                  ran: int = 0) -> dict[str, Any]:
    """The write-up of the trials of ``config`` among ``results`` (a store's rows) into ``config.out``:
    tidy CSV, loss-vs-lr and optimum-vs-width figures per optimizer, JSON, and ``transfer.md`` (all tasks)."""
    from infwidth.viz.scaling import plot_optima, plot_transfer

    out = Path(config.out)
    wanted = {(p, o, w, lr, s) for p in config.parametrizations for o in config.optimizers for w in config.widths
              for lr in config.lrs for s in config.seeds}
    rows = [r for r in results if r.get("task") == config.task and r.get("steps") == config.steps
            and (r["parametrization"], r["optimizer"], r["width"], r["lr"], r["seed"]) in wanted]
    write_csv(out / f"transfer_{config.task}.csv", rows,
              ["task", "parametrization", "optimizer", "width", "lr", "seed", "steps", "loss", "diverged", "reason"])
    analysis = analyse(rows, config.lrs, config.seeds)
    for opt in config.optimizers:
        plot_transfer([r for r in rows if r["optimizer"] == opt], out / f"transfer_{config.task}_{opt}.png")
        plot_optima([a for a in analysis if a["optimizer"] == opt], out / f"transfer_{config.task}_{opt}_optima.png",
                    f"{config.task}, {opt}: optimal learning rate against width")
    result = {"task": config.task, "ran": ran, "trials": len(rows), "expected_trials": expected,
              "steps": config.steps, "batch": config.batch, "base_width": config.base_width,
              "widths": list(config.widths), "parametrizations": list(config.parametrizations),
              "optimizers": list(config.optimizers), "seeds": list(config.seeds), "lrs": list(config.lrs),
              "analysis": analysis}
    write_json(out / f"transfer_{config.task}.json", result)
    write_report(out)
    return result


def report_from_store(store: str | Path, out: str | Path) -> dict[str, Any]:
    """The write-up of a transfer sweep's store (finished or not) without running a trial: the grid is read
    from the stored trials (one task, one step count); a partial sweep is reported as such."""
    rows = SweepStore(store).results()
    if not rows:
        raise InfwidthError(f"the store {store} holds no finished trials; run `infwidth experiment transfer` first.")

    def values(key: str) -> list[Any]:
        return sorted({r[key] for r in rows})

    one = {k: values(k) for k in ("task", "steps", "batch", "base_width")}
    if any(len(v) != 1 for v in one.values()):
        raise InfwidthError(f"the store {store} mixes sweeps ({one}); write each up from its own store.")
    order = {"sp-global": 0, "sp": 1}
    cfg = TransferConfig(task=one["task"][0], parametrizations=sorted(values("parametrization"),
                                                                      key=lambda p: (order.get(p, 2), p)),
                         optimizers=values("optimizer"), widths=values("width"), lrs=values("lr"),
                         seeds=values("seed"), steps=one["steps"][0], batch=one["batch"][0],
                         base_width=one["base_width"][0], out=Path(out))
    Path(out).mkdir(parents=True, exist_ok=True)
    return write_results(cfg, rows, len(_grid(cfg)))


def command(res: Mapping[str, Any], out: str = "results") -> str:
    """The ``infwidth experiment transfer`` command of a ``transfer_<task>.json`` (it resumes from the store
    ``OUT/transfer_<task>.sqlite`` and runs only the trials it lacks)."""
    an = res["analysis"]
    params = res.get("parametrizations") or list(dict.fromkeys(a["parametrization"] for a in an))
    opts = res.get("optimizers") or list(dict.fromkeys(a["optimizer"] for a in an))
    widths = res.get("widths") or sorted({w for a in an for w in a["widths"]})
    return (f"infwidth experiment transfer --task {res['task']} --parametrizations {','.join(params)} "
            f"--optimizers {','.join(opts)} --widths {','.join(map(str, widths))} --base-width {res['base_width']} "
            f"--steps {res['steps']} --batch {res['batch']} --seeds {','.join(map(str, res['seeds']))} "
            f"--lrs {','.join(map(str, res['lrs']))} --out {out}")


def _pm(value: float | None, err: float | None) -> str:
    """``+v ± e`` (a JSON null, i.e. a nan, is shown as "-")."""
    v = "-" if value is None or not math.isfinite(value) else f"{round(value, 2) + 0.0:+.2f}"  # no "-0.00"
    return v if err is None or not math.isfinite(err) else f"{v} ± {err:.2f}"


def _seed_cell(a: Mapping[str, Any]) -> str:
    drifts = [math.nan if d is None else d for d in a.get("drift_seeds") or []]
    if not drifts:
        return "-"
    each = ", ".join(_pm(d, None) for d in drifts)
    return f"{_pm(float(np.mean(drifts)), a.get('drift_seed_sem'))} ({each})" if len(drifts) > 1 else each


def write_report(out: Path) -> Path:
    """(Re)write ``out/transfer.md`` from every ``transfer_<task>.json`` found in ``out``."""
    lines = ["# Hyperparameter transfer across width (measured)", "",
             "Produced by `infwidth experiment transfer` (see docs/scaling.md); each section gives the command that",
             "regenerates it (it resumes from the store `OUT/transfer_<task>.sqlite` and runs only missing trials;",
             "`python scripts/transfer_report.py --store STORE --out results` rewrites a section from a store",
             "without training). Optimal base learning rate per width (parabola-refined in log lr; * = at the",
             "edge of the grid, not refined) and its drift: the least-squares slope of log2(lr*) against",
             "log2(width), i.e. factors of 2 per doubling of width. 'drift per doubling': the fit through the",
             "optima of the seed-mean loss curves ± its regression standard error; 'per seed': the same fit for",
             "each seed alone, their mean ± standard error over seeds. Zero drift = the optimum transfers.", ""]
    for path in sorted(out.glob("transfer_*.json")):
        res = read_json(path)
        task = res["task"]
        lines += [f"## {task}", "", f"Command: `{command(res)}`", "",
                  f"{res['steps']} steps, batch {res['batch']}, base width {res['base_width']}, "
                  f"seeds {res['seeds']}, lr grid {res['lrs']}.", ""]
        if res.get("expected_trials", 0) > res.get("trials", 0):
            lines += [f"**Partial**: {res['trials']} of {res['expected_trials']} trials finished; widths with "
                      "missing trials are left out of the fits (listed per row).", ""]
        lines += ["| parametrization | optimizer | lr* per width | best loss per width | drift per doubling | "
                  "per seed |", "|---|---|---|---|---|---|"]
        for a in res["analysis"]:
            lrs = ", ".join(f"{w}: {lr:.2g}{'' if inner else '*'}"
                            for w, lr, inner in zip(a["widths"], a["lr_opt"], a["interior"]))
            if a.get("incomplete"):
                lrs += f" (incomplete: {', '.join(map(str, a['incomplete']))})"
            best = ", ".join(f"{v:.3f}" for v in a["best_loss"])
            lines.append(f"| {a['parametrization']} | {a['optimizer']} | {lrs} | {best} | "
                         f"{_pm(a['drift_per_doubling'], a['drift_se'])} | {_seed_cell(a)} |")
        lines += ["", f"![{task}](transfer_{task}_adam.png)", ""]
        if (out / f"transfer_{task}_adam_optima.png").is_file():
            lines += [f"![{task}: optimum against width](transfer_{task}_adam_optima.png)", ""]
    path = out / "transfer.md"
    with atomic_open(path) as f:
        f.write("\n".join(lines) + "\n")
    return path
