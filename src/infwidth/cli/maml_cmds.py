"""CLI: ``experiment maml`` (one model, K seeds) and ``experiment maml-table`` (TP4 Table 2 + figure)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from infwidth.cli import experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table


def _check_model(spec: str) -> None:
    from infwidth.maml.learners import parse_spec

    parse_spec(spec)


MODEL = o.Spec(_check_model, "model", "limit")


def _check_size(models: list[str], preset: str, seeds: int, over: dict[str, Any], force: bool) -> None:
    """Refuse runs whose tasks or training cannot fit (infwidth.cli.estimates.maml), before any data is read."""
    from infwidth.cli.estimates import maml
    from infwidth.experiments.maml import preset_config
    from infwidth.maml.learners import parse_spec
    from infwidth.resources import Estimate, check

    peak, flops = 0.0, 0.0
    for m in models:
        cfg = preset_config(preset, model=m, **{k: v for k, v in over.items() if k != "hyper"})
        est = maml(parse_spec(m)[1], cfg.meta_batch, cfg.epochs * cfg.batches_per_epoch, cfg.val_tasks,
                   cfg.test_tasks, cfg.epochs, cfg.test_steps)
        check(est, force, "use a smaller --meta-batch, --val-tasks, --test-tasks, width or fewer --epochs/--batches")
        peak, flops = max(peak, est.bytes), flops + est.flops * seeds
    check(Estimate(f"{len(models)} model(s) x {seeds} seed(s) of MAML", peak, flops), force,
          "run fewer models, seeds or meta-iterations")


def _size_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--preset", type=click.Choice(["tiny", "paper"]), default="tiny", show_default=True,
                     help="tiny: seconds; paper: TP4's 100 epochs x 100 meta-batches of 32 tasks."),
        click.option("--seeds", type=o.SIZE, default=1, show_default=True, help="Seeds 0..K-1, one run each."),
        click.option("--epochs", type=o.SIZE, help="Override the preset's number of epochs."),
        click.option("--batches", type=o.SIZE, help="Override the meta-batches per epoch."),
        click.option("--meta-batch", type=o.SIZE, help="Override the tasks per meta-batch."),
        click.option("--val-tasks", type=o.SIZE, help="Override the meta-validation tasks per epoch."),
        click.option("--test-tasks", type=o.SIZE, help="Override the number of meta-test tasks."),
        click.option("--data-dir", type=o.InputDir(), help="Shared data directory."),
        click.option("--threads", type=o.THREADS, default=1, show_default=True,
                     help="CPU threads for torch (1 is fastest on a busy shared machine; see docs/maml.md)."),
        click.option("--out", required=True, type=o.OutputDir(),
                     help="Output directory (one folder per model and seed)."),
        click.option("--resume", is_flag=True, help="Reuse finished runs and continue checkpointed ones."),
    ]):
        f = opt(f)
    return f


def _overrides(epochs: int | None, batches: int | None, meta_batch: int | None, val_tasks: int | None,
               test_tasks: int | None, data_dir: Path | None) -> dict[str, Any]:
    return {"epochs": epochs, "batches_per_epoch": batches, "meta_batch": meta_batch, "val_tasks": val_tasks,
            "test_tasks": test_tasks, "data_dir": None if data_dir is None else str(data_dir)}


def _run_seeds(models: list[str], preset: str, seeds: int, out: Path, resume: bool, force: bool,
               over: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every model for seeds 0..K-1, after checking that no finished run would be replaced."""
    from tqdm import tqdm

    from infwidth.experiments.maml import check_run_dir, preset_config, run

    cfgs = [preset_config(preset, model=m, seed=seed, **over) for m in models for seed in range(seeds)]
    for cfg in cfgs:
        check_run_dir(cfg, out, resume, force)
    results = []
    for cfg in cfgs:
        model, seed = cfg.model, cfg.seed
        total = cfg.epochs * cfg.batches_per_epoch
        with tqdm(total=total, desc=f"{model} seed {seed}", unit="it", file=sys.stderr, leave=False) as bar:
            def progress(it: int, _total: int, s: dict[str, float]) -> None:
                bar.n = it
                bar.set_postfix(loss=f"{s['loss']:.3f}", acc=f"{s['accuracy']:.3f}", refresh=False)
                bar.refresh()

            r = run(cfg, out, resume=resume, progress=progress, force=force)
        info(f"{model} seed {seed}: meta-test accuracy {r['test_accuracy']:.2f}% "
             f"(best epoch {r['best_epoch']}, train {r['train_s']:.0f} s)")
        results.append(r)
    return results


