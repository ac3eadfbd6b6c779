"""Benchmark: training-step time of a scaled model vs the same model unscaled, and vs microsoft/mup.

Model ``--model gpt2`` (default): Hugging Face ``GPT2LMHeadModel`` (tied embeddings, Conv1D, SDPA attention)
with ``--layers`` blocks, vocabulary ``--vocab``, context ``--ctx``, head size 64, at each width of
``--widths``. ``--model tiny``: infwidth's own ``TinyTransformer`` (untied). Variants, same init and batch:

* ``plain``: the unscaled model, one Adam parameter group (the baseline);
* ``ours``: muP via ``scale_model`` (default gauge: the readout's 1/m as a forward wrapper on its input,
  everything else in the init and the per-layer ``param_groups``);
* ``ours-absorbed`` (tiny only; a tied head cannot be absorbed): no multiplier in the forward pass;
* ``mup``: microsoft/mup (MuSharedReadout / MuReadout + set_base_shapes + MuAdam), if installed.

One step = forward, backward, Adam step. Variants are timed in interleaved rounds (``--rounds``, each
``--steps`` steps per variant), so load from other jobs hits them alike; the ratios are computed per round
and their median with a bootstrap 95% confidence interval is printed, with the ratio of the per-variant
minima (the least-disturbed rounds) beside it (goal: ours / plain and ours / mup < 1.02).

Run: python benchmarks/scaling.py                      (GPT-2 at widths 256 and 1024; about 7 minutes)
     python benchmarks/scaling.py --model tiny --widths 256
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from infwidth.scaling.models import TinyTransformer, lm_loss
from infwidth.scaling.module import param_groups, scale_model

Variant = tuple[nn.Module, torch.optim.Optimizer]


def _gpt2(width: int, args: argparse.Namespace) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=args.vocab, n_positions=args.ctx + 1, n_embd=width, n_layer=args.layers,
                     n_head=max(1, width // 64), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg)


def _tiny(width: int, args: argparse.Namespace, readout: type[nn.Linear] = nn.Linear) -> nn.Module:
    return TinyTransformer(width, vocab=args.vocab, ctx=args.ctx, layers=args.layers, readout_cls=readout)


def _mup_variant(width: int, args: argparse.Namespace) -> Variant | None:
    try:
        import mup
    except ImportError:
        print("mup not installed (pip install --no-deps mup pyyaml pandas tqdm): skipping the mup variant")
        return None
    torch.manual_seed(0)
    if args.model == "gpt2":
        def build(w: int) -> nn.Module:
            m = _gpt2(w, args)
            m.lm_head = mup.MuSharedReadout(m.transformer.wte.weight, bias=False)
            return m
        m, base = build(width), build(args.base_width)
    else:
        m, base = _tiny(width, args, mup.MuReadout), _tiny(args.base_width, args, mup.MuReadout)
    mup.set_base_shapes(m, base, rescale_params=False)
    return m, mup.MuAdam(m.parameters(), lr=1e-3)


def _variants(width: int, args: argparse.Namespace) -> dict[str, Variant]:
    build = _gpt2 if args.model == "gpt2" else _tiny
    out: dict[str, Variant] = {}
    torch.manual_seed(0)
    m = build(width, args)
    out["plain"] = (m, torch.optim.Adam(m.parameters(), lr=1e-3))
    gauges = {"ours": "mup"} if args.model == "gpt2" else {"ours": "mup", "ours-absorbed": "absorbed"}
    for name, gauge in gauges.items():
        torch.manual_seed(0)
        m = build(width, args)
        table = scale_model(m, build(args.base_width, args), "mup", "adam", gauge=gauge)
        out[name] = (m, torch.optim.Adam(param_groups(m, table, lr=1e-3, eps=1e-8)))
    theirs = _mup_variant(width, args)
    if theirs is not None:
        out["mup"] = theirs
    return out


def _step_fn(model: nn.Module, opt: torch.optim.Optimizer, batch: torch.Tensor) -> Callable[[], None]:
    def loss() -> torch.Tensor:
        out: Any = model(batch[:, :-1])
        logits = out if isinstance(out, torch.Tensor) else out.logits
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        (loss() if not isinstance(model, TinyTransformer) else lm_loss(model, batch)).backward()
        opt.step()
    return step


def _median_ci(xs: list[float], reps: int = 2000) -> tuple[float, float, float]:
    """Median of ``xs`` and a bootstrap 95% confidence interval of the median."""
    rng = random.Random(0)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(reps))
    return statistics.median(xs), meds[int(0.025 * reps)], meds[int(0.975 * reps) - 1]


def bench(width: int, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per-variant per-round seconds per step at one width (interleaved rounds)."""
    batch = torch.randint(0, args.vocab, (args.batch, args.ctx + 1), generator=torch.Generator().manual_seed(0))
    steps = {k: _step_fn(m, o, batch) for k, (m, o) in _variants(width, args).items()}
    for fn in steps.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(args.rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))  # alternate the order within rounds
        for k in order:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                steps[k]()
            times[k].append((time.perf_counter() - t0) / args.steps)
    return times


