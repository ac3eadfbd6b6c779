"""The maximal-learning-rate experiment of TP4 Section 1 (figure to the right).

A relu MLP with 2 hidden layers is trained by SGD with square loss on one-hot CIFAR-10 targets in SP
(PyTorch default, c = 0) and in muP, over a log2 grid of learning rates eta at several widths, from the
largest eta down (after the first stable eta, ``keep_below`` more). Each run records the initial and
final training loss (full training subset), the test accuracy and whether it diverged (a non-finite
minibatch loss or one above ``divergence_factor`` x the initial loss, or a final loss not below the
initial one). The maximal stable LR at a width is estimated as the geometric midpoint between the
largest stable eta and the next (diverged) grid point; its exponent against width is fitted by least
squares with a 95% t-interval.
The theory (Theorem 3.3, Table 1) predicts exponent -1 for SP (max LR ~ 1/width) and 0 for muP.

Two searches: ``grid`` (every eta of the grid from the top down, ``keep_below`` more after the first
stable one) and ``bisect`` (the grid from the top down to the first stable eta, then ``bisect_steps``
bisections between it and the diverged eta above, so a one-octave grid resolves the max LR to 1/8
octave at a few runs' cost; it assumes stability is monotone in eta below the first stable point).
Each of ``seeds`` (the networks' initialization and minibatch order; the data subset is the same)
gives one estimate per width; the exponent is fitted to all (width, seed) estimates.

``run(config)`` returns a :class:`MaxLRResult`; nothing here knows about the CLI. The tidy CSV of runs
doubles as the checkpoint: with ``resume=True`` finished (param, width, lr) runs are skipped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infwidth.arch import MLPSpec
from infwidth.errors import InfwidthError
from infwidth.io import read_csv, read_json, write_csv, write_json
from infwidth.nn.coordcheck import fit_slope
from infwidth.nn.losses import loss_value
from infwidth.nn.mlp import AbcMLP
from infwidth.parametrization import preset

#: predicted exponent of the max LR against width (SP: c = 1 is needed, so eta_max ~ 1/n; muP: Theta(1))
THEORY = {"sp": -1.0, "mup": 0.0}


@dataclass
class MaxLRConfig:
    """Everything a max-LR sweep needs. ``log2_lrs`` maps a parametrization name to its grid of log2(eta)."""

    params: tuple[str, ...] = ("sp", "mup")
    depth: int = 2
    widths: tuple[int, ...] = (128, 256, 512, 1024)
    log2_lrs: dict[str, tuple[float, ...]] = field(default_factory=lambda: {
        "sp": tuple(float(v) for v in range(-16, 0)), "mup": tuple(float(v) for v in range(-14, 2))})
    n_train: int = 4096
    n_test: int = 2000
    batch: int = 32
    epochs: int = 1
    seed: int = 0
    divergence_factor: float = 10.0  # stop a run early once a minibatch loss exceeds factor * initial loss
    keep_below: int = 5  # the sweep runs from the largest eta down; after the first stable eta, this many more
    seeds: tuple[int, ...] = (0,)  # init + minibatch-order seeds (``seed`` picks the data subset)
    search: str = "grid"  # "grid" or "bisect" (see the module docstring)
    bisect_steps: int = 3
    data_dir: str | None = None
    source: str = "auto"
    cache: str | None = None
    device: str = "cpu"
    out_dir: str = "results/max_lr"
    resume: bool = True


PRESETS: dict[str, MaxLRConfig] = {
    # 5 widths over a 16x range, half-octave LR grid, one epoch of 2048 images: about 10 min on 2 idle cores.
    "cpu-small": MaxLRConfig(widths=(256, 512, 1024, 2048, 4096), n_train=2048, keep_below=3,
                             log2_lrs={"sp": tuple(v / 2 for v in range(-32, 1)),
                                       "mup": tuple(v / 2 for v in range(-28, 3))}),
    "paper": MaxLRConfig(widths=(256, 512, 1024, 2048, 4096, 8192), n_train=50000, n_test=10000, batch=64,
                         keep_below=8, log2_lrs={"sp": tuple(v / 2 for v in range(-40, 1)),
                                                 "mup": tuple(v / 2 for v in range(-32, 5))}),
    # 6 widths over a 32x range, 4 seeds, one-octave grid + 3 bisections (1/8 octave); sized to about
    # 1 hour of CPU (measured: docs/nn.md).
    "cpu-seeds": MaxLRConfig(widths=(256, 512, 1024, 2048, 4096, 8192), n_train=2048, seeds=(0, 1, 2, 3),
                             search="bisect", bisect_steps=3,
                             log2_lrs={"sp": tuple(float(v) for v in range(-16, 1)),
                                       "mup": tuple(float(v) for v in range(-14, 3))}),
    "tiny": MaxLRConfig(widths=(32, 64, 128), n_train=256, n_test=128, batch=16, keep_below=2,
                        log2_lrs={"sp": tuple(float(v) for v in range(-14, 0, 2)),
                                  "mup": tuple(float(v) for v in range(-14, 0, 2))}),
}


def config_for(name: str, **overrides: Any) -> MaxLRConfig:
    """The preset ``name`` (cpu-small, paper, tiny) with ``overrides`` (None values ignored)."""
    if name not in PRESETS:
        raise InfwidthError(f"unknown max-lr preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class MaxLRResult:
    """Rows of every run, the per-(param, width) max LR, and the fitted exponents."""

    config: MaxLRConfig
    runs: list[dict[str, Any]]
    max_lr: list[dict[str, Any]]
    exponents: dict[str, dict[str, float]]
    files: dict[str, str] = field(default_factory=dict)


Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_data(cfg: MaxLRConfig) -> Data:
    """CIFAR-10 subsets (x_train, y_train, x_test, y_test), inputs flattened and standardized."""
    from infwidth.data.cifar10 import cifar10_features

    xtr, ytr = cifar10_features("train", cfg.data_dir, cfg.source, cfg.cache, n=cfg.n_train, seed=cfg.seed)
    xte, yte = cifar10_features("test", cfg.data_dir, cfg.source, cfg.cache, n=cfg.n_test, seed=cfg.seed)
    return xtr, ytr, xte, yte


def train_one(param_name: str, width: int, log2_lr: float, data: Data, cfg: MaxLRConfig,
              seed: int | None = None) -> dict[str, Any]:
    """Train one network (``seed``: init and minibatch order, default ``cfg.seed``); returns a CSV row
    (losses, accuracy, status ok/diverged, seconds)."""
    seed = cfg.seed if seed is None else seed
    xtr, ytr, xte, yte = data
    d_in, n_cls = xtr.shape[1], int(max(ytr.max(), yte.max())) + 1
    p = preset(param_name, cfg.depth)
    dev = torch.device(cfg.device)
    net = AbcMLP(MLPSpec(cfg.depth, d_in=d_in, d_out=n_cls, phi="relu"), p, width, device=dev,
                 seed=seed * 7919 + width)
    X = torch.from_numpy(xtr).to(dev)
    Y = torch.nn.functional.one_hot(torch.from_numpy(ytr), n_cls).to(dtype=torch.float32, device=dev)
    eta = 2.0**log2_lr
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()

    def full_loss() -> float:
        with torch.no_grad():
            return float(loss_value(net(X), Y, "mse"))

    init_loss = full_loss()
    status, steps = "ok", 0
    for _ in range(cfg.epochs):
        order = torch.randperm(len(X), generator=g)
        for s in range(0, len(X) - cfg.batch + 1, cfg.batch):
            idx = order[s: s + cfg.batch].to(dev)
            loss = net.sgd_step(X[idx], Y[idx], eta, loss="mse")
            steps += 1
            if not math.isfinite(loss) or loss > cfg.divergence_factor * init_loss:
                status = "diverged"
                break
        if status != "ok":
            break
    final = full_loss() if status == "ok" else math.nan
    if status == "ok" and not final < init_loss:
        status = "diverged"  # no blow-up to inf, but the training loss ended above where it started
    acc = math.nan
    if status == "ok":
        with torch.no_grad():
            pred = net(torch.from_numpy(xte).to(dev)).argmax(dim=1).cpu().numpy()
        acc = float((pred == yte).mean())
    return {"param": param_name, "width": width, "seed": seed, "log2_lr": log2_lr, "lr": eta, "status": status,
            "init_loss": init_loss, "final_train_loss": final if math.isfinite(final) else math.nan,
            "test_acc": acc, "steps": steps, "seconds": round(time.time() - t0, 3)}


def _estimate(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Max stable LR of one (param, width, seed) from its rows: the midpoint between the largest stable
    log2 eta and the smallest diverged one above it (censored when none diverged above)."""
    ok = [float(r["log2_lr"]) for r in rows if r["status"] == "ok"]
    if not ok:
        return None
    top = max(ok)
    above = [float(r["log2_lr"]) for r in rows if r["status"] == "diverged" and float(r["log2_lr"]) > top]
    censored = not above
    return {"log2_max_stable": top, "log2_first_diverged": None if censored else min(above),
            "log2_max_lr_estimate": top if censored else (top + min(above)) / 2, "censored": censored}