@experiment.command("maml")
@click.option("--model", type=MODEL, required=True,
              help="limit, width:N, relu-width:N, gp-relu, ntk-relu, gp-linear or ntk-linear.")
@click.option("--second-order", is_flag=True, help="Second-order MAML (differentiate through the inner step).")
@click.option("--meta-lr", type=o.POSITIVE_FLOAT, help="Override the model's meta learning rate (default: TP4's).")
@click.option("--sigma-u", type=o.NONNEG_FLOAT, help="Override sigma_u (kernels: sigma_w).")
@click.option("--sigma-v", type=o.NONNEG_FLOAT, help="Override sigma_v.")
@click.option("--bias", type=o.NONNEG_FLOAT, help="Override the hidden-bias multiplier (kernels: sigma_b).")
@_size_options
@force_option
@json_option
def maml_cmd(model: str, second_order: bool, meta_lr: float | None, sigma_u: float | None, sigma_v: float | None,
             bias: float | None, preset: str, seeds: int, epochs: int | None, batches: int | None,
             meta_batch: int | None, val_tasks: int | None, test_tasks: int | None, data_dir: Path | None,
             threads: int, out: Path, resume: bool, force: bool, as_json: bool) -> None:
    """Meta-train one model on Omniglot 5-way 1-shot with first-order MAML; meta-test it (TP4 Table 2).

    Writes OUT/<model>/seed<k>/{val.csv, checkpoint.pt, result.json}.

    Example: infwidth experiment maml --model limit --seeds 1 --preset tiny --out runs/maml
    """
    from dataclasses import replace

    import torch

    from infwidth.experiments.maml import default_hyper
    from infwidth.maml.learners import parse_spec

    parse_spec(model)
    over = _overrides(epochs, batches, meta_batch, val_tasks, test_tasks, data_dir)
    _check_size([model], preset, seeds, over, force)
    torch.set_num_threads(threads)
    hyper = {k: v for k, v in {"meta_lr": meta_lr, "sigma_u": sigma_u, "sigma_v": sigma_v, "bias": bias}.items()
             if v is not None}
    if hyper:
        over["hyper"] = replace(default_hyper(model), **hyper)
    results = _run_seeds([model], preset, seeds, out, resume, force, {**over, "first_order": not second_order})
    if as_json:
        print_json(results)
        return
    print_table(f"Omniglot meta-test accuracy (%), {model}, preset {preset}",
                ["seed", "accuracy", "+- s.e.", "tasks", "best epoch", "train s"],
                [[str(r["seed"]), f"{r['test_accuracy']:.2f}", f"{r['test_accuracy_se']:.2f}", str(r["test_tasks"]),
                  str(r["best_epoch"]), f"{r['train_s']:.0f}"] for r in results])


@experiment.command("maml-table")
@click.option("--models", type=o.CommaList(MODEL, unique=True), default=None,
              help="Comma-separated model specs (default: every column of Table 2).")
@click.option("--no-run", is_flag=True, help="Only aggregate finished runs found in --out.")
@click.option("--results", "results_dir", type=o.OutputDir(),
              default=Path("results"), show_default=True, help="Where maml_table2.md/.csv and the PNG go.")
@_size_options
@force_option
@json_option
def maml_table_cmd(models: tuple[str, ...] | None, no_run: bool, results_dir: Path, preset: str, seeds: int,
                   epochs: int | None, batches: int | None, meta_batch: int | None, val_tasks: int | None,
                   test_tasks: int | None, data_dir: Path | None, threads: int, out: Path, resume: bool,
                   force: bool, as_json: bool) -> None:
    """Run every Table 2 model for K seeds (finished runs are reused) and write results/maml_table2.md,
    maml_table2.csv and maml_accuracy_vs_width.png next to TP4's numbers.

    Example: infwidth experiment maml-table --preset tiny --seeds 2 --out runs/maml --results results
    """
    import torch

    from infwidth.experiments.maml import TABLE2_MODELS, collect, write_table

    torch.set_num_threads(threads)
    specs = list(models) if models else list(TABLE2_MODELS)
    over = _overrides(epochs, batches, meta_batch, val_tasks, test_tasks, data_dir)
    if not no_run:
        _check_size(specs, preset, seeds, over, force)
    if not no_run:
        _run_seeds(specs, preset, seeds, out, True, force, over)  # finished runs are always reused
    results = collect(out, specs)
    command = "infwidth experiment maml-table " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])
    rows = write_table(results, results_dir, command=command.strip())
    if as_json:
        print_json(rows)
        return
    print_table("TP4 Table 2: Omniglot meta-test accuracy (%)", ["model", "seeds", "ours", "std", "TP4", "TP4 std"],
                [[r["model"], str(r["seeds"]), f"{r['accuracy']:.2f}", f"{r['std']:.2f}",
                  "-" if r["paper"] is None else f"{r['paper']:.2f}",
                  "-" if r["paper_std"] is None else f"{r['paper_std']:.2f}"] for r in rows])
    info(f"wrote {results_dir / 'maml_table2.md'} and {results_dir / 'maml_accuracy_vs_width.png'}")


