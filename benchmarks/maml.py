"""Benchmark: first-order MAML meta-iterations/s on Omniglot for the muP limit and width 8192 (1 and 2 threads).

For each model, times ``--iters`` meta-iterations of 32 real Omniglot tasks (float64) with our batched
linear path (:mod:`infwidth.maml.fast_linear`) and with the peer: the generic per-task autograd MAML
(:func:`infwidth.maml.core.meta_step`, the way TP4's own code and pytorch-maml compute it, on all n hidden
coordinates of a finite width), measured in the same run, and prints the ratio. Our width-n model is stored
in d + d_o = 790 coordinates when n > 790 (exact; :func:`infwidth.limits.linear_network.reduced_projection`).
Also times meta-validation (1 adaptation step) and meta-test
(20 steps) batches, and projects the wall time of one ``paper`` preset run (100 x 100 meta-iterations,
3,200 val tasks per epoch, 3,200 test tasks) on this machine.

On a 2-core machine shared with other jobs, 2 torch threads can be far slower than 1 (OpenMP threads
waiting on a busy core), so both are timed.

Run: python benchmarks/maml.py --iters 20 --peer-iters 3
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from infwidth.data.omniglot import TaskSampler, load_omniglot
from infwidth.experiments.maml import default_hyper
from infwidth.maml.core import MAMLConfig, meta_step
from infwidth.maml.learners import D_IN, N_WAYS, Learner
from infwidth.maml.models import MupLinear1LP


def _time(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t) / n


def main() -> None:
    """Parse options, run the timings, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20, help="timed meta-iterations (fast path)")
    ap.add_argument("--peer-iters", type=int, default=3, help="timed meta-iterations of the generic peer")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts to time")
    ap.add_argument("--models", default="limit,width:8192")
    args = ap.parse_args()
    data = load_omniglot()
    train = TaskSampler(data.split_images("train"), rotations=True, seed=0)
    test = TaskSampler(data.split_images("test"), seed=1)
    batches = [train.batch(32 * i, 32) for i in range(max(args.iters, args.peer_iters) + 1)]
    tb = test.batch(0, 32)
    cfg = MAMLConfig()
    out: dict[str, dict[str, float]] = {}
    for threads, spec in [(int(t), m) for t in args.threads.split(",") for m in args.models.split(",")]:
        torch.set_num_threads(threads)
        hp = default_hyper(spec)
        learner = Learner(spec, hp, cfg)
        learner.step(batches[-1])  # warm-up
        fast = _time(lambda i, ln=learner: ln.step(batches[i]), args.iters)
        val = _time(lambda i, ln=learner: ln.evaluate(tb, 1), 3)
        tst = _time(lambda i, ln=learner: ln.evaluate(tb, 20), 3)
        module = Learner(spec, hp, cfg).module
        assert module is not None
        if isinstance(module, MupLinear1LP) and module.width is not None:  # the peer computes all n coordinates
            module = MupLinear1LP(D_IN, N_WAYS, width=module.width, sigma_u=hp.sigma_u, sigma_v=hp.sigma_v,
                                  bias_alpha=hp.bias, reduce=False)
        peer = _time(lambda i, m=module, lr=hp.meta_lr: meta_step(m, batches[i], cfg, lr), args.peer_iters)
        paper_s = 10_000 * fast + 100 * 100 * val + 100 * tst
        sampling = _time(lambda i: train.batch(32 * i, 32), 10)
        out[f"{spec} threads={threads}"] = {"meta_iter_per_s": 1 / fast, "peer_generic_meta_iter_per_s": 1 / peer,
                     "speedup_vs_peer": peer / fast, "val_batch_s": val, "test_batch_20steps_s": tst,
                     "task_sampling_s_per_batch": sampling, "projected_paper_run_min": paper_s / 60}
        print(json.dumps({f"{spec} threads={threads}": out[f"{spec} threads={threads}"]}), flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
