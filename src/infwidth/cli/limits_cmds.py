"""CLI: ``infwidth limit mlp`` (Algorithm 1) and ``infwidth experiment fig4``."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from infwidth.cli import cli, experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.parametrization_cmds import PRESET, Exponents
from infwidth.errors import InfwidthError
from infwidth.limits.mlp_limit import compute_mlp_limit


def _check_phi(name: str) -> None:
    from infwidth.limits import activation

    activation(name)


PHI = o.Spec(_check_phi, "activation", "tanh")
REPLICAS = o.Int(min=2, example="16", size=True)  # standard errors need at least two independent groups


@cli.group()
def limit() -> None:
    """Infinite-width limits of training computed by the Tensor Programs technique (TP4 Algorithm 1)."""


@limit.command("mlp")
@click.option("--depth", type=o.SIZE, default=1, show_default=True, help="Number of hidden layers L >= 1.")
@click.option("--phi", type=PHI, default="tanh", show_default=True, help="identity|square|tanh|relu|gelu.")
@click.option("--steps", type=o.SIZE, required=True, help="Number of SGD steps T (batch size 1).")
@click.option("--xs", type=o.FINITE_FLOATS, help='Training inputs xi_0..xi_{T-1}, e.g. "1,-1,1" (default: random +-1).')
@click.option("--ys", type=o.FINITE_FLOATS, help='Targets y_0..y_{T-1} (default: random +-1).')
@click.option("--lr", type=o.POSITIVE_FLOAT, default=1.0, show_default=True, help="Learning rate eta.")
@click.option("--loss", type=click.Choice(["mse", "logistic"]), default="mse", show_default=True,
              help="mse: 1/2 (f - y)^2; logistic: log(1 + exp(-y f)).")
@click.option("--decoupled", is_flag=True, help="Partially decoupled backprop (TP4 Section 6.2).")
@click.option("--backend", type=click.Choice(["auto", "linear", "polynomial", "particles"]), default="auto",
              show_default=True, help="auto: linear for identity, polynomial for square, particles otherwise.")
@click.option("--particles", type=o.SIZE, default=200_000, show_default=True,
              help="Particles (particle backend).")
@click.option("--replicas", type=REPLICAS, default=16, show_default=True,
              help="Independent particle groups used for standard errors.")
@click.option("--parametrization", "param_name", type=PRESET, default="mup", show_default=True,
              help="Preset parametrization (mup, mfp, ntp, sp, ...); or give --a/--b/--c.")
@click.option("--a", "a", type=o.RationalList(), help='Multiplier exponents a_1..a_{L+1}, e.g. "-1/2,0,1/2".')
@click.option("--b", "b", type=o.RationalList(), help="Init exponents b_1..b_{L+1}.")
@click.option("--c", "c", type=o.RationalList(), help="LR exponent c (or one per layer).")
@click.option("--eval-xs", "eval_xs", type=o.FINITE_FLOATS,
              help='Held-out inputs; adds "f_eval" [t][e] (t = 0..T) to the output.')
@click.option("--seed", type=o.SEED, default=0, show_default=True, help="Seed for random data and particles.")
@click.option("--budget", type=o.POSITIVE_FLOAT, default=2e7, show_default=True,
              help="Polynomial backend cost limit (monomial products) before it refuses.")
@force_option
@json_option
def limit_mlp(depth: int, phi: str, steps: int, xs: tuple[float, ...] | None, ys: tuple[float, ...] | None, lr: float,
              loss: str, decoupled: bool, backend: str, particles: int, replicas: int, param_name: str, a: Exponents,
              b: Exponents, c: Exponents, eval_xs: tuple[float, ...] | None, seed: int, budget: float, force: bool,
              as_json: bool) -> None:
    """Infinite-width limit of SGD on an L-hidden-layer MLP (input dim 1, output dim 1).

    Prints f_t (the limit logit on the t-th training input before the t-th update), the loss
    and standard errors (0 for exact backends).

    Example: infwidth limit mlp --depth 2 --phi tanh --steps 5 --xs "1,-1,1,-1,1" --ys "1,1,-1,-1,1" --json
    """
    from infwidth.cli import estimates
    from infwidth.cli.parametrization_cmds import resolve_parametrization
    from infwidth.limits import activation
    from infwidth.resources import check

    uses_particles = backend == "particles" or (backend == "auto" and activation(phi).kind == "general")
    check(estimates.limit_mlp(depth, steps, particles, uses_particles), force, "use fewer --particles or --steps")
    rng = np.random.default_rng(seed)
    xv = list(xs) if xs else rng.choice([-1.0, 1.0], steps).tolist()
    yv = list(ys) if ys else rng.choice([-1.0, 1.0], steps).tolist()
    if len(xv) < steps or len(yv) < steps:
        raise InfwidthError(f"--xs and --ys need at least --steps = {steps} values, got {len(xv)} and {len(yv)}.")
    xv, yv = xv[:steps], yv[:steps]
    if loss == "logistic" and any(y not in (-1.0, 1.0) for y in yv):
        raise InfwidthError("--loss logistic needs targets --ys in {+1, -1}.")
    p = resolve_parametrization(None if (a or b) else param_name, depth, a, b, c)
    out = compute_mlp_limit(depth, phi, xv, yv, lr, loss, decoupled, backend, particles, replicas, seed,
                            param=p, budget=budget, eval_xs=None if eval_xs is None else list(eval_xs))
    if as_json:
        print_json(out)
        return
    rows = [[str(t), f"{xv[t]:g}", f"{yv[t]:g}", f"{out['f'][t]:.6g}", f"{out['stderr'][t]:.2g}",
             f"{out['loss'][t]:.6g}"] for t in range(steps)]
    print_table(f"infinite-width limit ({out['backend']} backend, {out['seconds']:.2f} s)",
                ["t", "xi_t", "y_t", "f_t(xi_t)", "stderr", "loss"], rows)


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
    from infwidth.resources import check

    check(fig4(widths, n_seeds), force, "use smaller --widths or fewer --seeds")
    res = run(Fig4Config(widths=widths, n_seeds=n_seeds, out_dir=str(out_dir), resume=resume, progress=not as_json))
    if as_json:
        print_json({"errors": res["errors"], "csv": f"{out_dir}/fig4.csv", "png": f"{out_dir}/fig4.png"})
        return
    print_table("Figure 4: distance of the finite-width seed-mean logits to the limit",
                ["builder", "phi", "width", "max |mean f - f_lim|", "max z", "rms per seed"],
                [[e["builder"], e["phi"], str(e["width"]), f"{e['max_abs_err_seed_mean']:.3g}",
                  f"{e['max_z']:.2f}", f"{e['rms_err_per_seed']:.3g}"] for e in res["errors"]])
    info(f"wrote {out_dir}/fig4.csv, {out_dir}/fig4_errors.csv, {out_dir}/fig4.png")