@experiment.command("maml-kernel-tune")
@click.option("--model", required=True, type=click.Choice(["gp-relu", "ntk-relu", "gp-linear", "ntk-linear"]))
@click.option("--sigma-v", "sigma_vs", type=o.CommaList(o.NONNEG_FLOAT, unique=True),
              default="0.0625,0.125,0.25,0.5,1,2,4,8", show_default=True, help="Comma-separated sigma_v grid.")
@click.option("--bias", "biases", type=o.CommaList(o.NONNEG_FLOAT, unique=True), default="0,0.5,1,2,4,8,16,32",
              show_default=True, help="Comma-separated bias grid (sigma_b; linear kernels: the bias coordinate).")
@click.option("--val-tasks", type=o.SIZE, default=1600, show_default=True,
              help="Meta-validation tasks per grid point.")
@click.option("--steps", type=o.SIZE, default=20, show_default=True,
              help="Adaptation steps (TP4's meta-test: 20).")
@click.option("--data-dir", type=o.InputDir(), help="Shared data directory.")
@click.option("--threads", type=o.THREADS, default=1, show_default=True, help="CPU threads for torch.")
@click.option("--out", required=True, type=o.OutputDir(),
              help="Writes OUT/<model>-tuning.csv and OUT/<model>-tuning.json (the chosen point).")
@force_option
@json_option
def maml_kernel_tune_cmd(model: str, sigma_vs: tuple[float, ...], biases: tuple[float, ...], val_tasks: int,
                         steps: int, data_dir: Path | None, threads: int, out: Path, force: bool,
                         as_json: bool) -> None:
    """Tune a kernel baseline's variances on meta-validation, before meta-training (sigma_w = 1, f_0 = 0).

    Then run it with the best point: infwidth experiment maml --model M --sigma-v V --bias B ...

    Example: infwidth experiment maml-kernel-tune --model gp-relu --out runs/maml-tuning
    """
    from infwidth.io import refuse_overwrite

    refuse_overwrite(out, (f"{model}-tuning.csv", f"{model}-tuning.json"), False, force)
    import torch
    from tqdm import tqdm

    from infwidth.cli.estimates import kernel_tune
    from infwidth.experiments.maml import tune_kernel
    from infwidth.io import write_csv, write_json
    from infwidth.resources import check

    grid_v, grid_b = list(sigma_vs), list(biases)
    check(kernel_tune(len(grid_v) * len(grid_b), val_tasks, steps), force,
          "use fewer --val-tasks, --steps or grid points")
    torch.set_num_threads(threads)
    with tqdm(total=len(grid_v) * len(grid_b), desc=f"tune {model}", file=sys.stderr, leave=False) as bar:
        rows = tune_kernel(model, grid_v, grid_b, val_tasks, steps,
                           data_dir=None if data_dir is None else str(data_dir),
                           progress=lambda i, _n: bar.update(i - bar.n))
    write_csv(out / f"{model}-tuning.csv", rows)
    chosen = next(r for r in rows if r["chosen"])
    write_json(out / f"{model}-tuning.json", chosen)
    if as_json:
        print_json(rows)
        return
    print_table(f"{model}: meta-validation accuracy (%) before meta-training, {val_tasks} tasks, {steps} steps",
                ["sigma_v", "bias", "accuracy", "+- s.e."],
                [[f"{r['sigma_v']:g}", f"{r['bias']:g}", f"{r['val_accuracy']:.2f}", f"{r['val_se']:.2f}"]
                 for r in rows[:10]])
    info(f"best {rows[0]['val_accuracy']:.2f}%; chosen (smallest sigma_v within one s.e. of the best): "
         f"--sigma-v {chosen['sigma_v']:g} --bias {chosen['bias']:g} ({chosen['val_accuracy']:.2f}%); "
         f"wrote {out / (model + '-tuning.csv')}")
