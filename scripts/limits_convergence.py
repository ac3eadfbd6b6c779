"""Convergence numbers of tests/test_limits_convergence.py's new-builder cases (same data, seeds and limits).

Run from the repository root: ``python scripts/limits_convergence.py`` (several minutes on 2 cores). For each
case and width: the RMS error per seed of f_t to the limit (+- its standard error over seeds), the largest
|seed mean - limit| and the largest z of the seed mean over steps t >= 1; then the depth-3 x^2 check.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

sys.path.insert(0, "tests")
import test_limits_convergence as T
from infwidth.arch import MLPSpec, Routine
from infwidth.limits import run_linear, run_particles, run_polynomial, tensor_program
from infwidth.nn import AbcMLP, train
from infwidth.parametrization import mup


def ensemble(spec: MLPSpec, routine: Routine, n: int) -> np.ndarray:
    """f of 20 seeds of AbcMLP(spec, mup, n) trained by the routine: (seeds, T, B, d_out)."""
    return np.array([train(AbcMLP(spec, mup(spec.depth), n, dtype=torch.float64, seed=1000 * n + s), routine).f
                     for s in range(T.SEEDS)])


def report(name: str, F: dict[int, np.ndarray], f_lim: np.ndarray, se_lim: np.ndarray) -> None:
    print(f"## {name}")
    for n in sorted(F):
        sq = ((F[n] - f_lim) ** 2).reshape(F[n].shape[0], -1).mean(1)  # per-seed mean squared error
        rms = np.sqrt(sq.mean())
        se = sq.std(ddof=1) / np.sqrt(len(sq)) / (2 * rms)
        mean = F[n].mean(0)
        sem = np.sqrt(F[n].std(0, ddof=1) ** 2 / len(sq) + se_lim**2)
        z = np.abs(mean - f_lim)[1:] / sem[1:]
        print(f"  n={n:5d}  RMS error per seed {rms:.4f} +- {se:.4f}   "
              f"max|seed mean - limit| {np.abs(mean - f_lim).max():.4f}   max z (t>=1) {z.max():.2f}")
    r = [np.sqrt(((F[n] - f_lim) ** 2).mean()) for n in sorted(F)]
    print(f"  ratio RMS(first)/RMS(last) = {r[0] / r[-1]:.2f}; limit max|f| {np.abs(f_lim).max():.3f}, "
          f"limit max stderr {se_lim.max():.2e}", flush=True)


def main() -> None:
    for name, (spec, routine) in T.CASES.items():
        b = tensor_program(spec, mup(spec.depth), routine)
        lim = run_linear(b.program) if spec.activation.kind == "linear" else \
            run_particles(b.program, particles=160_000, replicas=16, seed=5)
        report(name, {n: ensemble(spec, routine, n) for n in T.WIDTHS}, b.collect(lim.values)["f"],
               b.collect(lim.stderr)["f"])
    spec = MLPSpec(3, phi="square", sigmas=(1.0, 3**-0.5, 3**-0.5, 1.0))
    routine = Routine(np.array(T.XS), np.array(T.YS), lr=0.02)
    b = tensor_program(spec, mup(3), routine)
    f_lim = b.collect(run_polynomial(b.program).values)["f"]
    part = run_particles(b.program, particles=400_000, replicas=16, seed=3)
    print("## depth3-square: exact limit", f_lim.ravel(), "particles", b.collect(part.values)["f"].ravel(),
          "+-", b.collect(part.stderr)["f"].ravel())
    report("depth3-square (width 1024 only)", {1024: ensemble(spec, routine, 1024)}, f_lim, np.zeros_like(f_lim))


if __name__ == "__main__":
    main()
