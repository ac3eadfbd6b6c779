"""TP4 Figure 4: computed muP limits against finite-width networks.

Three networks of Section 6 (depth 1, depth 2 with decoupled backprop, depth 2) with phi = x or
x^2, trained by SGD (batch 1) on random xi_t, y_t in {+1, -1}. The infinite-width loss curve is
computed exactly (linear / polynomial backends, Definition 7.3); finite-width muP networks at
each width are run with ``n_seeds`` seeds (the program's finite-width executor, which equals an
autograd muP network exactly, see tests/test_limits_builders.py) and summarized by the mean and
standard deviation of the loss per step.

``run(config)`` returns a dict with tidy ``rows`` (one per curve point) and ``errors`` (one per
(builder, phi, width): distance of the seed-mean logits to the limit), and writes CSV/JSON/PNG
when ``config.out_dir`` is set. Finished (builder, phi, width) cells are checkpointed and skipped
on resume.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.io import read_json, write_csv, write_json
from infwidth.limits import mlp_sgd_program, run_finite, run_linear, run_polynomial

BUILDERS: dict[str, tuple[int, bool]] = {"depth 1": (1, False), "depth 2 decoupled": (2, True), "depth 2": (2, False)}
PHIS = {"x": "identity", "x^2": "square"}


@dataclass
class Fig4Config:
    """Settings of the Figure 4 reproduction (defaults: the paper's widths and seed count)."""

    widths: tuple[int, ...] = (1024, 4096)
    n_seeds: int = 100
    steps: dict[str, int] = field(default_factory=lambda: {"x": 8, "x^2": 4})
    lr: dict[str, float] = field(default_factory=lambda: {"x": 0.25, "x^2": 0.01})
    data_seed: int = 0
    out_dir: str | None = "results"
    resume: bool = True
    progress: bool = True


def _data(cfg: Fig4Config, T: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(cfg.data_seed)
    Tmax = max(cfg.steps.values())
    xs, ys = rng.choice([-1.0, 1.0], Tmax), rng.choice([-1.0, 1.0], Tmax)
    return xs[:T], ys[:T]


def run(config: Fig4Config | None = None) -> dict[str, Any]:
    """Compute every limit curve and finite-width ensemble; write results; return them."""
    cfg = config or Fig4Config()
    out = Path(cfg.out_dir) if cfg.out_dir else None
    ckpt_path = out / "fig4_checkpoint.json" if out else None
    done: dict[str, Any] = {}
    if ckpt_path is not None and cfg.resume and ckpt_path.exists():
        saved = read_json(ckpt_path)
        if saved.get("config") == _cfg_key(cfg):
            done = saved["cells"]
    cells = [(bname, pname, w) for bname in BUILDERS for pname in PHIS for w in (0, *cfg.widths)]
    bar: Any = None
    if cfg.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cells), desc="fig4", unit="cell")
    for bname, pname, w in cells:
        key = f"{bname}|{pname}|{w}"
        if key not in done:
            done[key] = _cell(cfg, bname, pname, w)
            if ckpt_path is not None:
                write_json(ckpt_path, {"config": _cfg_key(cfg), "cells": done})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    rows, errors = _tidy(cfg, done)
    result = {"rows": rows, "errors": errors, "config": _cfg_key(cfg)}
    if out is not None:
        write_csv(out / "fig4.csv", rows)
        write_csv(out / "fig4_errors.csv", errors)
        from infwidth.viz.fig4 import plot_fig4

        plot_fig4(rows, out / "fig4.png")
    return result


def _cfg_key(cfg: Fig4Config) -> dict[str, Any]:
    d = asdict(cfg)
    for k in ("out_dir", "resume", "progress"):
        d.pop(k)
    d["widths"] = list(d["widths"])
    return d


def _cell(cfg: Fig4Config, bname: str, pname: str, width: int) -> dict[str, Any]:
    """One curve: the limit (width 0) or ``n_seeds`` finite-width runs; f and loss per step."""
    depth, dec = BUILDERS[bname]
    T = cfg.steps[pname]
    xs, ys = _data(cfg, T)
    b = mlp_sgd_program(depth, PHIS[pname], xs, ys, lr=cfg.lr[pname], decoupled=dec)
    t0 = time.perf_counter()
    if width == 0:
        r = run_linear(b.program) if pname == "x" else run_polynomial(b.program)
        res = b.collect(r.values)
        return {"f": [res["f"].ravel().tolist()], "loss": [res["loss"].tolist()],
                "seconds": time.perf_counter() - t0, "backend": r.backend}
    fs, losses = [], []
    for s in range(cfg.n_seeds):
        res = b.collect(run_finite(b.program, width, seed=1000 * width + s))
        fs.append(res["f"].ravel().tolist())
        losses.append(res["loss"].tolist())
    return {"f": fs, "loss": losses, "seconds": time.perf_counter() - t0, "backend": "finite"}


def _tidy(cfg: Fig4Config, done: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for bname in BUILDERS:
        for pname in PHIS:
            lim = done[f"{bname}|{pname}|0"]
            f_lim = np.array(lim["f"][0])
            for w in (0, *cfg.widths):
                cell = done[f"{bname}|{pname}|{w}"]
                F, Ls = np.array(cell["f"]), np.array(cell["loss"])
                for t in range(F.shape[1]):
                    rows.append({"builder": bname, "phi": pname, "width": "inf" if w == 0 else w, "t": t,
                                 "loss_mean": Ls[:, t].mean(), "loss_std": Ls[:, t].std(),
                                 "f_mean": F[:, t].mean(), "f_std": F[:, t].std(), "n_seeds": F.shape[0]})
                if w:
                    dev = F.mean(axis=0) - f_lim
                    se = F.std(axis=0, ddof=1) / np.sqrt(F.shape[0])
                    errors.append({"builder": bname, "phi": pname, "width": w,
                                   "max_abs_err_seed_mean": float(np.abs(dev).max()),
                                   "max_z": float(np.max(np.abs(dev[1:]) / np.maximum(se[1:], 1e-300))),
                                   "rms_err_per_seed": float(np.sqrt(((F - f_lim) ** 2).mean())),
                                   "seconds": cell["seconds"]})
    return rows, errors
