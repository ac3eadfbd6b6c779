"""CLI: ``infwidth limit mlp`` (Algorithm 1) and ``infwidth experiment fig4``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from infwidth.cli import cli, experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.parametrization_cmds import PRESET, Exponents
from infwidth.errors import InfwidthError


def _check_phi(name: str) -> None:
    from infwidth.arch import activation

    activation(name)


PHI = o.Spec(_check_phi, "activation", "tanh")
REPLICAS = o.Int(min=2, example="16", size=True)  # standard errors need at least two independent groups
SAMPLES = o.Int(min=2, example="512", size=True)  # a spread needs at least two draws


@cli.group()
def limit() -> None:
    """Infinite-width limits of training: Tensor Programs (feature learning) or kernel GD (kernel regime)."""


def _routine_data(steps: int | None, xs: tuple[float, ...] | None, ys: tuple[float, ...] | None,
                  inputs: Path | None, targets: Path | None, loss: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, d), targets) from --inputs/--targets files, --xs/--ys lists, or random +-1 scalars."""
    from infwidth.io import load_array

    if inputs is not None or targets is not None:
        if inputs is None or targets is None or xs is not None or ys is not None:
            raise InfwidthError("give --inputs X.npy together with --targets Y.npy (and not --xs/--ys).")
        X, Y = load_array(inputs), load_array(targets)
        if Y.shape[0] != X.shape[0]:
            raise InfwidthError(f"--targets has {Y.shape[0]} rows but --inputs has {X.shape[0]}; give one target "
                                "per input.")
        return X, Y
    if steps is None and xs is None:
        raise InfwidthError("give --steps T (random +-1 data), --xs/--ys, or --inputs/--targets.")
    rng = np.random.default_rng(seed)
    xv = list(xs) if xs else rng.choice([-1.0, 1.0], steps or 1).tolist()
    yv = list(ys) if ys else (rng.integers(0, 2, len(xv)).tolist() if loss == "xent"
                              else rng.choice([-1.0, 1.0], len(xv)).tolist())
    T = len(xv) if steps is None else steps
    if len(xv) < T or len(yv) < T:
        raise InfwidthError(f"--xs and --ys need at least --steps = {T} values, got {len(xv)} and {len(yv)}.")
    return np.array(xv[:T])[:, None], np.array(yv[:T])


@limit.command("mlp")
@click.option("--depth", type=o.SIZE, default=1, show_default=True, help="Number of hidden layers L >= 1.")
@click.option("--phi", type=PHI, default="tanh", show_default=True,
              help="identity|square|relu|tanh|gelu|erf (or an alias).")
@click.option("--steps", type=o.SIZE, help="SGD steps T (default: one pass over the data, N // batch).")
@click.option("--xs", type=o.FINITE_FLOATS, help='Scalar training inputs, e.g. "1,-1,1" (default: random +-1).')
@click.option("--ys", type=o.FINITE_FLOATS, help="Their targets (default: random +-1; class indices for xent).")
@click.option("--inputs", type=o.InputFile(("npy",)), help="(N, d) training inputs, .npy (rows flattened).")
@click.option("--targets", type=o.InputFile(("npy",)),
              help="(N,) or (N, d_out) targets, .npy (class indices 0..K-1 for --loss xent).")
@click.option("--eval-inputs", type=o.InputFile(("npy",)), help='(E, d) held-out inputs, .npy: adds "f_eval".')
@click.option("--eval-xs", "eval_xs", type=o.FINITE_FLOATS, help='Scalar held-out inputs, e.g. "0.5,-2".')
@click.option("--eval-every", type=o.POSITIVE_INT, default=1, show_default=True,
              help="Report f_eval every this many steps (and after the last).")
@click.option("--batch", type=o.SIZE, default=1, show_default=True, help="Minibatch size B.")
@click.option("--order", type=click.Choice(["sequential", "shuffle"]), default="sequential", show_default=True,
              help="Data order: as given (cycling), or a fresh permutation per epoch (--seed).")
