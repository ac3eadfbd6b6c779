"""CLI: ``infwidth experiment real-limit`` -- muP limits of deep MLPs on a real task vs finite widths and kernels."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from infwidth.cli import experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.errors import InfwidthError
from infwidth.experiments.real_limit import DATASETS, PRESETS, parse_model

MODELS = o.CommaList(o.Spec(parse_model, "model DEPTH-PHI", "2-tanh"), example="2-tanh,3-relu")
CLASS = o.Int(min=0, max=9, example="4")
OUTPUTS = ("real_limit_table.md", "real_limit_table.csv", "real_limit_errors.csv", "real_limit.csv", "real_limit.png")


def estimate(cfg: Any) -> Any:
    """Memory and work of a run, from the measured cost model of docs/limits.md ("Cost model of the particle
    engine"): (4L - 2) T B vectors of N particles alive; (4.25 L - 2.25) (T B)^2 + 2.2 L E T B per evaluation
    vector reads of N numbers each, at the measured ~1e9 reads/s (10 operations per read at the package's CPU
    rate); plus the finite widths."""
    from infwidth.resources import Estimate, mlp_training

    TB = cfg.steps * cfg.batch
    item = 4 if cfg.float32 else 8
    depth = max(parse_model(m)[0] for m in cfg.models)
    n_eval = len(range(0, cfg.steps + 1, cfg.eval_every)) + (cfg.steps % cfg.eval_every != 0)
    vectors = (4 * depth - 2) * TB + 64 * 6 * depth
    reads = sum(((4.25 * L - 2.25) * TB**2 + 2.2 * L * n_eval * cfg.n_test * TB) * cfg.particles
                for L in (parse_model(m)[0] for m in cfg.models))
    lim = Estimate(f"the real-task limit ({cfg.particles} particles, {cfg.steps} steps x batch {cfg.batch})",
                   vectors * cfg.particles * item * 1.1, 10.0 * reads)
    fin = mlp_training("the finite-width networks", cfg.widths, depth, cfg.d, 1, cfg.batch, cfg.steps,
                       runs=cfg.seeds * len(cfg.models))
    return lim + fin


def _command(params: dict[str, Any], out: Path) -> str:
    """The command line that reproduces this run (recorded on top of the table)."""
    parts = ["infwidth experiment real-limit"]
    for k, v in params.items():
        if v is None or v is False or k in ("as_json", "resume", "force"):
            continue
        flag = "--" + k.replace("_", "-")
        parts.append(flag if v is True else f"{flag} {','.join(map(str, v)) if isinstance(v, tuple) else v}")
    if params.get("out") is None:
        parts.append(f"--out {out}")
    return " ".join(parts)


@experiment.command("real-limit")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="tiny", show_default=True,
              help="tiny: seconds (a smoke test); full: the run of docs/real_limit.md (~22 min on 2 shared cores).")
@click.option("--out", type=o.OutputDir(), help="Output directory (default: runs/real-limit-PRESET).")
@click.option("--results", type=o.OutputDir(),
              help="Also copy the table, errors, curves and figure into this directory (e.g. results).")
@click.option("--dataset", type=click.Choice(DATASETS), help="Override the preset's data set.")
@click.option("--classes", type=o.CommaList(CLASS, example="4,9"), help="Two class labels, e.g. 4,9.")
@click.option("--models", type=MODELS, help="Models DEPTH-PHI, e.g. 2-tanh,3-relu.")
@click.option("--widths", type=o.WIDTHS, help="Finite widths, e.g. 64,256,1024,4096 or 6..12.")
@click.option("--seeds", type=o.SIZE, help="Seeds per finite width.")
@click.option("--steps", type=o.SIZE, help="SGD steps.")
@click.option("--batch", type=o.SIZE, help="Minibatch size.")
@click.option("--lr", type=o.POSITIVE_FLOAT, help="Learning rate eta (muP).")
@click.option("--particles", type=o.SIZE, help="Particles of the limit.")
@click.option("--replicas", type=o.Int(min=2, example="4", size=True), help="Independent particle groups.")
@click.option("--data-dir", type=o.InputDir(), help="Data directory (default: $INFWIDTH_DATA or ../shared/data).")
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --out.")
@force_option
@json_option
def real_limit_cmd(preset: str, out: Path | None, results: Path | None, dataset: str | None,
                   classes: tuple[int, ...] | None, models: tuple[str, ...] | None, widths: tuple[int, ...] | None,
                   seeds: int | None, steps: int | None, batch: int | None, lr: float | None, particles: int | None,
                   replicas: int | None, data_dir: Path | None, resume: bool, force: bool, as_json: bool) -> None:
    """The muP infinite-width limit of depth-2/3 tanh/relu MLPs trained by minibatch SGD on a two-class
    MNIST or CIFAR-10 subset, against finite widths (mean and band over seeds) and NNGP/NTK kernel descent.

    Writes OUT/real_limit_table.md (+ .csv), OUT/real_limit_errors.csv (error to the limit vs width),
    OUT/real_limit.csv (curves) and OUT/real_limit.png; OUT/checkpoint.json holds finished cells.

    Example: infwidth experiment real-limit --preset tiny
    """
    from infwidth.experiments.real_limit import preset_config, run
    from infwidth.experiments.real_limit_report import claim_sentences
    from infwidth.io import refuse_overwrite
    from infwidth.resources import check

    if classes is not None and (len(classes) != 2 or classes[0] == classes[1]):
        raise InfwidthError(f"--classes needs two different labels 0..9 (e.g. 4,9), got {','.join(map(str, classes))}.")
    cfg = preset_config(preset, dataset=dataset, classes=None if classes is None else tuple(classes), models=models,
                        widths=widths, seeds=seeds, steps=steps, batch=batch, lr=lr, particles=particles,
                        replicas=replicas)
    out = out if out is not None else Path("runs") / f"real-limit-{preset}"
    refuse_overwrite(out, ("checkpoint.json", *OUTPUTS), resume, force)
    if results is not None:
        refuse_overwrite(results, OUTPUTS, resume, force)
    check(estimate(cfg), force, "use a smaller --preset, fewer --steps, --particles or --widths")
    summary = run(cfg, out, resume=resume, force=force, data_dir=None if data_dir is None else str(data_dir),
                  progress=not as_json, command=_command(click.get_current_context().params, out))
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:
            shutil.copyfile(out / name, results / name)
    if as_json:
        print_json({"table": summary["table"], "errors": summary["errors"], "claims": summary["claims"],
                    "limit_cost": summary["limit_cost"], "out": str(out)})
        return
    print_table(f"real-limit ({summary['data']})", ["model", "reading", "train loss", "test loss", "test acc %"],
                [[r["model"], r["reading"], f"{r['train_loss']:.4f}", f"{r['test_loss']:.4f}",
                  f"{100 * r['test_acc']:.1f}"] for r in summary["table"]])
    for line in claim_sentences(summary):
        info(line)
    info(f"wrote {out}/" + ", ".join(OUTPUTS) + (f" (copied to {results})" if results is not None else ""))
