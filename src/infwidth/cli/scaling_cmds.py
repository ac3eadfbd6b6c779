"""CLI: ``exponents`` (derived per-layer LR/eps exponents) and ``sweep`` (LR x width grids)."""

from __future__ import annotations

from pathlib import Path

import click

from infwidth.cli import cli, experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.coordcheck_model import MODEL
from infwidth.experiments.everett_report import STAGES as EVERETT_STAGES
from infwidth.parametrization.presets import canonical
from infwidth.parametrization.rational import fmt
from infwidth.scaling.exponents import OPTIMIZERS, PARAMETRIZATIONS, table_rows

# The parametrizations and optimizers a trained model can use (infwidth.sweep.trial.scaled_optimizer).
TRAIN_PARAMETRIZATION = o.Name((*PARAMETRIZATIONS, "sp-global"), "parametrization", normalize=canonical)
PARAMETRIZATION = o.Name(PARAMETRIZATIONS, "parametrization", normalize=canonical)
TRAIN_OPTIMIZERS = ("adam", "adam-atan2", "sgd")


@cli.command("exponents")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True)
@click.option("--alignment", type=click.Choice(["full", "none"]), default="full", show_default=True,
              help="full: updates correlated with their inputs (LLN); none: independent (CLT).")
@click.option("--parametrization", "params", multiple=True, type=PARAMETRIZATION,
              help="Restrict to these parametrizations (default: all).")
@json_option
def exponents_cmd(optimizer: str, alignment: str, params: tuple[str, ...], as_json: bool) -> None:
    """Per-layer learning-rate exponents c (LR = eta n^-c), derived from stability and maximal updates.

    \b
    Examples:
      infwidth exponents --optimizer adam --alignment full
      infwidth exponents --optimizer sgd --alignment none --json
    """
    tables = table_rows(optimizer, alignment, params or PARAMETRIZATIONS)
    if as_json:
        print_json({"optimizer": optimizer, "alignment": alignment,
                    "tables": [t.to_json() for t in tables]})
        return
    adam = optimizer == "adam"
    rows = []
    for t in tables:
        r = t.by_role()
        rows.append([t.parametrization,
                     *[f"({fmt(r[x].a)}, {fmt(r[x].b)})" for x in ("embedding", "hidden", "readout")],
                     *[fmt(v) for v in t.lr()], *([fmt(v) for v in t.eps()] if adam else [])])
    title = f"{optimizer}, {alignment} alignment: LR = eta n^-c" + (", eps = eps0 n^-e" if adam else "")
    print_table(title, ["param", "(a,b) emb", "(a,b) hid", "(a,b) out", "c emb", "c hid", "c out",
                        *(["e emb", "e hid", "e out"] if adam else [])], rows)


@cli.command("sweep")
@click.option("--model", type=click.Choice(["mlp", "transformer"]), default="mlp", show_default=True)
@click.option("--parametrization", type=TRAIN_PARAMETRIZATION, default="mup", show_default=True,
              help="sp, ntp, mup, mfp (aliases ntk, mf accepted), or sp-global.")
@click.option("--optimizer", type=click.Choice(TRAIN_OPTIMIZERS), default="adam", show_default=True)
@click.option("--widths", type=o.SIZES, default="32,64,128", show_default=True, help="Comma-separated widths.")
@click.option("--lrs", type=o.POSITIVE_FLOATS, default="1e-3,3e-3,1e-2,3e-2", show_default=True,
              help="Comma-separated base LRs.")