@click.option("--lr", type=o.POSITIVE_FLOAT, default=1.0, show_default=True, help="Learning rate eta (LR = eta n^-c).")
@click.option("--loss", type=click.Choice(["mse", "logistic", "xent"]), default="mse", show_default=True,
              help="mse: 1/2 |f - y|^2; logistic: log(1 + exp(-y f)); xent: softmax cross-entropy.")
@click.option("--d-out", "d_out", type=o.SIZE, help="Outputs (default: target columns; classes for xent).")
@click.option("--bias", is_flag=True, help="Trainable biases (initialized at 0).")
@click.option("--residual", is_flag=True, help="Residual blocks x^l = x^{l-1} + phi(h^l) for l >= 2.")
@click.option("--decoupled", is_flag=True, help="Partially decoupled backprop (TP4 Section 6.2).")
@click.option("--backend", type=click.Choice(["auto", "linear", "polynomial", "particles"]), default="auto",
              show_default=True, help="auto: linear for identity, polynomial for square, particles otherwise.")
@click.option("--particles", type=o.SIZE, default=200_000, show_default=True, help="Particles (particle backend).")
@click.option("--replicas", type=REPLICAS, default=16, show_default=True,
              help="Independent particle groups used for standard errors.")
@click.option("--samples", type=SAMPLES, help="Kernel regime: Monte Carlo draws of the random f_0 (default: exact "
              "for mse, 512 otherwise).")
@click.option("--parametrization", "param_name", type=PRESET, default="mup", show_default=True,
              help="Preset parametrization (mup, mfp, ntp, sp, ...); or give --a/--b/--c.")
@click.option("--a", "a", type=o.RationalList(), help='Multiplier exponents a_1..a_{L+1}, e.g. "-1/2,0,1/2".')
@click.option("--b", "b", type=o.RationalList(), help="Init exponents b_1..b_{L+1}.")
@click.option("--c", "c", type=o.RationalList(), help="LR exponent c (or one per layer).")
@click.option("--seed", type=o.SEED, default=0, show_default=True, help="Seed for random data, order and sampling.")
@click.option("--budget", type=o.POSITIVE_FLOAT, default=2e7, show_default=True,
              help="Polynomial backend cost limit (monomial products) before it refuses.")
@force_option
@json_option
def limit_mlp(depth: int, phi: str, steps: int | None, xs: tuple[float, ...] | None, ys: tuple[float, ...] | None,
              inputs: Path | None, targets: Path | None, eval_inputs: Path | None, eval_xs: tuple[float, ...] | None,
              eval_every: int, batch: int, order: str, lr: float, loss: str, d_out: int | None, bias: bool,
              residual: bool, decoupled: bool, backend: str, particles: int, replicas: int, samples: int | None,
              param_name: str, a: Exponents, b: Exponents, c: Exponents, seed: int, budget: float, force: bool,
              as_json: bool) -> None:
    """Infinite-width limit of minibatch SGD on an L-hidden-layer MLP, whatever the regime.

    Feature learning (muP): the Tensor Program limit, deterministic (stderr: numerical error). Kernel regime
    (ntp, sp_stable): kernel gradient descent from the random Gaussian-process f_0, reported as its mean, its
    standard deviation over f_0 (sd) and the numerical error of the mean. Unstable or trivial: an error.

    Example: infwidth limit mlp --depth 2 --phi tanh --inputs X.npy --targets Y.npy --loss xent --batch 8 --json
    """
    from infwidth.arch import MLPSpec, Routine
    from infwidth.cli.parametrization_cmds import resolve_parametrization
    from infwidth.io import load_array
    from infwidth.limits import limit_of

    p = resolve_parametrization(None if (a or b) else param_name, depth, a, b, c)
    X, Y = _routine_data(steps, xs, ys, inputs, targets, loss, seed)
    if eval_inputs is not None and eval_xs is not None:
        raise InfwidthError("give --eval-inputs or --eval-xs, not both.")
    E = load_array(eval_inputs) if eval_inputs is not None else \
        (None if eval_xs is None else np.array(eval_xs)[:, None])
    if E is not None and E.shape[1] != X.shape[1]:
        raise InfwidthError(f"held-out inputs have {E.shape[1]} features but the training inputs have {X.shape[1]}.")
    routine = Routine(X, Y, loss=loss, lr=lr, batch_size=batch, steps=steps, order=order, seed=seed,
                      eval_inputs=E, eval_every=eval_every)
    classes = int(np.max(routine.targets)) + 1 if loss == "xent" else routine.targets.shape[1]
    spec = MLPSpec(p.depth, d_in=X.shape[1], d_out=d_out or max(classes, 2 if loss == "xent" else 1), phi=phi,
                   bias=bias, residual=residual, decoupled_backprop=decoupled)
    _check_size(spec, p, routine, backend, particles, force)
    res = limit_of(spec, p, routine, backend=backend, particles=particles, replicas=replicas, seed=seed,
                   budget=budget, samples=samples)
    if as_json:
        print_json(res.to_json())
        return
    _print_limit(res, routine)


