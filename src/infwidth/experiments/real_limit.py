"""The feature-learning limit of deep nonlinear MLPs trained on a real task, against finite widths and kernels.

Task: a two-class subset of MNIST or CIFAR-10 (``classes``), inputs standardized per pixel, randomly
projected to ``d`` dimensions (a fixed Gaussian matrix) and scaled to norm sqrt(d); targets +-1, loss
1/2 (f - y)^2 (mse), minibatch SGD with the same batches in the same order for every reading.

Readings of each model (an :class:`~infwidth.arch.MLPSpec`: depth L, activation phi, muP):

* ``limit``: the muP infinite-width limit, the Tensor Program of the routine
  (:func:`~infwidth.limits.builders.tensor_program`) run by the particle engine, with standard errors;
* ``width:n``: ``AbcMLP(spec, mup(L), n)`` trained by ``infwidth.nn.train`` (float32), ``seeds`` seeds;
* ``ntk`` / ``nngp``: kernel gradient descent (Eq. (9)) with the same batches from f_0 = 0 (the mean
  trajectory of the kernel-regime limit under mse), with the NTK of the same architecture in NTP and with
  the readout-only kernel alpha_{L+1}^2 Phi^L (the NNGP); their learning rate is picked from
  ``kernel_lr_factors`` x ``lr`` by validation loss (held-out training images).

``run(cfg, out)`` computes every cell (one reading of one model), checkpointing each finished cell
atomically in ``out/checkpoint.json`` (``resume`` continues; ``force`` starts over), then writes
``out/real_limit.csv`` (curves), ``out/real_limit_table.{csv,md}``, ``out/real_limit_errors.csv`` (error to
the limit against width) and ``out/real_limit.png``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.arch import MLPSpec, Routine
from infwidth.errors import InfwidthError
from infwidth.io import read_json, write_json
from infwidth.parametrization import mup, ntp

DATASETS = ("mnist", "cifar10")
ACTIVATIONS = ("tanh", "relu", "gelu", "identity")


@dataclass(frozen=True)
class RealLimitConfig:
    """One run of the experiment (see the module docstring; ``PRESETS`` hold the documented sizes)."""

    dataset: str = "mnist"
    classes: tuple[int, int] = (4, 9)
    n_train: int = 256
    n_val: int = 256
    n_test: int = 500
    d: int = 64
    models: tuple[str, ...] = ("2-tanh", "3-relu")
    steps: int = 128
    batch: int = 2
    lr: float = 0.1
    eval_every: int = 32
    widths: tuple[int, ...] = (64, 256, 1024, 4096)
    seeds: int = 3
    particles: int = 24_000
    replicas: int = 4
    float32: bool = True
    kernel_lr_factors: tuple[float, ...] = tuple(2.0**k for k in range(-2, 11))  # 0.25 .. 1024
    data_seed: int = 0
    particle_seed: int = 0

    def check(self) -> None:
        """InfwidthError unless the settings make sense (checked before any work)."""
        if self.dataset not in DATASETS:
            raise InfwidthError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}.")
        if len(self.classes) != 2 or self.classes[0] == self.classes[1] or not all(0 <= c <= 9 for c in self.classes):
            raise InfwidthError(f"classes must be two different labels 0..9, got {self.classes}.")
        for m in self.models:
            parse_model(m)
        for name in ("n_train", "n_val", "n_test", "d", "steps", "batch", "eval_every", "seeds", "particles"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InfwidthError(f"{name} must be a positive integer, got {v!r}.")
        if self.batch > self.n_train:
            raise InfwidthError(f"the batch ({self.batch}) cannot exceed the training set ({self.n_train}).")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InfwidthError(f"the learning rate must be a finite number > 0, got {self.lr}.")
        if self.replicas < 2 or self.particles < 2 * self.replicas:
            raise InfwidthError("need replicas >= 2 and particles >= 2 * replicas (standard errors).")
        if not self.widths or any(w < 1 for w in self.widths):
            raise InfwidthError(f"widths must be positive integers, got {self.widths}.")

    def key(self) -> dict[str, Any]:
        """JSON form (what a checkpoint must match to be resumed)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