@click.option("--seeds", type=o.SEEDS, default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--base-width", type=o.SIZE, default=32, show_default=True)
@click.option("--steps", type=o.SIZE, default=100, show_default=True)
@click.option("--store", "store_path", type=o.OutputFile(), default=Path("sweep.sqlite"), show_default=True,
              help="Resumable SQLite store.")
@click.option("--workers", type=o.POSITIVE_INT, default=2, show_default=True,
              help="Local processes (at most the number of trials and of CPUs).")
@click.option("--ray", "ray_address", type=o.TEXT, default=None,
              help="Run trials on this Ray cluster (needs `pip install ray`).")
@force_option
@json_option
def sweep_cmd(model: str, parametrization: str, optimizer: str, widths: tuple[int, ...], lrs: tuple[float, ...],
              seeds: tuple[int, ...], base_width: int, steps: int, store_path: Path, workers: int,
              ray_address: str | None, force: bool, as_json: bool) -> None:
    """Grid sweep (learning rate x width x seed), resumable: finished trials are never redone.

    \b
    Examples:
      infwidth sweep --model mlp --parametrization mup --widths 32,64,128 --lrs 1e-3,1e-2 --store s.sqlite
      infwidth sweep --store s.sqlite --json     # rerun: only missing trials run
    """
    from infwidth.cli.estimates import sweep
    from infwidth.resources import check
    from infwidth.sweep import SweepStore, grid, run_sweep, summarize

    check(sweep(model, (*widths, base_width), steps, len(lrs) * len(seeds), 1 if ray_address else workers), force,
          "use smaller --widths, fewer --steps, --lrs or --seeds")
    trials = grid(model=[model], parametrization=[parametrization], optimizer=[optimizer],
                  width=list(widths), lr=list(lrs), seed=list(seeds), base_width=[base_width], steps=[steps])
    store = SweepStore(store_path)
    done = run_sweep(trials, store, workers=workers, ray_address=ray_address, progress=not as_json)
    info(f"{done} trial(s) run, {len(trials) - done} already in {store_path}")
    rows = summarize(store.results())
    if as_json:
        print_json({"store": str(store_path), "ran": done, "best": rows})
        return
    print_table("best learning rate per width", ["parametrization", "optimizer", "width", "best lr", "loss"],
                [[r["parametrization"], r["optimizer"], str(r["width"]), f"{r['lr']:g}", f"{r['loss']:.4g}"]
                 for r in rows])


#: The tasks of ``infwidth.experiments.transfer.TASKS`` (listed here so that the CLI imports no torch).
TRANSFER_TASKS = ("cifar-mlp", "text-transformer", "hf-gpt2")


@experiment.command("transfer")
@click.option("--task", type=click.Choice(TRANSFER_TASKS), default="cifar-mlp", show_default=True,
              help="cifar-mlp, text-transformer, or hf-gpt2 (Hugging Face GPT-2, tied embeddings, its own init).")
@click.option("--parametrizations", type=o.CommaList(TRAIN_PARAMETRIZATION, unique=True),
              default="sp-global,sp,mup", show_default=True)
@click.option("--optimizers", type=o.CommaList(o.Name(TRAIN_OPTIMIZERS, "optimizer"), unique=True),
              default="adam,adam-atan2", show_default=True)
@click.option("--widths", type=o.SIZES, default="64,128,256,512,1024", show_default=True)
@click.option("--lrs", type=o.POSITIVE_FLOATS, default="1.25e-4,5e-4,2e-3,8e-3,3.2e-2", show_default=True)
@click.option("--seeds", type=o.SEEDS, default="0", show_default=True)
@click.option("--steps", type=o.SIZE, default=100, show_default=True)
@click.option("--batch", type=o.SIZE, default=64, show_default=True)
@click.option("--base-width", type=o.SIZE, default=64, show_default=True)
@click.option("--workers", type=o.POSITIVE_INT, default=2, show_default=True)
@click.option("--data-dir", type=o.InputDir(), default=None,
              help="Shared data directory (default: $INFWIDTH_DATA, ../shared/data).")
@click.option("--out", type=o.OutputDir(), default=Path("results"), show_default=True)
@force_option
@json_option
def transfer_cmd(task: str, parametrizations: tuple[str, ...], optimizers: tuple[str, ...], widths: tuple[int, ...],
                 lrs: tuple[float, ...], seeds: tuple[int, ...], steps: int, batch: int, base_width: int, workers: int,
                 data_dir: Path | None, out: Path, force: bool, as_json: bool) -> None:
    """Loss vs learning rate per width, and the drift of the optimal learning rate per doubling of width.

    Resumable (SQLite store in --out). Writes transfer_<task>.csv/.json/_<optimizer>.png and transfer.md.

    \b
    Examples:
      infwidth experiment transfer --task cifar-mlp --out results
      infwidth experiment transfer --task text-transformer --widths 32,64,128,256 --base-width 32 \\
          --steps 60 --batch 16 --out results
      infwidth experiment transfer --task hf-gpt2 --parametrizations mup,sp-global --optimizers adam \\
          --widths 64,128,256,512 --base-width 64 --steps 100 --batch 16 --out results
    """
    from infwidth.cli.estimates import transfer
    from infwidth.experiments.transfer import TransferConfig, run
    from infwidth.resources import check

    check(transfer(task, (*widths, base_width), steps, batch,
                   len(parametrizations) * len(optimizers) * len(lrs) * len(seeds), workers), force,
          "use smaller --widths, fewer --steps, --lrs, --seeds or a smaller --batch")
    cfg = TransferConfig(task=task, parametrizations=list(parametrizations), optimizers=list(optimizers),
                         widths=list(widths), lrs=list(lrs), seeds=list(seeds), steps=steps, batch=batch,
                         base_width=base_width, workers=workers, data_dir=None if data_dir is None else str(data_dir),
                         out=out)
    res = run(cfg, progress=not as_json)
    if as_json:
        print_json(res)
        return
    print_table(f"transfer: {task} ({res['ran']} trials run now)",
                ["parametrization", "optimizer", "lr* per width", "drift per doubling"],
                [[a["parametrization"], a["optimizer"],
                  " ".join(f"{lr:.2g}" for lr in a["lr_opt"]),
                  f"{a['drift_per_doubling']:+.2f} ± {a['drift_se']:.2f}"] for a in res["analysis"]])
    info(f"wrote {out / 'transfer.md'}")


@experiment.command("everett")
@click.option("--preset", type=click.Choice(["cpu", "tiny"]), default="cpu", show_default=True,
              help="Run size: cpu (891 trials, ~2.5 h on a shared 2-core machine) or tiny (seconds).")
@click.option("--parametrizations", type=o.CommaList(o.Name(("sp", "ntk", "mup", "mf"), "parametrization"),
                                                     unique=True), default=None,
              help="Comma-separated subset of sp,ntk,mup,mf (default: all).")
@click.option("--seeds", type=o.SEEDS, default=None, help='Seeds of every sweep, e.g. "0,1".')
@click.option("--loss-scale", type=o.POSITIVE_FLOAT, default=None,
              help="Epsilon stage: the loss is multiplied by this before backward (default 3e-5).")
@click.option("--scan-parametrizations", type=o.CommaList(o.Name(("sp", "ntk", "mup", "mf"), "parametrization"),
                                                          unique=True), default=None,
              help="Parametrizations of the per-layer LR scans (default: sp,mup).")
@click.option("--stages", type=o.CommaList(o.Name(EVERETT_STAGES, "stage"), unique=True), default=None,
              help="Comma-separated stages after the constant search (default: all): " + ", ".join(EVERETT_STAGES)
              + ".")
@click.option("--data-dir", type=o.InputDir(), default=None,
              help="Shared data directory (default: $INFWIDTH_DATA, ../shared/data).")
@click.option("--out", type=o.OutputDir(), default=Path("runs/everett"), show_default=True,
              help="Store, CSV, JSON, PNGs and everett.md (its generated block) go here.")
@json_option
def everett_cmd(preset: str, parametrizations: tuple[str, ...] | None, seeds: tuple[int, ...] | None,
                loss_scale: float | None, scan_parametrizations: tuple[str, ...] | None,
                stages: tuple[str, ...] | None, data_dir: Path | None, out: Path, as_json: bool) -> None:
    """Everett et al.'s claims on the CIFAR MLP: per-layer constants tuned at the base width, transfer of
    the global LR (drift per doubling, best loss per width) for SP/NTK/muP/MF with Adam, SP under other
    alignment assumptions, per-layer LR scans, and Adam's epsilon vs gradient underflow (Adam-atan2).

    Resumable (SQLite store in --out); every stage reuses finished trials.

    \b
    Examples:
      infwidth experiment everett --out runs/everett
      infwidth experiment everett --preset tiny --out /tmp/everett --json
    """
    import sys

    from infwidth.experiments.everett import config_for, run

    cfg = config_for(preset, parametrizations=parametrizations, seeds=seeds, loss_scale=loss_scale, stages=stages,
                     scan_params=scan_parametrizations,
                     data_dir=None if data_dir is None else str(data_dir), out=Path(out))
    res = run(cfg, progress=not as_json, command="infwidth " + " ".join(sys.argv[1:]))
    if as_json:
        print_json({k: v for k, v in res.items() if k != "curves"} | {"curves": [
            {k: v for k, v in c.items() if k != "rows"} for c in res["curves"]]})
        return
    print_table("Everett et al. on the CIFAR MLP: transfer of the global LR",
                ["setting", "drift per doubling", "best loss at the largest width"],
                [[c["label"], f"{c['drift']:+.2f} ± {c['drift_se']:.2f}",
                  f"{c['largest_best_loss_mean']:.4f} ± {c['largest_best_loss_se']:.4f}"] for c in res["curves"]])
    info(f"wrote {out / 'everett.md'}, {out / 'everett_transfer.png'}, {out / 'everett_eps.png'}")


@cli.command("alignment")
@click.option("--parametrization", type=TRAIN_PARAMETRIZATION, default="mup", show_default=True,
              help="sp, ntp, mup, mfp (aliases ntk, mf accepted), or sp-global.")
@click.option("--optimizer", type=click.Choice(TRAIN_OPTIMIZERS), default="adam", show_default=True)
@click.option("--width", type=o.SIZE, default=256, show_default=True)
@click.option("--base-width", type=o.SIZE, default=32, show_default=True)
@click.option("--lr", type=o.POSITIVE_FLOAT, default=1e-2, show_default=True)
@click.option("--steps", type=o.SIZE, default=50, show_default=True)
@click.option("--every", type=o.POSITIVE_INT, default=5, show_default=True, help="Log every this many steps.")
@click.option("--out", type=o.OutputFile(".csv"), default=Path("alignment.csv"),
              show_default=True, help="CSV to write (a PNG with the same stem is written beside it).")
@force_option
@json_option
def alignment_cmd(parametrization: str, optimizer: str, width: int, base_width: int, lr: float, steps: int,
                  every: int, out: Path, force: bool, as_json: bool) -> None:
    """Train the sweep's MLP task and log the alignment exponents alpha, omega, u per layer.

    \b
    Example:
      infwidth alignment --parametrization mup --optimizer adam --width 512 --steps 50 --out align.csv
    """
    from infwidth.cli.estimates import alignment
    from infwidth.resources import check
    from infwidth.scaling.alignment import AlignmentTracker

    check(alignment(max(width, base_width), steps), force, "use a smaller --width or fewer --steps")
    from infwidth.sweep.trial import build, mlp_task
    from infwidth.viz.scaling import plot_alignment

    model, opt = build({"model": "mlp", "parametrization": parametrization, "optimizer": optimizer,
                        "width": width, "base_width": base_width, "lr": lr, "seed": 0})
    x, y = mlp_task(0)
    tracker = AlignmentTracker(model, x[:128])
    for step in range(1, steps + 1):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        if step % every == 0 or step == steps:
            tracker.log(step)
    tracker.write_csv(out)
    plot_alignment(tracker.rows, out.with_suffix(".png"))
    last = [r for r in tracker.rows if r["step"] == steps]
    if as_json:
        print_json({"csv": str(out), "png": str(out.with_suffix(".png")), "final": last})
        return
    print_table(f"alignment exponents at step {steps} ({parametrization}, {optimizer}, width {width})",
                ["layer", "fan-in", "alpha (dW z0)", "omega (W0 dz)", "u (dW dz)"],
                [[r["layer"], str(r["fan_in"]), f"{r['alpha']:.3f}", f"{r['omega']:.3f}", f"{r['u']:.3f}"]
                 for r in last])
    info(f"wrote {out} and {out.with_suffix('.png')}")


@cli.command("explain")
@click.option("--model", type=MODEL, required=True, metavar="PKG.MOD:FACTORY",
              help="FACTORY(width) -> nn.Module, from a module or a file (path/to/file.py:make).")
@click.option("--base-width", type=o.SIZE, required=True, help="Width of the base model (where constants were tuned).")
@click.option("--width", type=o.SIZE, required=True, help="Width of the model to scale.")
@click.option("--parametrization", type=PARAMETRIZATION, default="mup", show_default=True,
              help=f"{', '.join(PARAMETRIZATIONS)} (or an alias: ntk, mf, ...).")
@click.option("--optimizer", type=o.Name(OPTIMIZERS, "optimizer"), default="adam", show_default=True)
@click.option("--alignment", type=o.Name(("full", "none"), "alignment"), default="full", show_default=True)
@click.option("--gauge", type=o.Name(("mup", "absorbed", "multipliers"), "gauge"), default=None,
              help="Where multipliers live: mup, absorbed or multipliers (docs/scaling.md) [default: mup].")
@force_option
@json_option
def explain_cmd(model: str, base_width: int, width: int, parametrization: str, optimizer: str, alignment: str,
                gauge: str | None, force: bool, as_json: bool) -> None:
    """Every scaling decision for one model: role, width multiplier, init factor, multiplier, lr and eps factors.

    Builds FACTORY(width) and FACTORY(base-width) and explains, per parameter (tied names included), what
    scaling it in --parametrization for --optimizer would do. Nothing is trained or modified.

    \b
    Examples:
      infwidth explain --model mypkg.models:make_gpt --base-width 256 --width 4096
      infwidth explain --model tests/zoo.py:hf_gpt2 --base-width 64 --width 256 --parametrization mup --json
    """
    from dataclasses import asdict

    from infwidth.resources import F32, Estimate, check
    from infwidth.scaling import explain, format_rows
    from infwidth.scaling.factory import build, load_factory, parameter_count

    factory = load_factory(model)
    count = parameter_count(factory, model)
    if count is not None:  # the two models and the table's statistics, before either is built
        check(Estimate(f"explaining {model} at widths {base_width} and {width}",
                       4.0 * F32 * (count(width) + count(base_width)), 20.0 * (count(width) + count(base_width))),
              force, "use smaller --width or --base-width")
    target, base = build(factory, width, model), build(factory, base_width, model)
    kwargs = {"parametrization": parametrization, "optimizer": optimizer, "alignment": alignment}
    rows = explain(target, base, **(kwargs if gauge is None else {**kwargs, "gauge": gauge}))
    if as_json:
        print_json({"model": model, "width": width, "base_width": base_width, **kwargs,
                    "rows": [asdict(r) for r in rows]})
        return
    click.echo(f"{model}: width {width} against base {base_width}, {parametrization} + {optimizer} "
               f"({alignment} alignment)")
    click.echo(format_rows(rows))
