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
4. The real task (``--real-steps``; skipped without MNIST in the data directory): the depth-2 tanh muP MLP of
   ``infwidth experiment real-limit`` (MNIST 4 vs 9, d = 64, batch 2, lr 0.1) trained for ``--real-steps``
   steps; the error to the limit is the RMS over the test images of the logits after the last step. A
   reference limit uses 16x the engine's particles; width-4096 ensembles are run and extrapolated as in 1.
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
    ap.add_argument("--real-steps", type=int, default=32, help="SGD steps of the real-task case (0: skip it)")
    ap.add_argument("--real-particles", type=int, default=24_000)
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
    if args.real_steps > 0:
        real_task(args.real_steps, args.real_particles, args.width, 8 if args.quick else args.max_seeds)


def real_task(steps: int, particles: int, width: int, max_seeds: int) -> None:
    """Case 4 of the module docstring."""
    from dataclasses import replace

    from infwidth.errors import InfwidthError
    from infwidth.experiments.real_limit import _spec, limit_cell, load_task, make_routine, preset_config, width_cell

    cfg = preset_config("full", models=("2-tanh",), steps=steps, lr=0.1, n_test=100, eval_every=steps,
                        particles=particles, replicas=8)
    try:
        data = load_task(cfg)
    except InfwidthError as e:
        print(f"[4] real task skipped: {e}")
        return
    spec, routine = _spec(cfg, "2-tanh"), make_routine(cfg, data)
    print(f"[4] real task: depth-2 tanh muP, {data.description}; {steps} SGD steps, batch {cfg.batch}, lr {cfg.lr}")
    t0 = time.perf_counter()
    ref = limit_cell(replace(cfg, particles=16 * particles, particle_seed=123), spec, routine)
    f_ref = np.array(ref["f_eval"])[-1]
    print(f"    reference: {16 * particles} particles, {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    eng = limit_cell(cfg, spec, routine)
    t_eng = time.perf_counter() - t0
    err_eng = float(np.sqrt(np.mean((np.array(eng["f_eval"])[-1] - f_ref) ** 2)))
    print(f"    engine:    {particles} particles, {t_eng:.2f} s, RMS error to reference {err_eng:.2e}")
    F: list[np.ndarray] = []
    t0 = time.perf_counter()
    while len(F) < max_seeds:
        F.append(np.array(width_cell(cfg, spec, routine, width, len(F))["f_eval"])[-1])
        if len(F) >= 3 and np.sqrt(np.mean(np.var(F, axis=0, ddof=1))) / np.sqrt(len(F)) <= err_eng:
            break
    per_seed = (time.perf_counter() - t0) / len(F)
    Fa = np.array(F)
    sigma = float(np.sqrt(np.mean(Fa.var(axis=0, ddof=1))))  # RMS per-seed spread over test images
    bias = float(np.sqrt(np.mean((Fa.mean(axis=0) - f_ref) ** 2)))
    seeds_needed = max(len(F), int(np.ceil((sigma / err_eng) ** 2)))
    print(f"    width {width}: {len(F)} seeds run ({per_seed:.2f} s/seed), RMS seed-mean error {bias:.2e}, "
          f"RMS per-seed std {sigma:.2e}")
    how = "measured" if seeds_needed == len(F) else "extrapolated (sigma/err)^2"
    print(f"    seeds needed for RMS error {err_eng:.2e}: {seeds_needed} ({how}) -> {seeds_needed * per_seed:.1f} s"
          " (a lower bound: the width-4096 mean keeps its O(1/n) bias)")
    print(f"    RATIO finite-ensemble cost / engine cost = {seeds_needed * per_seed / t_eng:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
