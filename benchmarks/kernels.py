"""Benchmark: NTK of a depth-3 relu MLP on 2,000 inputs of dimension 784, infwidth vs neural-tangents.

Both compute the same float64 (2000, 2000) NTK (stax.serial(Dense, Relu) x 3 + Dense, W_std = 1, b_std = 0.1),
on the CPU, in the same process; each is warmed up once (neural-tangents: jit compilation), then the two are
called alternately --repeats times (so both see the same machine load) and each is timed by its median call.
Prints both times, the ratio, and the largest relative difference.

Run:  python benchmarks/kernels.py [--n 2000] [--dim 784] [--repeats 5] [--no-numba] [--json]
Needs the benchmark-only extra: pip install neural-tangents "jax==0.4.30" "jaxlib==0.4.30" "tf2jax==0.3.6"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _alternate(fns: list[Callable[[], Any]], repeats: int) -> list[tuple[float, Any]]:
    """Warm each function up, then call them in turn ``repeats`` times: [(median seconds, last output)]."""
    outs = [fn() for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t0)
    return [(statistics.median(t), o) for t, o in zip(times, outs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-numba", action="store_true", help="time the pure-torch path (no fused numba kernel)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import torch

    from infwidth.kernels import fused, ntk

    if args.no_numba:
        fused.AVAILABLE = False

    X = np.random.default_rng(0).standard_normal((args.n, args.dim))
    Xt = torch.tensor(X)
    def ours() -> Any:
        return ntk(Xt, None, args.depth, "relu", 1.0, 0.1)

    result: dict[str, Any] = {"n": args.n, "dim": args.dim, "depth": args.depth,
                              "torch_threads": torch.get_num_threads(), "fused_numba": fused.AVAILABLE}
    try:
        from infwidth.peers import neural_tangents_stax

        stax = neural_tangents_stax()
        import jax
    except Exception as e:  # the peer is optional
        [(t_ours, _)] = _alternate([ours], args.repeats)
        result.update({"infwidth_s": t_ours, "neural_tangents_s": None, "ratio_nt_over_infwidth": None,
                       "note": f"neural-tangents unavailable: {e}"})
    else:
        layers = []
        for _ in range(args.depth):
            layers += [stax.Dense(512, W_std=1.0, b_std=0.1), stax.Relu()]
        _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=1.0, b_std=0.1))
        kfn = jax.jit(kernel_fn, static_argnames="get")
        Xj = jax.numpy.asarray(X)

        def nt_call() -> Any:
            return kfn(Xj, None, get="ntk").block_until_ready()

        (t_ours, k_ours), (t_nt, k_nt) = _alternate([ours, nt_call], args.repeats)
        k_nt = np.asarray(k_nt)
        rel = float(np.abs(k_ours.numpy() - k_nt).max() / np.abs(k_nt).max())
        result.update({"infwidth_s": t_ours, "neural_tangents_s": t_nt, "ratio_nt_over_infwidth": t_nt / t_ours,
                       "max_rel_diff": rel})
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"NTK, depth-{args.depth} relu MLP, {args.n} inputs of dim {args.dim}, float64, CPU "
          f"({result['torch_threads']} torch threads, fused numba path: {result['fused_numba']})")
    print(f"  infwidth        : {result['infwidth_s']:.3f} s (median of {args.repeats})")
    if result["neural_tangents_s"] is not None:
        print(f"  neural-tangents : {result['neural_tangents_s']:.3f} s (median of {args.repeats}, jit)")
        print(f"  ratio neural-tangents / infwidth = {result['ratio_nt_over_infwidth']:.2f} "
              f"(> 1: infwidth faster); max relative difference {result['max_rel_diff']:.1e}")
    else:
        print(f"  {result['note']}")


if __name__ == "__main__":
    main()
