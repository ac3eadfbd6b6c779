"""A computed infinite-width limit against finite-width networks of growing width.

The limit comes from ``infwidth.limits.limit_of`` (Tensor Programs engine for feature-learning
parametrizations, kernel gradient descent from the random f_0 for kernel-regime ones: its rows carry the
limit's own spread ``f_std``); the finite networks are
``AbcMLP``s in the same parametrization and constants, trained by the same SGD (batch 1) on the
same inputs. Theorem 7.4 / Theorem 6.4 say the finite-width logits converge to the limit; the
fluctuation of one network is O(n^{-1/2}), so the error of the seed-mean and the RMS error per seed
both shrink with width (for feature-learning limits f_0 -> 0, so per-seed errors shrink too).

``run(config)`` returns tidy ``rows`` (one per width x step), ``errors`` (one per width) and the fitted
log-log slope of the per-seed RMS error against width, and writes CSV/JSON/PNG when ``out_dir`` is set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.io import write_csv, write_json


@dataclass
class CompareConfig:
    """What to compare: an MLP, a parametrization and a training routine (input/output dim 1)."""

    depth: int = 2
    phi: str = "tanh"
    param: str = "mup"
    steps: int = 6
    lr: float = 0.5
    widths: tuple[int, ...] = (128, 512, 2048)
    seeds: int = 16
    particles: int = 200_000
    data_seed: int = 0
    out_dir: str | None = None
    progress: bool = True


def _finite_runs(cfg: CompareConfig, spec: Any, p: Any, routine: Any, width: int) -> np.ndarray:
    """f_t(xi_t) before each update, for every seed: array (seeds, T)."""
    import torch

    from infwidth.nn import AbcMLP, train

    return np.array([train(AbcMLP(spec, p, width, dtype=torch.float64, seed=10_000 * width + s), routine).f[:, 0, 0]
                     for s in range(cfg.seeds)])


def run(cfg: CompareConfig) -> dict[str, Any]:
    """Compute the limit and the finite-width ensembles; return (and optionally write) the results."""
    from infwidth.arch import MLPSpec, Routine
    from infwidth.limits import limit_of
    from infwidth.parametrization import classify, preset

    p = preset(cfg.param, cfg.depth)
    k = classify(p)
    rng = np.random.default_rng(cfg.data_seed)
    xs, ys = rng.choice([-1.0, 1.0], cfg.steps), rng.choice([-1.0, 1.0], cfg.steps)
    spec, routine = MLPSpec(cfg.depth, phi=cfg.phi), Routine(xs, ys, lr=cfg.lr)
    lim = limit_of(spec, p, routine, particles=cfg.particles, seed=cfg.data_seed)
    f_lim, std_lim, se_lim = lim.f[:, 0, 0], lim.f_std[:, 0, 0], lim.f_stderr[:, 0, 0]
    rows: list[dict[str, Any]] = [
        {"width": "inf", "t": t, "f_mean": f_lim[t], "f_std": std_lim[t], "f_stderr": se_lim[t], "n_seeds": 0}
        for t in range(cfg.steps)
    ]
    errors: list[dict[str, Any]] = []
    widths = list(cfg.widths)
    it: Any = widths
    if cfg.progress:
        from tqdm import tqdm

        it = tqdm(widths, desc="finite widths", unit="width")
    for w in it:
        F = _finite_runs(cfg, spec, p, routine, w)
        mean, std = F.mean(axis=0), F.std(axis=0, ddof=1)
        rows += [{"width": w, "t": t, "f_mean": mean[t], "f_std": std[t],
                  "f_stderr": std[t] / np.sqrt(cfg.seeds), "n_seeds": cfg.seeds} for t in range(cfg.steps)]
        se = np.sqrt(std**2 / cfg.seeds + se_lim**2)
        errors.append({"width": w, "rms_err_per_seed": float(np.sqrt(((F - f_lim) ** 2).mean())),
                       "max_abs_err_seed_mean": float(np.abs(mean - f_lim).max()),
                       "max_z_seed_mean": float(np.max(np.abs(mean - f_lim) / np.maximum(se, 1e-300))),
                       "max_abs_std_gap": float(np.abs(std - std_lim).max())})
    lw = np.log2(np.array(widths, dtype=float))
    le = np.log2(np.array([e["rms_err_per_seed"] for e in errors]))
    slope = float(np.polyfit(lw, le, 1)[0]) if len(widths) > 1 else float("nan")
    result = {"config": asdict(cfg), "regime": k.regime, "backend": lim.method, "limit_seconds": lim.seconds,
              "xs": xs.tolist(), "ys": ys.tolist(), "rows": rows, "errors": errors, "rms_error_slope": slope}
    if cfg.out_dir:
        out = Path(cfg.out_dir)
        write_csv(out / "compare.csv", rows)
        write_csv(out / "compare_errors.csv", errors)
        write_json(out / "compare.json", {k_: v for k_, v in result.items() if k_ != "rows"})
        from infwidth.viz.compare import plot_compare

        plot_compare(result, out / "compare.png")
    return result
