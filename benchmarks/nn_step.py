"""Benchmark: one SGD step of AbcMLP (muP, multipliers + per-layer LR scaling) vs a plain nn.Sequential MLP.

Both networks have the same shape (``--depth`` hidden layers of width ``--width``, input ``--d-in``,
``--d-out`` outputs, relu, no biases) and take one SGD step (forward, square loss, backward, update) on
the same batch. ``plain`` uses ``torch.optim.SGD`` (no momentum); ``abc`` uses ``AbcMLP.sgd_step``.
Steps are timed in interleaved rounds; medians and the ratio abc / plain are printed
(goal: < 1.10 at width 4096).

Run: python benchmarks/nn_step.py                 (about 1 minute on 2 CPU cores)
     python benchmarks/nn_step.py --width 8192 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from infwidth.arch import MLPSpec
from infwidth.nn import AbcMLP
from infwidth.parametrization import mup


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--d-in", type=int, default=256)
    ap.add_argument("--d-out", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=3, help="steps per round and variant")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = ap.parse_args()
    dev, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.d_in, device=dev, dtype=dtype)
    y = torch.randn(args.batch, args.d_out, device=dev, dtype=dtype)

    layers: list[nn.Module] = [nn.Linear(args.d_in, args.width, bias=False), nn.ReLU()]
    for _ in range(args.depth - 1):
        layers += [nn.Linear(args.width, args.width, bias=False), nn.ReLU()]
    layers.append(nn.Linear(args.width, args.d_out, bias=False))
    plain = nn.Sequential(*layers).to(device=dev, dtype=dtype)
    opt = torch.optim.SGD(plain.parameters(), lr=1e-3)
    abc = AbcMLP(MLPSpec(args.depth, d_in=args.d_in, d_out=args.d_out), mup(args.depth), args.width, dtype=dtype,
                 device=dev, seed=0)

    def plain_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * ((plain(x) - y) ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()

    def abc_step() -> None:
        abc.sgd_step(x, y, 1e-3)

    variants: dict[str, Callable[[], None]] = {"plain": plain_step, "abc": abc_step}
    for fn in variants.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            _sync(dev)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            _sync(dev)
            times[name].append((time.perf_counter() - t0) / args.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"width {args.width}, depth {args.depth}, d_in {args.d_in}, batch {args.batch}, {args.dtype}, {dev}; "
          f"torch threads {torch.get_num_threads()}")
    for k, v in med.items():
        print(f"  {k:6s} median step {v * 1e3:9.2f} ms   (min {min(times[k]) * 1e3:.2f} ms)")
    print(f"  overhead ratio abc / plain = {med['abc'] / med['plain']:.3f}   (goal < 1.10)")


if __name__ == "__main__":
    main()