def _seed_of(r: dict[str, Any], cfg: MaxLRConfig) -> int:
    return int(r["seed"]) if r.get("seed") not in (None, "") else cfg.seed


def fit_exponent(points: list[tuple[int, float]], min_width: int = 0) -> dict[str, float]:
    """Least-squares slope of log2(max LR) on log2(width) over the (width, estimate) ``points`` with
    width >= ``min_width``, and its 95% t-interval."""
    xs = [math.log2(w) for w, _ in points if w >= min_width]
    ys = [y for w, y in points if w >= min_width]
    slope, lo, hi = fit_slope(xs, ys)
    if not math.isfinite(slope) and len(set(xs)) >= 2:  # two points: a slope, but no interval
        slope = float(np.polyfit(xs, ys, 1)[0])
    return {"slope": slope, "ci_low": lo, "ci_high": hi, "n_widths": len(set(xs)), "n_points": len(xs)}


def summarize(runs: list[dict[str, Any]], cfg: MaxLRConfig) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Max stable LR per (param, width, seed) and the fitted log2(max LR) vs log2(width) slope per param
    (over every width, and over the widths >= 1024 as ``large_*``). Every seed found in ``runs`` for the
    configured widths counts (runs of earlier invocations with other seeds included)."""
    table: list[dict[str, Any]] = []
    exps: dict[str, dict[str, float]] = {}
    seeds = sorted({_seed_of(r, cfg) for r in runs} | set(cfg.seeds))
    for pname in cfg.params:
        points: list[tuple[int, float]] = []
        for w in cfg.widths:
            for seed in seeds:
                rows = [r for r in runs if r["param"] == pname and int(r["width"]) == w and _seed_of(r, cfg) == seed]
                est = _estimate(rows)
                if est is None:
                    continue
                table.append({"param": pname, "width": w, "seed": seed, **est})
                if not est["censored"]:
                    points.append((w, est["log2_max_lr_estimate"]))
        exps[pname] = {**fit_exponent(points), "theory": THEORY.get(pname, math.nan)}
        large = fit_exponent(points, min_width=1024)
        exps[pname].update({f"large_{k}": v for k, v in large.items()})
    return table, exps


def _grid_points(cfg: MaxLRConfig, pname: str, seen: Callable[[float], dict[str, Any]]) -> None:
    """The ``grid`` search: from the largest eta down, ``keep_below`` more after the first stable one."""
    stable_seen = 0
    for lr in sorted(cfg.log2_lrs[pname], reverse=True):
        if stable_seen > cfg.keep_below:
            return
        row = seen(float(lr))
        if row["status"] == "ok" or stable_seen:
            stable_seen += 1


def _bisect_points(cfg: MaxLRConfig, pname: str, seen: Callable[[float], dict[str, Any]]) -> None:
    """The ``bisect`` search: the grid from the top down to the first stable eta, then bisections
    between it and the diverged grid point above it."""
    grid = sorted(cfg.log2_lrs[pname], reverse=True)
    hi: float | None = None
    for lr in grid:
        if seen(float(lr))["status"] == "ok":
            lo = float(lr)
            break
        hi = float(lr)
    else:
        return
    if hi is None:
        return  # the top of the grid is stable: censored
    for _ in range(cfg.bisect_steps):
        mid = (lo + hi) / 2
        if seen(mid)["status"] == "ok":
            lo = mid
        else:
            hi = mid


def run(cfg: MaxLRConfig, data: Data | None = None,
        progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> MaxLRResult:
    """Run (or resume) the sweep; writes runs.csv, max_lr.csv, summary.json under ``cfg.out_dir``.

    ``progress(job, n_jobs, row)`` is called after every (param, width, seed, eta) run or reused row."""
    for pname in cfg.params:
        if pname not in cfg.log2_lrs:
            raise InfwidthError(f"no learning-rate grid for parametrization {pname!r}; add it to log2_lrs.")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_csv = out / "runs.csv"
    runs: list[dict[str, Any]] = []
    fingerprint = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "out_dir", "device", "cache",
                                                                     "data_dir", "widths", "log2_lrs", "seeds",
                                                                     "search", "bisect_steps")}
    cfg_file = out / "config.json"
    if cfg.resume and runs_csv.is_file():
        if cfg_file.is_file() and read_json(cfg_file) != json.loads(json.dumps(fingerprint)):
            raise InfwidthError(f"{out} holds runs of a different configuration; pass another --out-dir or "
                                "--no-resume to start over.")
        runs = [dict(r) for r in read_csv(runs_csv)]
    write_json(cfg_file, fingerprint)
    if cfg.search not in ("grid", "bisect"):
        raise InfwidthError(f"unknown search {cfg.search!r}; use grid or bisect.")
    done = {(r["param"], int(r["width"]), _seed_of(r, cfg), float(r["log2_lr"])): r for r in runs}
    jobs = [(p, w, s) for s in cfg.seeds for p in cfg.params for w in cfg.widths]  # seed-major: balanced partials

    for job, (pname, w, seed) in enumerate(jobs, start=1):
        def seen(lr: float, pname: str = pname, w: int = w, seed: int = seed, job: int = job) -> dict[str, Any]:
            nonlocal data
            key = (pname, w, seed, lr)
            if key not in done:
                if data is None:
                    data = load_data(cfg)
                done[key] = train_one(pname, w, lr, data, cfg, seed)
                runs.append(done[key])
                write_csv(runs_csv, runs, fieldnames=RUN_FIELDS)  # the checkpoint: one row per finished run
            if progress is not None:
                progress(job, len(jobs), done[key])
            return done[key]

        (_bisect_points if cfg.search == "bisect" else _grid_points)(cfg, pname, seen)
    table, exps = summarize(runs, cfg)
    write_csv(out / "max_lr.csv", table)
    cfg_json = asdict(cfg)
    write_json(out / "summary.json", {"config": cfg_json, "max_lr": table, "exponents": exps})
    return MaxLRResult(cfg, runs, table, exps, {"runs_csv": str(runs_csv), "max_lr_csv": str(out / "max_lr.csv"),
                                                 "summary_json": str(out / "summary.json")})


RUN_FIELDS = ["param", "width", "seed", "log2_lr", "lr", "status", "init_loss", "final_train_loss", "test_acc", "steps",
              "seconds"]