def wrapper_cost(width: int, args: argparse.Namespace, pairs: int = 40, reps: int = 10) -> float:
    """Seconds per step that the readout wrapper adds: the readout's forward + backward on a step's hidden
    states with and without ``InputMultiplier``, in ``pairs`` interleaved pairs of ``reps`` calls; the median
    of the paired differences."""
    from infwidth.scaling.hooks import InputMultiplier, install, uninstall

    head = nn.Linear(width, args.vocab, bias=False)
    h = torch.randn(args.batch, args.ctx, width, requires_grad=True)

    def timed(on: bool) -> float:
        if on:
            install(head, InputMultiplier(head, 0.25))
        t0 = time.perf_counter()
        for _ in range(reps):
            head(h).sum().backward()
        uninstall(head)
        return (time.perf_counter() - t0) / reps

    diffs = []
    for i in range(pairs):
        first = i % 2 == 0
        t = {first: timed(first), not first: timed(not first)}
        diffs.append(t[True] - t[False])
    return statistics.median(diffs)


def report(width: int, times: dict[str, list[float]]) -> None:
    print(f"width {width}:")
    print(f"  {'variant':<15}{'ms/step':>10}{'min':>10}   per-round ratio: median [95% CI]; ratio of the minima")
    for k, ts in times.items():
        line = f"  {k:<15}{1000 * statistics.median(ts):>10.1f}{1000 * min(ts):>10.1f}"
        for ref in ("plain", "mup"):
            if ref in times and k != ref and k.startswith("ours"):
                med, lo, hi = _median_ci([a / b for a, b in zip(ts, times[ref])])
                line += f"   {k}/{ref} {med:.3f} [{lo:.3f}, {hi:.3f}]; {min(ts) / min(times[ref]):.3f}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("gpt2", "tiny"), default="gpt2")
    ap.add_argument("--widths", default="256,1024", help="comma-separated widths")
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--ctx", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1, help="steps per variant per round")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    if any(w < 1 for w in widths) or args.rounds < 1 or args.steps < 1:
        ap.error("widths, --rounds and --steps must be positive")
    torch.set_num_threads(args.threads)
    print(f"{args.model}: {args.layers} layers, vocab {args.vocab}, ctx {args.ctx}, batch {args.batch}, base width "
          f"{args.base_width}, {args.threads} thread(s); {args.rounds} interleaved rounds x {args.steps} steps")
    for w in widths:
        times = bench(w, args)
        report(w, times)
        if args.model == "gpt2":
            cost = wrapper_cost(w, args)
            print(f"  readout wrapper alone: {1e3 * cost:+.3f} ms per step = {100 * cost / min(times['plain']):+.3f}% "
                  "of the plain step (paired micro-benchmark of the readout's forward + backward)")


if __name__ == "__main__":
    main()