PRESETS: dict[str, dict[str, Any]] = {
    # seconds: the pipeline end to end (tests, smoke runs)
    "tiny": dict(n_train=16, n_val=16, n_test=24, d=8, models=("2-tanh", "3-relu"), steps=8, batch=2, lr=0.5,
                 eval_every=4, widths=(64, 256), seeds=2, particles=4000, replicas=4),
    # the documented run (docs/real_limit.md): ~22 min wall on 2 shared cores (~6 CPU minutes)
    "full": dict(),
}


def preset_config(name: str, **overrides: Any) -> RealLimitConfig:
    """The config of preset ``name`` with ``overrides`` (None values ignored)."""
    if name not in PRESETS:
        raise InfwidthError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    cfg = replace(RealLimitConfig(**PRESETS[name]), **{k: v for k, v in overrides.items() if v is not None})
    cfg.check()
    return cfg


def parse_model(name: str) -> tuple[int, str]:
    """``"3-relu"`` -> (3, "relu")."""
    depth, _, phi = name.partition("-")
    if not depth.isdigit() or int(depth) < 1 or phi not in ACTIVATIONS:
        raise InfwidthError(f"model {name!r} is not DEPTH-PHI with DEPTH >= 1 and PHI in {', '.join(ACTIVATIONS)} "
                            "(e.g. 2-tanh).")
    return int(depth), phi