def _check_size(spec: Any, p: Any, routine: Any, backend: str, particles: int, force: bool) -> None:
    """Refuse before any work when the run would not fit (infwidth.resources): the kernel matrix of every point
    in the kernel regime, else the program's vectors (one per example and step)."""
    from infwidth.cli import estimates
    from infwidth.parametrization import classify
    from infwidth.resources import check

    if classify(p).kernel_regime:
        P = routine.n_examples + (0 if routine.eval_inputs is None else routine.eval_inputs.shape[0])
        check(estimates.kernel(P, P, spec.depth, spec.activation.dual is None), force,
              "use fewer training or eval inputs")
        return
    uses_particles = backend == "particles" or (backend == "auto" and spec.activation.kind == "general")
    check(estimates.limit_mlp(spec.depth, routine.n_steps * int(routine.batch_size), particles, uses_particles),
          force, "use fewer --particles, --steps or a smaller --batch")


def _print_limit(res: Any, routine: Any) -> None:
    """The table of ``infwidth limit mlp``: per step the loss and the first example's first logit."""
    rows = [[str(t), f"{res.loss[t]:.6g}", f"{res.loss_stderr[t]:.2g}", f"{res.f[t, 0, 0]:.6g}",
             f"{res.f_std[t, 0, 0]:.3g}", f"{res.f_stderr[t, 0, 0]:.2g}"] for t in range(routine.n_steps)]
    what = f"{res.regime}, {res.method}" + (f" {res.kernel}" if res.kernel else "")
    print_table(f"infinite-width limit ({what}, {res.seconds:.2f} s)",
                ["t", "mean loss", "stderr", "mean f_t (example 0, output 0)", "sd over f_0", "stderr"], rows)
    if res.note:
        info(f"note: {res.note}")


@limit.command("compare")
@click.option("--depth", type=o.SIZE, default=2, show_default=True, help="Number of hidden layers L >= 1.")
@click.option("--phi", type=PHI, default="tanh", show_default=True, help="identity|square|tanh|relu|gelu.")
@click.option("--parametrization", "param_name", type=PRESET, default="mup", show_default=True,
              help="Preset parametrization.")
@click.option("--steps", type=o.SIZE, default=6, show_default=True,
              help="SGD steps (batch 1, random +-1 data).")
@click.option("--lr", type=o.POSITIVE_FLOAT, default=0.5, show_default=True, help="Learning rate eta (LR = eta n^-c).")
@click.option("--widths", type=o.SIZES, default="128,512,2048", show_default=True, help="Finite widths.")
@click.option("--seeds", type=o.Int(min=2, example="16", size=True), default=16, show_default=True,
              help="Networks per width.")
@click.option("--particles", type=o.SIZE, default=200_000, show_default=True,
              help="Particles (particle backend).")
@click.option("--seed", type=o.SEED, default=0, show_default=True, help="Seed of the training data.")
@click.option("--out", "out_dir", type=o.OutputDir(), default="out/compare", show_default=True,
              help="Output directory.")
