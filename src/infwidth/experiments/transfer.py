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
from collections.abc import Mapping, Sequence
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


def run_transfer_trial(params: Mapping[str, Any]) -> dict[str, Any]:
    """One (task, parametrization, optimizer, width, lr, seed) trial; returns the held-out loss."""
    torch.set_num_threads(1)
    torch.manual_seed(int(params["seed"]))
    w, bw, task = int(params["width"]), int(params["base_width"]), str(params["task"])
    g = torch.Generator().manual_seed(int(params["seed"]))
    model: nn.Module
    if task == "cifar-mlp":
        xtr, ytr, xte, yte = _cifar(params.get("data_dir"))
        model = mlp(w, d_in=3072, d_out=10, depth=2)
        base: nn.Module = mlp(bw, d_in=3072, d_out=10, depth=2)

        def batch_loss(m: nn.Module) -> torch.Tensor:
            i = torch.randint(0, len(xtr), (int(params["batch"]),), generator=g)
            return nn.functional.cross_entropy(m(xtr[i]), ytr[i])

        def test_loss(m: nn.Module) -> float:
            return float(nn.functional.cross_entropy(m(xte), yte))
    elif task == "text-transformer":
        codes, ctx = _text(params.get("data_dir")), 32
        split = int(0.9 * len(codes))
        model = TinyTransformer(w, vocab=27, ctx=ctx, layers=2)
        base = TinyTransformer(bw, vocab=27, ctx=ctx, layers=2)

        def windows(lo: int, hi: int, n: int, gen: torch.Generator) -> torch.Tensor:
            starts = torch.randint(lo, hi - ctx - 1, (n,), generator=gen)
            return torch.stack([codes[s:s + ctx + 1] for s in starts.tolist()])

        held = windows(split, len(codes), 64, torch.Generator().manual_seed(99))

        def batch_loss(m: nn.Module) -> torch.Tensor:
            from infwidth.scaling.models import lm_loss

            return lm_loss(m, windows(0, split, int(params["batch"]), g))

        def test_loss(m: nn.Module) -> float:
            from infwidth.scaling.models import lm_loss

            return float(lm_loss(m, held))
    else:
        raise InfwidthError(f"unknown task {task!r}; choose cifar-mlp or text-transformer.")
    opt = scaled_optimizer(model, base, str(params["parametrization"]), str(params["optimizer"]),
                           float(params["lr"]))
    with torch.no_grad():
        initial = test_loss(model)
    for _ in range(int(params["steps"])):
        opt.zero_grad()
        loss = batch_loss(model)
        if not math.isfinite(float(loss.detach())):
            return outcome(initial, float("nan"))
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = test_loss(model)
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


def analyse(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (parametrization, optimizer): optimum per width and the drift per doubling."""
    out = []
    keys = sorted({(str(r["parametrization"]), str(r["optimizer"])) for r in rows})
    for p, o in keys:
        sub = [r for r in rows if r["parametrization"] == p and r["optimizer"] == o]
        widths = sorted({int(r["width"]) for r in sub})
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
        s, se = drift(widths, opts)
        out.append({"parametrization": p, "optimizer": o, "widths": widths,
                    "lr_opt": [2.0 ** v for v in opts], "interior": interior, "best_loss": best,
                    "drift_per_doubling": s, "drift_se": se})
    return out


def run(config: TransferConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the sweep, then write ``transfer_<task>.csv/.png`` and return the analysis."""
    from infwidth.viz.scaling import plot_transfer

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    trials = grid(task=[config.task], parametrization=list(config.parametrizations),
                  optimizer=list(config.optimizers), width=list(config.widths), lr=list(config.lrs),
                  seed=list(config.seeds), steps=[config.steps], batch=[config.batch],
                  base_width=[config.base_width])
    if config.data_dir is not None:
        trials = [{**t, "data_dir": config.data_dir} for t in trials]
    store = SweepStore(out / f"transfer_{config.task}.sqlite")
    ran = run_sweep(trials, store, run_transfer_trial, workers=config.workers, progress=progress)
    wanted = {(t["parametrization"], t["optimizer"], t["width"], t["lr"], t["seed"]) for t in trials}
    rows = [r for r in store.results() if r.get("task") == config.task and r.get("steps") == config.steps
            and (r["parametrization"], r["optimizer"], r["width"], r["lr"], r["seed"]) in wanted]
    write_csv(out / f"transfer_{config.task}.csv", rows,
              ["task", "parametrization", "optimizer", "width", "lr", "seed", "steps", "loss", "diverged", "reason"])
    for opt in config.optimizers:
        plot_transfer([r for r in rows if r["optimizer"] == opt], out / f"transfer_{config.task}_{opt}.png")
    result = {"task": config.task, "ran": ran, "trials": len(rows), "steps": config.steps,
              "batch": config.batch, "base_width": config.base_width, "seeds": list(config.seeds),
              "lrs": list(config.lrs), "analysis": analyse(rows)}
    write_json(out / f"transfer_{config.task}.json", result)
    write_report(out)
    return result


def write_report(out: Path) -> Path:
    """(Re)write ``out/transfer.md`` from every ``transfer_<task>.json`` found in ``out``."""
    lines = ["# Hyperparameter transfer across width (measured)", "",
             "Produced by `infwidth experiment transfer` (see docs/scaling.md). Optimal base learning rate",
             "per width (parabola-refined in log lr; * = at the edge of the grid, not refined) and its drift:",
             "the least-squares slope of log2(lr*) against log2(width), i.e. factors of 2 per doubling of",
             "width, with its standard error. Zero drift = the optimum transfers.", ""]
    for path in sorted(out.glob("transfer_*.json")):
        res = read_json(path)
        lines += [f"## {res['task']}", "",
                  f"{res['steps']} steps, batch {res['batch']}, base width {res['base_width']}, "
                  f"seeds {res['seeds']}, lr grid {res['lrs']}.", "",
                  "| parametrization | optimizer | lr* per width | best loss per width | drift per doubling |",
                  "|---|---|---|---|---|"]
        for a in res["analysis"]:
            lrs = ", ".join(f"{w}: {lr:.2g}{'' if inner else '*'}"
                            for w, lr, inner in zip(a["widths"], a["lr_opt"], a["interior"]))
            best = ", ".join(f"{v:.3f}" for v in a["best_loss"])
            lines.append(f"| {a['parametrization']} | {a['optimizer']} | {lrs} | {best} | "
                         f"{a['drift_per_doubling']:+.2f} ± {a['drift_se']:.2f} |")
        lines += ["", f"![{res['task']}](transfer_{res['task']}_adam.png)", ""]
    path = out / "transfer.md"
    with atomic_open(path) as f:
        f.write("\n".join(lines) + "\n")
    return path
