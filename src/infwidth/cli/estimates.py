"""Resource estimates of each command, checked before any allocation (see ``infwidth.resources``).

Each function takes the command's size options and returns an :class:`Estimate`; the command calls
``check(estimate, force)``. The models are upper-end orders of magnitude of the algorithms (noted per
function), meant to refuse the impossible (a 26.8 GiB kernel, 14.6 TiB of particles, a 1e9-point grid)
before it starts, not to predict run times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from infwidth.resources import F32, F64, Estimate, grid_points, mlp_training, particles

MAX_DEPTH_ALGEBRA = 10_000  # exact abc algebra (~1 ms per layer) and kernel recursions (converged long before)
TEXT8_VOCAB = 71_291  # words with count >= 5 in text8 (TP4); the substitute corpus is of the same size
TEXT8_TOKENS = 17_005_207
TASK_IMAGES = 10  # 5-way 1-shot with one query per class (infwidth.data.omniglot)
IMAGE = 28 * 28


def kernel(n: int, m: int, depth: int, numerical: bool) -> Estimate:
    """NNGP/NTK of an (n x m) input pair: a few float64 (n, m) matrices per layer recursion (covariance,
    kernel, derivative kernel, scratch); ~100 flops per entry and layer for closed forms, ~2000 with
    quadrature (tanh, gelu); plus eigvalsh (n^3) for the reported minimum eigenvalue when n <= 4000."""
    entries = float(n) * m
    flops = entries * (depth + 1) * (2000.0 if numerical else 100.0) + (10.0 * n**3 if n == m and n <= 4000 else 0)
    return Estimate(f"a {n} x {m} kernel at depth {depth}", 4 * F64 * entries, flops)


def limit_mlp(depth: int, steps: int, n_particles: int, uses_particles: bool) -> Estimate:
    """The limit of ``steps`` SGD steps: the particle backend (O(N t) memory, O(N t^2) work), else exact
    backends whose Gram/covariance tables grow as (t (L+1))^2."""
    if uses_particles:
        return particles(f"the particle limit ({n_particles} particles, {steps} steps, depth {depth})",
                         n_particles, depth, steps)
    k = float(steps + 1) * (depth + 1)
    return Estimate(f"the exact limit of {steps} steps at depth {depth}", 4 * F64 * k * k, 10.0 * k**3)


def limit_compare(depth: int, steps: int, n_particles: int, widths: Sequence[int], seeds: int) -> Estimate:
    """The particle limit, then ``seeds`` float64 networks per width trained ``steps`` steps at batch 1."""
    fin = mlp_training(f"{seeds} networks per width up to width {max(widths)}", widths, depth, 1, 1, 1, steps,
                       runs=seeds, bytes_per=F64, states=3)
    return limit_mlp(depth, steps, n_particles, True) + fin


def fig4(widths: Sequence[int], seeds: int) -> Estimate:
    """Figure 4: 3 builders x 2 nonlinearities, each ``seeds`` float64 networks (depth <= 2, <= 8 steps)."""
    return mlp_training(f"Figure 4 with {seeds} seeds up to width {max(widths)}", widths, 2, 1, 1, 1, 8,
                        runs=6 * seeds, bytes_per=F64, states=3)


def coordcheck(widths: Sequence[int], depth: int, d_in: int, d_out: int, batch: int, steps: int, seeds: int,
               float64: bool) -> Estimate:
    """The coordinate check: ``seeds`` networks per width, ``steps`` SGD steps on ``batch`` inputs, with the
    initial weights kept to measure Delta W (4 copies of the parameters)."""
    return mlp_training(f"the coordinate check up to width {max(widths)} (depth {depth}, {seeds} seeds)", widths,
                        depth, d_in, d_out, batch, steps, runs=seeds, bytes_per=F64 if float64 else F32, states=4)


def _transformer(what: str, widths: Sequence[int], layers: int, vocab: int, tokens: int, steps: int,
                 runs: int) -> Estimate:
    """A decoder-only transformer: ~12 w^2 parameters per block plus embeddings; ``tokens`` per step;
    activations ~ 16 w per token per block (attention over short contexts)."""
    peak, flops = 0.0, 0.0
    for w in widths:
        params = 12.0 * layers * w * w + 2.0 * vocab * w
        peak = max(peak, 4 * F32 * params + 16.0 * F32 * tokens * w * layers)
        flops += 6.0 * params * tokens * steps * runs
    return Estimate(what, peak, flops)


def sweep(model: str, widths: Sequence[int], steps: int, trials_per_width: int, workers: int) -> Estimate:
    """infwidth.sweep.trial: an MLP 16 -> w -> w -> 4 on 512 examples (full batch), or a 2-block transformer
    on 96 sequences of 33 tokens; ``workers`` trials at a time (memory times the workers)."""
    what = f"the sweep up to width {max(widths)} ({trials_per_width} trials per width, {steps} steps)"
    if model == "mlp":
        est = mlp_training(what, widths, 2, 16, 4, 512, steps, runs=trials_per_width)
    else:
        est = _transformer(what, widths, 2, 64, 96 * 33, steps, trials_per_width)
    return Estimate(est.what, est.bytes * max(1, workers), est.flops)


def transfer(task: str, widths: Sequence[int], steps: int, batch: int, trials_per_width: int,
             workers: int) -> Estimate:
    """infwidth.experiments.transfer: an MLP 3072 -> w -> w -> 10 on CIFAR-10 (4096 training images kept
    in memory), or a 2-block character transformer (text-transformer, hf-gpt2: vocabulary 27, context 32)."""
    what = f"the transfer sweep up to width {max(widths)} ({trials_per_width} trials per width, {steps} steps)"
    if task == "cifar-mlp":
        est = mlp_training(what, widths, 2, 3072, 10, batch, steps, runs=trials_per_width)
        est = Estimate(what, est.bytes + 5096 * 3072 * F32, est.flops)
    else:
        est = _transformer(what, widths, 2, 27, batch * 32, steps, trials_per_width)
    return Estimate(est.what, est.bytes * max(1, workers), est.flops)


def alignment(width: int, steps: int) -> Estimate:
    """The sweep's MLP task at one width, with the alignment tracker's copies of the initial weights."""
    return mlp_training(f"alignment tracking at width {width}", [width], 2, 16, 4, 512, steps, states=6)


def lr_grid_size(log2_range: float, step: float) -> float:
    """Points of a log2 LR grid of ``step`` over ``log2_range`` (computed before the grid is built)."""
    return math.floor(log2_range / step) + 1


def max_lr(widths: Sequence[int], depth: int, n_train: int, batch: int, epochs: int, runs_per_width: float) -> Estimate:
    """infwidth.experiments.max_lr: an MLP 3072 -> w^depth -> 10 on ``n_train`` CIFAR-10 images per run."""
    steps = max(1, epochs * math.ceil(n_train / batch))
    est = mlp_training(f"the max-LR grid ({runs_per_width:.0f} runs per width up to width {max(widths)})", widths,
                       depth, 3072, 10, batch, steps, runs=int(min(runs_per_width, 1e15)))
    return Estimate(est.what, est.bytes + float(n_train) * 3072 * F32, est.flops)


def word2vec(width: int | None, vocab: int | None, tokens: int | None, epochs: int) -> Estimate:
    """CBOW (infwidth.word2vec): two (V, n) float32 tables; per token and epoch ~ (25 negatives + 1) x 4n
    plus the 16-word context mean. The limit is the width-V network (two V x V float64 tables)."""
    v = float(vocab or TEXT8_VOCAB)
    n = v if width is None else float(width)
    t = float(tokens or TEXT8_TOKENS)
    per = F64 if width is None else F32
    return Estimate(f"word2vec at width {int(n)} with a {int(v)}-word vocabulary", 2 * per * v * n,
                    epochs * t * n * 140.0)


def maml(width: int | None, meta_batch: int, iterations: int, val_tasks: int, test_tasks: int, epochs: int,
         test_steps: int = 20) -> Estimate:
    """MAML on Omniglot: tasks of 10 float64 images; validation and test tasks are drawn once and kept; a
    width-n network (the limit and kernels: n ~ 784) costs ~ 6 x 3 x 10 x 789 n flops per task and step."""
    n = float(width or IMAGE)
    task_bytes = TASK_IMAGES * IMAGE * F64 * 2
    mem = (meta_batch + val_tasks + test_tasks) * task_bytes + 4 * F64 * (IMAGE + 5) * n * 2
    per_task = 18.0 * TASK_IMAGES * (IMAGE + 5) * n
    flops = per_task * (float(iterations) * meta_batch + float(val_tasks) * (epochs + 1) + test_tasks * test_steps)
    return Estimate(f"MAML at width {int(n)} (meta-batch {meta_batch}, {iterations} meta-iterations)", mem, flops)


def kernel_tune(points: int, val_tasks: int, steps: int) -> Estimate:
    """Kernel MAML tuning: per grid point, ``val_tasks`` tasks adapted ``steps`` kernel-gradient steps."""
    return grid_points(f"kernel tuning over {points} grid points x {val_tasks} tasks", points,
                       float(val_tasks) * steps * TASK_IMAGES**2 * IMAGE * 10.0,
                       bytes_per_point=float(val_tasks) * TASK_IMAGES * IMAGE * F64 * 2 / max(points, 1))


def phase_diagram(points_per_axis: float, panels: int, depth: int) -> Estimate:
    """Exact classification of every grid point: ~2e6 flop-equivalents (Fraction arithmetic) per layer."""
    points = points_per_axis**2 * panels
    return grid_points(f"a phase diagram of {points:.3g} grid points", points, 2e6 * (depth + 1), 200.0)