@force_option
@json_option
def limit_compare(depth: int, phi: str, param_name: str, steps: int, lr: float, widths: tuple[int, ...], seeds: int,
                  particles: int, seed: int, out_dir: Path, force: bool, as_json: bool) -> None:
    """Compare the computed infinite-width limit with AbcMLP networks of growing width.

    Writes OUT/compare.csv, OUT/compare_errors.csv, OUT/compare.json and OUT/compare.png (f_t per width
    with the limit; error against width on log-log axes with the n^{-1/2} reference).

    Example: infwidth limit compare --depth 2 --phi tanh --widths 128,512,2048 --seeds 16
    """
    from infwidth.cli.estimates import limit_compare as estimate
    from infwidth.experiments.compare import CompareConfig, run
    from infwidth.resources import check

    check(estimate(depth, steps, particles, widths, seeds), force, "use smaller --widths, --seeds or --particles")
    res = run(CompareConfig(depth=depth, phi=phi, param=param_name, steps=steps, lr=lr, widths=widths, seeds=seeds,
                            particles=particles, data_seed=seed, out_dir=str(out_dir), progress=not as_json))
    if as_json:
        print_json({k: v for k, v in res.items() if k != "rows"})
        return
    print_table(f"limit ({res['backend']}, {res['regime']}) vs finite width: error per width",
                ["width", "RMS error per seed", "max |seed-mean - limit|", "max z"],
                [[str(e["width"]), f"{e['rms_err_per_seed']:.4g}", f"{e['max_abs_err_seed_mean']:.4g}",
                  f"{e['max_z_seed_mean']:.2f}"] for e in res["errors"]])
    theory = ("-1/2" if res["regime"] != "kernel" else
              "0: in the kernel regime f_0 is a Gaussian-process sample; only the seed-mean converges")
    info(f"log-log slope of the RMS error against width: {res['rms_error_slope']:.3f} (theory: {theory})")
    info(f"wrote {out_dir}/compare.csv, compare_errors.csv, compare.json, compare.png")


@experiment.command("fig4")
@click.option("--widths", type=o.SIZES, default="1024,4096", show_default=True,
              help="Finite widths to compare.")
@click.option("--seeds", "n_seeds", type=o.Int(min=2, example="100", size=True), default=100, show_default=True,
              help="Seeds per width.")
@click.option("--out", "out_dir", type=o.OutputDir(), default="results", show_default=True, help="Output directory.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Reuse finished cells.")
@force_option
@json_option
def fig4_cmd(widths: tuple[int, ...], n_seeds: int, out_dir: Path, resume: bool, force: bool, as_json: bool) -> None:
    """TP4 Figure 4: muP limits (depth 1, depth 2 decoupled, depth 2; phi = x, x^2) vs finite width.

    Writes OUT/fig4.csv, OUT/fig4_errors.csv and OUT/fig4.png.
    """
    from infwidth.cli.estimates import fig4
    from infwidth.experiments.fig4 import Fig4Config, run
    from infwidth.io import refuse_overwrite
    from infwidth.resources import check

    check(fig4(widths, n_seeds), force, "use smaller --widths or fewer --seeds")
    refuse_overwrite(out_dir, ("fig4.csv",), resume, force)
    res = run(Fig4Config(widths=widths, n_seeds=n_seeds, out_dir=str(out_dir), resume=resume, progress=not as_json))
    if as_json:
        print_json({"errors": res["errors"], "csv": f"{out_dir}/fig4.csv", "png": f"{out_dir}/fig4.png"})
        return
    print_table("Figure 4: distance of the finite-width seed-mean logits to the limit",
                ["builder", "phi", "width", "max |mean f - f_lim|", "max z", "rms per seed"],
                [[e["builder"], e["phi"], str(e["width"]), f"{e['max_abs_err_seed_mean']:.3g}",
                  f"{e['max_z']:.2f}", f"{e['rms_err_per_seed']:.3g}"] for e in res["errors"]])
    info(f"wrote {out_dir}/fig4.csv, {out_dir}/fig4_errors.csv, {out_dir}/fig4.png")