# -- data ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskData:
    """Projected inputs (N, d) and +-1 targets (N,) of the train, validation and test subsets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str


def _pixels(dataset: str, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "mnist":
        from infwidth.data.mnist import load_mnist

        x, y = load_mnist(split, data_dir)
    else:
        from infwidth.data.cifar10 import load_cifar10

        x, y = load_cifar10(split, data_dir)
    return x.reshape(len(x), -1), y


def load_task(cfg: RealLimitConfig, data_dir: str | None = None) -> TaskData:
    """The two-class subsets of ``cfg`` (balanced, drawn with ``data_seed``), projected to ``d`` dimensions."""
    rng = np.random.default_rng(cfg.data_seed)
    xtr, ytr = _pixels(cfg.dataset, "train", data_dir)
    xte, yte = _pixels(cfg.dataset, "test", data_dir)

    def pick(x: np.ndarray, y: np.ndarray, n: int, avoid: np.ndarray | None = None) -> np.ndarray:
        out = []
        for k, c in enumerate(cfg.classes):
            pool = np.flatnonzero(y == c)
            if avoid is not None:
                pool = np.setdiff1d(pool, avoid)
            m = n // 2 + (n % 2 if k == 0 else 0)
            if m > len(pool):
                raise InfwidthError(f"{cfg.dataset} has only {len(pool)} images of class {c}; ask for fewer.")
            out.append(rng.choice(pool, m, replace=False))
        return rng.permutation(np.concatenate(out))

    i_tr = pick(xtr, ytr, cfg.n_train)
    i_va = pick(xtr, ytr, cfg.n_val, avoid=i_tr)
    i_te = pick(xte, yte, cfg.n_test)
    raw = xtr[i_tr].astype(np.float64) / 255.0
    mean, std = raw.mean(0), raw.std(0) + 0.1  # +0.1: constant border pixels stay bounded
    P = rng.standard_normal((raw.shape[1], cfg.d)) / np.sqrt(raw.shape[1])

    def project(x: np.ndarray) -> np.ndarray:
        z = ((x.astype(np.float64) / 255.0 - mean) / std) @ P
        return z * (np.sqrt(cfg.d) / np.linalg.norm(z, axis=1, keepdims=True))

    def target(y: np.ndarray) -> np.ndarray:
        return np.where(y == cfg.classes[0], 1.0, -1.0)

    desc = (f"{cfg.dataset} {cfg.classes[0]} (+1) vs {cfg.classes[1]} (-1): {cfg.n_train} train / {cfg.n_val} "
            f"val / {cfg.n_test} test images, pixels standardized, Gaussian projection to d = {cfg.d}, |x| = sqrt(d)")
    return TaskData(project(xtr[i_tr]), target(ytr[i_tr]), project(xtr[i_va]), target(ytr[i_va]),
                    project(xte[i_te]), target(yte[i_te]), desc)


def make_routine(cfg: RealLimitConfig, data: TaskData) -> Routine:
    """Minibatch SGD (sequential order over a shuffled training set), test inputs evaluated every ``eval_every``."""
    return Routine(data.x_train, data.y_train[:, None], loss="mse", lr=cfg.lr, batch_size=cfg.batch,
                   steps=cfg.steps, eval_inputs=data.x_test, eval_every=cfg.eval_every)


# -- the readings ------------------------------------------------------------------------------------------
def _spec(cfg: RealLimitConfig, model: str) -> MLPSpec:
    depth, phi = parse_model(model)
    return MLPSpec(depth, d_in=cfg.d, d_out=1, phi=phi)


def limit_cell(cfg: RealLimitConfig, spec: MLPSpec, routine: Routine,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The muP limit by the particle engine: test logits and batch losses with standard errors, cost."""
    from infwidth.limits.builders import tensor_program
    from infwidth.limits.particles import run_particles

    t0, c0 = time.perf_counter(), time.process_time()
    b = tensor_program(spec, mup(spec.depth), routine)
    n = len(b.program.instructions)
    res = run_particles(b.program, particles=cfg.particles, replicas=cfg.replicas, seed=cfg.particle_seed,
                        dtype=np.float32 if cfg.float32 else np.float64,
                        progress=None if progress is None else (lambda i: progress(i, n)))
    got, se = b.collect(res.values), b.collect(res.stderr)
    return {"f_eval": got["f_eval"][..., 0].tolist(), "f_eval_se": se["f_eval"][..., 0].tolist(),
            "loss": got["loss"].tolist(), "loss_se": se["loss"].tolist(), "eval_steps": b.eval_steps,
            "cost": res.cost, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def width_cell(cfg: RealLimitConfig, spec: MLPSpec, routine: Routine, width: int, seed: int) -> dict[str, Any]:
    """One finite muP network (float32) trained by the routine."""
    import torch

    from infwidth.nn.mlp import AbcMLP
    from infwidth.nn.train import train

    t0, c0 = time.perf_counter(), time.process_time()
    net = AbcMLP(spec, mup(spec.depth), width, dtype=torch.float32, seed=1000 * width + seed)
    tr = train(net, routine)
    assert tr.f_eval is not None
    return {"f_eval": tr.f_eval[..., 0].tolist(), "loss": tr.loss.tolist(), "eval_steps": tr.eval_steps,
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def kernel_constants(spec: MLPSpec, kind: str) -> Any:
    """Recursion constants of the NTK (all layers, NTP) or of the readout-only kernel alpha_{L+1}^2 Phi^L."""
    from infwidth.kernels.abc import tangent_kernel
    from infwidth.kernels.mlp import LayerConstants

    c = tangent_kernel(spec, ntp(spec.depth)).consts
    if kind == "ntk":
        return c
    L = spec.depth
    return LayerConstants(c.w_var, c.b_var, (0.0,) * L + (c.w_grad[-1],), (0.0,) * (L + 1))


def kernel_cell(cfg: RealLimitConfig, spec: MLPSpec, routine: Routine, data: TaskData, kind: str) -> dict[str, Any]:
    """Kernel gradient descent (Eq. (9), :func:`~infwidth.kernels.dynamics.kernel_gd`) from f_0 = 0 on the
    routine's batches; learning rate chosen from ``kernel_lr_factors`` x ``lr`` by validation loss (the mse
    being trained; accuracy is nearly blind to the learning rate while f is small, so it ties and picks the
    smallest), diverged rates never chosen."""
    import torch

    from infwidth.kernels.dynamics import kernel_gd
    from infwidth.kernels.mlp import kernel_recursion

    t0, c0 = time.perf_counter(), time.process_time()
    consts = kernel_constants(spec, kind)
    xs = torch.as_tensor(data.x_train)

    def gram(x_eval: np.ndarray) -> np.ndarray:
        pts = torch.cat([xs, torch.as_tensor(x_eval)])
        theta = kernel_recursion(pts, xs, spec.activation, consts)[1]
        assert theta is not None
        return theta.numpy()

    val_routine = replace(routine, eval_inputs=data.x_val)
    k_val = gram(data.x_val)
    best: tuple[float, float, float] | None = None                 # (val loss, lr, val accuracy)
    with np.errstate(all="ignore"):
        for factor in cfg.kernel_lr_factors:
            lr = factor * cfg.lr
            val = kernel_gd(k_val, replace(val_routine, lr=lr)).f_eval
            assert val is not None
            f = val[0, -1, :, 0]
            loss = float(np.mean(0.5 * (f - data.y_val) ** 2))
            if math.isfinite(loss) and (best is None or loss < best[0] - 1e-12):
                best = (loss, lr, accuracy(f, data.y_val))
    if best is None:
        raise InfwidthError(f"kernel gradient descent ({kind}) diverged at every learning rate; lower --lr.")
    res = kernel_gd(gram(data.x_test), replace(routine, lr=best[1]))
    assert res.f_eval is not None
    return {"f_eval": res.f_eval[0, :, :, 0].tolist(), "loss": res.loss[0].tolist(),
            "eval_steps": routine.eval_steps(), "lr": best[1], "val_loss": best[0], "val_accuracy": best[2],
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def accuracy(f: np.ndarray, y: np.ndarray) -> float:
    """Fraction of sign(f) == y, ties (f = 0) counted as half."""
    s = np.sign(f)
    return float(np.mean(np.where(s == 0, 0.5, (s == y).astype(np.float64))))


# -- the run -----------------------------------------------------------------------------------------------
def cell_keys(cfg: RealLimitConfig) -> list[str]:
    """Every unit of work, cheapest readings first so a partial run already has its baselines."""
    keys = []
    for m in cfg.models:
        keys += [f"{m}|nngp", f"{m}|ntk"]
        keys += [f"{m}|width:{w}|seed:{s}" for w in cfg.widths for s in range(cfg.seeds)]
        keys.append(f"{m}|limit")
    return keys


def run(cfg: RealLimitConfig, out: str | Path, resume: bool = False, force: bool = False,
        data_dir: str | None = None, progress: bool = True, command: str = "",
        data: TaskData | None = None) -> dict[str, Any]:
    """Compute every cell (checkpointed), then the tables and the figure; returns the summary.

    ``data``: the task (default :func:`load_task`); a run with other data is not comparable, so use its own
    ``out``.
    """
    cfg.check()
    out = Path(out)
    ckpt = out / "checkpoint.json"
    done: dict[str, Any] = {}
    if ckpt.exists() and not force:
        saved = read_json(ckpt)
        if not resume:
            raise InfwidthError(f"{out} already holds a run of this experiment; pass --resume to continue it or "
                                "--force to start over.")
        if saved.get("config") != cfg.key():
            raise InfwidthError(f"{out} holds a run with different settings; use another --out, or --force to "
                                "start over.")
        done = saved["cells"]
    data = data if data is not None else load_task(cfg, data_dir)
    routine = make_routine(cfg, data)
    todo = [k for k in cell_keys(cfg) if k not in done]
    bar = _bar(progress, len(cell_keys(cfg)), len(cell_keys(cfg)) - len(todo))
    for key in todo:
        if bar is not None:
            bar.set_postfix_str(key)
        done[key] = _cell(cfg, key, routine, data, bar)
        write_json(ckpt, {"config": cfg.key(), "command": command, "cells": done})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    from infwidth.experiments.real_limit_report import summarize, write_outputs

    summary = summarize(cfg, data, done)
    write_outputs(out, cfg, summary, command)
    return summary


def _bar(progress: bool, total: int, initial: int) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="real-limit", unit="cell")


def _cell(cfg: RealLimitConfig, key: str, routine: Routine, data: TaskData, bar: Any) -> dict[str, Any]:
    model, _, rest = key.partition("|")
    spec = _spec(cfg, model)
    if rest in ("ntk", "nngp"):
        return kernel_cell(cfg, spec, routine, data, rest)
    if rest == "limit":
        def tick(i: int, n: int) -> None:
            if bar is not None:
                bar.set_postfix_str(f"{key} {100 * i / max(n, 1):.0f}%")
        return limit_cell(cfg, spec, routine, tick)
    w, s = (int(part.split(":")[1]) for part in rest.split("|"))
    return width_cell(cfg, spec, routine, w, s)


def config_fields() -> Sequence[str]:
    """Names of the config's fields (for the CLI's overrides)."""
    return [f.name for f in fields(RealLimitConfig)]
