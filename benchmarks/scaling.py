"""Benchmark: training-step time of a transformer with our width scaling vs without it, and vs mup.

Same decoder-only transformer (``infwidth.scaling.models.TinyTransformer``: width ``--width``,
``--layers`` pre-LN blocks, head size 16, vocab 256, context ``--ctx``), same batch, Adam. Variants:

* ``plain``: the unscaled model, one Adam parameter group (the baseline);
* ``ours``: muP via ``scale_model`` (multipliers inserted with torch.nn.utils.parametrize) and
  per-layer ``param_groups``;
* ``ours-absorbed``: the same scaling in the absorbed gauge (no multiplier in the forward pass);
* ``mup``: microsoft/mup (MuReadout + set_base_shapes + MuAdam), if installed.

Each variant's step (forward, backward, optimizer step) is timed in interleaved rounds; the
median per-step time and the ratio to ``plain`` are printed (goal: ours / plain < 1.05).

Run: python benchmarks/scaling.py            (about 1 minute on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from infwidth.scaling.models import TinyTransformer, lm_loss
from infwidth.scaling.module import param_groups, scale_model


def _variants(width: int, layers: int, ctx: int) -> dict[str, tuple[nn.Module, torch.optim.Optimizer]]:
    def make(w: int, readout: type[nn.Linear] = nn.Linear) -> TinyTransformer:
        return TinyTransformer(w, vocab=256, ctx=ctx, layers=layers, readout_cls=readout)

    out: dict[str, tuple[nn.Module, torch.optim.Optimizer]] = {}
    torch.manual_seed(0)
    m = make(width)
    out["plain"] = (m, torch.optim.Adam(m.parameters(), lr=1e-3))
    for name, gauge in (("ours", "multipliers"), ("ours-absorbed", "absorbed")):
        torch.manual_seed(0)
        m = make(width)
        table = scale_model(m, make(width // 4), "mup", "adam", gauge=gauge)
        out[name] = (m, torch.optim.Adam(param_groups(m, table, lr=1e-3, eps=1e-8)))
    try:
        import mup
    except ImportError:
        print("mup not installed (pip install --no-deps mup pyyaml pandas tqdm): skipping the mup variant")
        return out
    torch.manual_seed(0)
    m = make(width, mup.MuReadout)
    mup.set_base_shapes(m, make(width // 4, mup.MuReadout))
    out["mup"] = (m, mup.MuAdam(m.parameters(), lr=1e-3))
    return out


def _step_fn(model: nn.Module, opt: torch.optim.Optimizer, batch: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        opt.zero_grad(set_to_none=True)
        lm_loss(model, batch).backward()
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="steps per round")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batch = torch.randint(0, 256, (args.batch, args.ctx + 1), generator=torch.Generator().manual_seed(0))
    variants = _variants(args.width, args.layers, args.ctx)
    steps = {k: _step_fn(m, o, batch) for k, (m, o) in variants.items()}
    for fn in steps.values():  # warm-up
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):  # interleaved so that machine-load drift hits every variant alike
        for k, fn in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[k].append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(times["plain"])
    print(f"transformer width {args.width}, {args.layers} layers, ctx {args.ctx}, batch {args.batch}, "
          f"{args.threads} thread(s); median of {args.rounds} rounds x {args.steps} steps")
    print(f"{'variant':<15}{'ms/step':>10}{'ratio to plain':>16}")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:<15}{1000 * med:>10.2f}{med / base:>16.3f}")


if __name__ == "__main__":
    main()
