"""Measure the particle engine's cost model (docs/limits.md, "Cost model of the particle engine").

Usage: ``python scripts/particle_cost.py T B N L [--eval E --every K] [--phi tanh] [--float64]``

Builds the muP MLP program of ``T`` SGD steps with batch ``B`` (depth ``L``, d_in = 64, random Gaussian
inputs and +-1 targets, mse, lr 0.5; optionally ``E`` eval inputs every ``K`` steps), plans it and runs it
with ``N`` particles (8 replicas). Prints CPU seconds of build, plan and run (run includes planning),
peak RSS, and the plan's CostModel (vectors, peak slots, arena bytes, vector reads) with the achieved
reads per second.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from infwidth.arch import MLPSpec, Routine
from infwidth.limits import run_particles
from infwidth.limits.builders import tensor_program
from infwidth.limits.plan import make_plan
from infwidth.parametrization import mup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("T", "B", "N", "L"):
        ap.add_argument(name, type=int)
    ap.add_argument("--eval", type=int, default=0, help="number of eval inputs E")
    ap.add_argument("--every", type=int, default=1, help="evaluate every K steps")
    ap.add_argument("--phi", default="tanh")
    ap.add_argument("--float64", action="store_true")
    a = ap.parse_args()
    d = 64
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((512, d)), rng.choice([-1.0, 1.0], (512, 1))
    ev = rng.standard_normal((a.eval, d)) if a.eval else None
    r = Routine(x, y, loss="mse", lr=0.5, batch_size=a.B, steps=a.T, eval_inputs=ev, eval_every=a.every)
    dtype = np.float64 if a.float64 else np.float32
    c0 = time.process_time()
    b = tensor_program(MLPSpec(a.L, d_in=d, phi=a.phi), mup(a.L), r)
    c_build = time.process_time() - c0
    c0 = time.process_time()
    make_plan(b.program)
    c_plan = time.process_time() - c0
    c0 = time.process_time()
    res = run_particles(b.program, particles=a.N, replicas=8, seed=0, dtype=dtype)
    c_run = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    cost = res.cost
    rate = cost["vector_passes"] * a.N / 1e9 / max(c_run - c_plan, 1e-9)
    print(f"T={a.T} B={a.B} N={a.N} L={a.L} E={a.eval}/{a.every} {np.dtype(dtype).name}: build {c_build:.1f}s "
          f"plan {c_plan:.1f}s run(incl plan) {c_run:.1f}s cpu; maxrss {rss:.2f} GB")
    print(f"   {cost} Gel/s {rate:.2f}")


if __name__ == "__main__":
    main()
