"""Benchmark: the Tensor Programs engine vs a finite-width ensemble, and cost scaling with steps.

Run: ``python benchmarks/limits.py`` (about 2-4 minutes on 2 CPU cores; ``--quick`` for ~1 minute).

1. Depth-2 tanh muP, 10 SGD steps (batch 1, lr 1, random +-1 data). A reference limit is computed
   with many particles (``--ref-particles``). The particle engine (``--particles``) is timed and its
   error to the reference measured (max over steps of |f_t - f_t^ref|). Then width-4096 muP networks
   (the program's finite-width executor, equal to autograd SGD) are run seed after seed until the
   seed-mean's standard error reaches the engine's error (capped by ``--max-seeds``; beyond the cap the
   number of seeds needed is extrapolated as (sigma / error)^2). Printed: both times, both errors, and
   the ratio finite-ensemble cost / engine cost (goal: >= 10).
2. The exact linear backend on depth-2 linear muP for 100 steps.
3. Cost vs number of steps T for the particle and linear backends, with the fitted exponent.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from infwidth.limits import mlp_sgd_program, run_finite, run_linear, run_particles


def _f(b, values):  # type: ignore[no-untyped-def]
    return b.collect(values)["f"].ravel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--particles", type=int, default=100_000)
    ap.add_argument("--ref-particles", type=int, default=1_600_000)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--max-seeds", type=int, default=48)
    ap.add_argument("--quick", action="store_true", help="smaller reference and fewer seeds")
    args = ap.parse_args()
    if args.quick:
        args.ref_particles, args.max_seeds = 400_000, 16

    rng = np.random.default_rng(0)
    T = 10
    xs, ys = rng.choice([-1.0, 1.0], T), rng.choice([-1.0, 1.0], T)
    b = mlp_sgd_program(2, "tanh", xs, ys, lr=1.0)
    print(f"[1] depth-2 tanh muP, {T} SGD steps; program: {b.program.counts()}")
    t0 = time.perf_counter()
    ref = run_particles(b.program, particles=args.ref_particles, replicas=16, seed=123)
    t_ref = time.perf_counter() - t0
    f_ref = _f(b, ref.values)
    ref_se = np.array([ref.stderr[n[0][0]] for n in b.f_names])
    print(f"    reference: {args.ref_particles} particles, {t_ref:.1f} s, max stderr {ref_se.max():.2e}")
    t0 = time.perf_counter()
    eng = run_particles(b.program, particles=args.particles, replicas=16, seed=7)
    t_eng = time.perf_counter() - t0
    err_eng = float(np.abs(_f(b, eng.values) - f_ref).max())
    se_eng = max(eng.stderr[n[0][0]] for n in b.f_names)
    print(f"    engine:    {args.particles} particles, {t_eng:.2f} s, error to reference {err_eng:.2e} "
          f"(reported max stderr {se_eng:.2e})")
    target = max(err_eng, 2 * ref_se.max())
    F: list[np.ndarray] = []
    t0 = time.perf_counter()
    while len(F) < args.max_seeds:
        F.append(_f(b, run_finite(b.program, args.width, seed=len(F))))
        if len(F) >= 4:
            se = np.std(F, axis=0, ddof=1).max() / np.sqrt(len(F))
            if se <= target:
                break
    t_fin = time.perf_counter() - t0
    Fa = np.array(F)
    per_seed = t_fin / len(F)
    sigma = Fa.std(axis=0, ddof=1).max()
    err_fin = float(np.abs(Fa.mean(axis=0) - f_ref).max())
    seeds_needed = max(len(F), int(np.ceil((sigma / target) ** 2)))
    cost_fin = seeds_needed * per_seed
    print(f"    width {args.width}: {len(F)} seeds run ({per_seed:.2f} s/seed), seed-mean error {err_fin:.2e}, "
          f"per-seed std {sigma:.2e}")
    print(f"    seeds needed for error {target:.2e}: {seeds_needed} "
          f"({'measured' if seeds_needed == len(F) else 'extrapolated (sigma/err)^2'}) -> {cost_fin:.1f} s")
    print(f"    RATIO finite-ensemble cost / engine cost = {cost_fin / t_eng:.1f}x (goal >= 10x)")

    T2 = 100
    xs2, ys2 = rng.choice([-1.0, 1.0], T2), rng.choice([-1.0, 1.0], T2)
    b2 = mlp_sgd_program(2, "identity", xs2, ys2, lr=0.1)
    t0 = time.perf_counter()
    r2 = run_linear(b2.program)
    print(f"[2] exact linear backend, depth-2 linear muP, {T2} steps: {time.perf_counter() - t0:.2f} s "
          f"(final loss {r2.values[b2.loss_names[-1]]:.4f})")

    print("[3] cost vs steps T")
    for name, phi, runner, Ts in [("particles (1e5)", "tanh", lambda p: run_particles(p, 100_000), (5, 10, 20, 40)),
                                  ("linear (exact)", "identity", run_linear, (12, 25, 50, 100))]:
        times = []
        for Tk in Ts:
            xk, yk = rng.choice([-1.0, 1.0], Tk), rng.choice([-1.0, 1.0], Tk)
            bk = mlp_sgd_program(2, phi, xk, yk, lr=0.1 if phi == "identity" else 1.0)
            t0 = time.perf_counter()
            runner(bk.program)
            times.append(time.perf_counter() - t0)
        slope = np.polyfit(np.log(Ts), np.log(times), 1)[0]
        print(f"    {name}: " + ", ".join(f"T={t}: {s:.2f}s" for t, s in zip(Ts, times))
              + f"; fitted cost ~ T^{slope:.2f}")


if __name__ == "__main__":
    main()
