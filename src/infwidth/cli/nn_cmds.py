"""CLI: ``coordcheck`` (finite-width networks against the abc algebra) and ``experiment max-lr``."""

from __future__ import annotations

from pathlib import Path

import click

from infwidth.cli import cli, experiment
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.coordcheck_model import BATCH_FILE, DATA, MODEL
from infwidth.cli.parametrization_cmds import Exponents, parametrization_options, resolve_parametrization
from infwidth.parametrization import AbcParametrization

DTYPES = {"float32": "float32", "float64": "float64"}


def _check_phi(name: str) -> None:
    from infwidth.arch import activation

    activation(name)


PHI = o.Spec(_check_phi, "activation", "relu")


def _coordcheck_names() -> list[str]:
    from infwidth.parametrization.presets import PRESETS
    from infwidth.scaling.exponents import PARAMETRIZATIONS

    return list(dict.fromkeys([*PRESETS, *PARAMETRIZATIONS, "sp-global"]))


def _normalize_name(text: str) -> str:
    from infwidth.parametrization.presets import canonical

    name = canonical(text)
    return "sp-global" if name in ("sp-global", "sp_global") else name


# The built-in MLP check takes the TP4 presets; --model takes the scaling names (sp, ntp, mfp, mup, sp-global);
# aliases (ntk, mf, μP, SP_STABLE, ...) through the one registry's canonical().
COORDCHECK_NAMES = o.Name(_coordcheck_names, "parametrization", normalize=_normalize_name)


def coordcheck_parametrization(f: click.decorators.FC) -> click.decorators.FC:
    """parametrization_options with the names of both modes of ``coordcheck``."""
    return parametrization_options(f, COORDCHECK_NAMES, "Named parametrization: a TP4 preset (sp, sp_stable, ntp, "
                                   "mfp, mup) for the MLP; with --model sp, ntp, mfp, mup or sp-global [default: mup].")


def _override(p: AbcParametrization, a: Exponents, b: Exponents, c: Exponents) -> AbcParametrization:
    """``p`` with the given exponent lists replaced (the network actually built in a mis-scaling check)."""
    if a is None and b is None and c is None:
        return p
    return AbcParametrization(p.a if a is None else a, p.b if b is None else b, p.c if c is None else c[0])


@cli.command("coordcheck")
@click.option("--model", type=MODEL, default=None, metavar="PKG.MOD:FACTORY",
              help="Check any model: FACTORY(width) -> nn.Module, from a module or a file (path/to/file.py:make).")
@coordcheck_parametrization
@click.option("--widths", type=o.Widths(min_len=2), default=None, help='Widths: "64,128,256" or a log2 range "6..12" '
              "[default: 6..12; with --model 64,128,256,512].")
@click.option("--seeds", type=o.SIZE, default=None, help="Independent initializations (and input batches) "
              "[default: 4; with --model 2].")
@click.option("--steps", type=o.SIZE, default=3, show_default=True, help="Optimizer steps t = 1..steps.")
@click.option("--eta", "--lr", "eta", type=o.POSITIVE_FLOAT, default=None,
              help="Base learning rate (LR = eta n^-c) [default: 0.1; with --model 1e-3 for Adam, 0.05 for SGD].")
@click.option("--phi", type=PHI, default=None, help="MLP nonlinearity: relu, tanh, gelu, identity or square "
              "[default: relu].")
@click.option("--batch", type=o.SIZE, default=None, help="Batch size (fixed inputs) [default: 16; with --model 8].")
@click.option("--d-in", type=o.SIZE, default=None, help="MLP input dimension [default: 8].")
@click.option("--d-out", type=o.SIZE, default=None, help="MLP output dimension (more: less noise) [default: 8].")
@click.option("--tol", type=o.POSITIVE_FLOAT, default=None, help="Slope tolerance of the pass/fail verdict "
              "[default: 0.15; with --model 0.25, half the spacing of the derived exponents].")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default=None,
              help="[default: float64; with --model float32].")
@click.option("--device", type=o.DEVICE, default=None, help="torch device, e.g. cuda (default: cpu).")
@click.option("--build-a", type=o.RationalList(), default=None,
              help="Build the network with these a_l instead (mis-scaling test).")
@click.option("--build-b", type=o.RationalList(), default=None, help="Build the network with these b_l instead.")
@click.option("--build-c", type=o.RationalList(max_len=1), default=None, help="Build the network with this c instead.")
@click.option("--optimizer", type=o.Name(("adam", "adam-atan2", "sgd"), "optimizer"), default=None,
              help="With --model: the optimizer [default: adam].")
@click.option("--base-width", type=o.SIZE, default=None, help="With --model: base width [default: the smallest width].")
@click.option("--data", type=DATA, default=None, help="With --model: random inputs, auto (from the first layer), "
              "tokens:VOCAB[:LENGTH], images:C[xHxW] or vectors:DIM [default: auto].")
@click.option("--batch-file", type=BATCH_FILE, default=None,
              help="With --model: a torch.save'd tensor or {'inputs': ..., 'labels': ...} used instead of --data.")
@click.option("--loss", type=o.Name(("auto", "xent", "mse"), "loss"), default=None,
              help="With --model: cross-entropy on the output's last dim, or MSE, against random or given labels.")
@click.option("--alignment", type=o.Name(("full", "none"), "alignment"), default=None,
              help="With --model: alignment assumption of the predicted exponents [default: full].")
@click.option("--out-dir", type=o.OutputDir(), default=Path("results"),
              show_default=True, help="Where coordcheck_<name>.csv/.png are written.")
@click.option("--name", type=o.STEM, default=None, help="File stem (default: coordcheck_<preset or abc>_L<depth>, "
              "with --model coordcheck_<factory>_<parametrization>).")
@force_option
@json_option
def coordcheck_cmd(model: str | None, preset_name: str | None, depth: int | None, a: Exponents, b: Exponents,
                   c: Exponents, widths: tuple[int, ...] | None, seeds: int | None, steps: int, eta: float | None,
                   phi: str | None, batch: int | None, d_in: int | None, d_out: int | None, tol: float | None,
                   dtype: str | None, device: str | None, build_a: Exponents, build_b: Exponents, build_c: Exponents,
                   optimizer: str | None, base_width: int | None, data: str | None, batch_file: str | None,
                   loss: str | None, alignment: str | None, out_dir: Path, name: str | None, force: bool,
                   as_json: bool) -> None:
    """Measure how every coordinate scales with width and compare with the derivation.

    Without --model: trains the built-in abc-MLP for a few SGD steps at each width and seed, fits log2(size)
    vs log2(width) for h^l_0, x^l_0, f_0, Delta h^l_t, Delta x^l_t, Delta W^l x^{l-1}_t and Delta f_t, and
    prints each measured exponent (95% CI) next to the predicted one with a pass/fail verdict.

    With --model PKG.MOD:FACTORY: any model. FACTORY(width) builds it at each width; it is scaled against
    FACTORY(base width) in --parametrization (sp, ntp, mfp, mup; or sp-global: untouched, one learning rate),
    trained --steps steps with --optimizer, and the output of every module is recorded at init and after
    each step. Verdict: PASS, FAIL (worst offenders named) or FLAGGED (growth predicted and measured).
    Writes a CSV of raw sizes, a CSV of fits, a JSON summary and a PNG; exit 1 when the check fails.

    \b
    Examples:
      infwidth coordcheck --parametrization mup --depth 2
      infwidth coordcheck --parametrization sp --depth 2 --c 1 --widths 6..10
      infwidth coordcheck --a "-1/2,0,1/2" --b "1/2,1/2,1/2" --c 0
      infwidth coordcheck --parametrization mup --depth 2 --build-a "-1/2,0,0"   # forgotten readout multiplier
      infwidth coordcheck --model mypkg.models:make_gpt --widths 64,128,256,512 --parametrization mup
      infwidth coordcheck --model tests/zoo.py:vit --parametrization sp-global --data images:3x16x16
    """
    from infwidth.cli.coordcheck_model import MODEL_DEFAULTS, check_mode_options, run_model_check

    check_mode_options(model, preset_name, {
        "depth": depth, "a": a, "b": b, "c": c, "phi": phi, "d_in": d_in, "d_out": d_out, "build_a": build_a,
        "build_b": build_b, "build_c": build_c, "optimizer": optimizer, "base_width": base_width, "data": data,
        "batch_file": batch_file, "loss": loss, "alignment": alignment})
    if model is not None:
        ok = run_model_check(model, preset_name, optimizer, list(widths or MODEL_DEFAULTS["widths"]), base_width,
                             seeds or MODEL_DEFAULTS["seeds"], steps, eta, batch or MODEL_DEFAULTS["batch"], data,
                             batch_file, loss, alignment, tol, dtype or MODEL_DEFAULTS["dtype"], device, out_dir,
                             name, force, as_json)
        if not ok:
            raise SystemExit(1)
        return
    _mlp_check(preset_name, depth, a, b, c, widths, seeds, steps, eta, phi, batch, d_in, d_out, tol, dtype, device,
               build_a, build_b, build_c, out_dir, name, force, as_json)


def _mlp_check(preset_name: str | None, depth: int | None, a: Exponents, b: Exponents, c: Exponents,
               widths: tuple[int, ...] | None, seeds: int | None, steps: int, eta: float | None, phi: str | None,
               batch: int | None, d_in: int | None, d_out: int | None, tol: float | None, dtype: str | None,
               device: str | None, build_a: Exponents, build_b: Exponents, build_c: Exponents, out_dir: Path,
               name: str | None, force: bool, as_json: bool) -> None:
    """The coordinate check of the built-in abc-MLP (``coordcheck`` without --model): train, fit, write, print;
    exit 1 when a coordinate fails."""
    widths, seeds, eta, phi = widths or tuple(2**k for k in range(6, 13)), seeds or 4, eta or 0.1, phi or "relu"
    batch, d_in, d_out, tol, dtype = batch or 16, d_in or 8, d_out or 8, tol or 0.15, dtype or "float64"

    import torch
    from tqdm import tqdm

    from infwidth.cli import estimates
    from infwidth.io import write_csv, write_json
    from infwidth.nn.coordcheck import coord_check
    from infwidth.parametrization.rational import fmt
    from infwidth.resources import check
    from infwidth.viz.coordcheck import plot_coordcheck

    param = resolve_parametrization(preset_name, depth, a, b, c)
    network = _override(param, build_a, build_b, build_c)
    ws = list(widths)
    check(estimates.coordcheck(ws, param.depth, d_in, d_out, batch, steps, seeds, dtype == "float64"), force,
          "use smaller --widths, --seeds, --batch or --steps", device)
    stem = name or f"coordcheck_{param.name or 'abc'}_L{param.depth}" + (
        "_c" + fmt(param.c).replace("/", "_").replace("-", "m") if preset_name and c is not None else "")
    bar = tqdm(total=len(ws) * seeds, desc="coordcheck", disable=as_json, leave=False)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    result = coord_check(param, widths=ws, seeds=seeds, steps=steps, eta=eta, phi=phi, d_in=d_in, d_out=d_out,
                         batch=batch, tol=tol, dtype=getattr(torch, dtype), device=device, network_param=network,
                         progress=progress)
    bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_csv, fit_csv, png = out_dir / f"{stem}_raw.csv", out_dir / f"{stem}.csv", out_dir / f"{stem}.png"
    write_csv(raw_csv, result.records)
    write_csv(fit_csv, [f.row() for f in result.fits])
    write_json(out_dir / f"{stem}.json", result.to_json())
    plot_coordcheck(result, png)
    summary = result.to_json()
    summary["files"] = {"raw_csv": str(raw_csv), "fits_csv": str(fit_csv), "png": str(png)}
    if as_json:
        print_json(summary)
    else:
        rows = [[f.quantity.label, str(f.quantity.step), "-" if f.predicted is None else fmt(f.predicted),
                 f"{f.slope:+.3f}", f"[{f.ci_low:+.3f}, {f.ci_high:+.3f}]", f.verdict] for f in result.fits]
        title = f"coordinate check: {param.describe()}" + (f"  (network built as {network.describe()})"
                                                            if network != param else "")
        print_table(title, ["quantity", "t", "predicted", "measured", "95% CI", "verdict"], rows)
        click.echo(f"regime (Thm 3.3-3.8): {summary['regime']}, r = {summary['r']}")
        click.echo(result.verdict)
        info(f"wrote {fit_csv}, {raw_csv}, {png}")
    if not result.ok:
        raise SystemExit(1)


@experiment.command("max-lr")
@click.option("--preset", "preset_name", type=click.Choice(["cpu-small", "cpu-seeds", "paper", "tiny"]),
              default="cpu-small", show_default=True,
              help="Run size: cpu-small (one seed, < 15 min on 2 cores), cpu-seeds (4 seeds, widths to 8192, "
              "bisection; about 1 h of CPU), paper (needs a GPU), tiny.")
@click.option("--seeds", type=o.SEEDS, default=None, help='Override the seeds: "0,1,2".')
@click.option("--widths", type=o.WIDTHS, default=None, help='Override the widths: "256,512" or a log2 range "8..11".')
@click.option("--n-train", type=o.SIZE, default=None, help="Override the number of training images.")
@click.option("--epochs", type=o.SIZE, default=None, help="Override the number of epochs.")
@click.option("--lr-step", type=o.POSITIVE_FLOAT, default=None,
              help="Refine the log2 LR grid to this step over the preset's range (e.g. 0.5; resumes reuse runs).")
@click.option("--data-dir", type=o.InputDir(), default=None,
              help="Data folder (default: $INFWIDTH_DATA, then ../shared/data).")
@click.option("--source", type=click.Choice(["auto", "jpeg", "python"]), default="auto", show_default=True,
              help="CIFAR-10 copy: the shared JPEG npz or the original python batches.")
@click.option("--cache-dir", type=o.OutputDir(), default=None,
              help="Cache for decoded images (default: $INFWIDTH_CACHE, then ~/.cache/infwidth).")
@click.option("--device", type=o.DEVICE, default="cpu", show_default=True, help="torch device, e.g. cuda.")
@click.option("--out-dir", type=o.OutputDir(), default="runs/max_lr", show_default=True)
@click.option("--resume/--no-resume", default=True, show_default=True, help="Skip runs already in runs.csv.")
@force_option
@json_option
def max_lr_cmd(preset_name: str, seeds: tuple[int, ...] | None, widths: tuple[int, ...] | None, n_train: int | None,
               epochs: int | None, lr_step: float | None, data_dir: Path | None, source: str, cache_dir: Path | None,
               device: str, out_dir: Path, resume: bool, force: bool, as_json: bool) -> None:
    """Max stable learning rate vs width in SP and muP (TP4 Section 1 figure), with fitted exponents.

    \b
    Examples:
      infwidth experiment max-lr --preset cpu-small
      infwidth experiment max-lr --preset cpu-seeds --out-dir runs/max_lr_seeds
      infwidth experiment max-lr --preset cpu-small --lr-step 0.5   # refine the grid, reusing finished runs
      infwidth experiment max-lr --preset paper --device cuda --out-dir results/max_lr_paper
      infwidth experiment max-lr --preset tiny --out-dir /tmp/max_lr --json
    """
    from tqdm import tqdm

    from infwidth.cli import estimates
    from infwidth.experiments.max_lr import config_for, run
    from infwidth.io import refuse_overwrite
    from infwidth.resources import check
    from infwidth.viz.max_lr import plot_max_lr, plot_max_lr_vs_width

    cfg = config_for(preset_name, widths=widths, n_train=n_train, epochs=epochs,
                     data_dir=None if data_dir is None else str(data_dir), source=source,
                     cache=None if cache_dir is None else str(cache_dir), device=device, out_dir=str(out_dir),
                     resume=resume, seeds=seeds)
    per_width = sum(len(cfg.log2_lrs[p]) if lr_step is None else
                    estimates.lr_grid_size(max(cfg.log2_lrs[p]) - min(cfg.log2_lrs[p]), lr_step) for p in cfg.params)
    check(estimates.max_lr(cfg.widths, cfg.depth, cfg.n_train, cfg.batch, cfg.epochs, per_width * len(cfg.seeds)),
          force, "use a coarser --lr-step, fewer --widths, --seeds, --n-train or --epochs", device)
    refuse_overwrite(out_dir, ("runs.csv",), resume, force)
    if lr_step is not None:
        grids: dict[str, tuple[float, ...]] = {}
        for p, g in cfg.log2_lrs.items():
            k = round((max(g) - min(g)) / lr_step)
            grids[p] = tuple(min(g) + i * lr_step for i in range(k + 1))
        cfg.log2_lrs = grids
    total = len(cfg.params) * len(cfg.widths) * len(cfg.seeds)
    bar = tqdm(total=total, desc="max-lr (param, width, seed)", disable=as_json)

    def progress(done: int, _total: int, row: dict[str, object]) -> None:
        bar.update(done - 1 - bar.n)
        bar.set_postfix_str(f"{row['param']} n={row['width']} seed={row.get('seed')} log2 lr={row['log2_lr']} "
                            f"{row['status']}")

    result = run(cfg, progress=progress)
    bar.close()
    png = plot_max_lr(result.runs, result.exponents, Path(out_dir) / "max_lr.png", cfg.params)
    result.files["png"] = str(png)
    result.files["png_vs_width"] = str(plot_max_lr_vs_width(result.max_lr, result.exponents,
                                                            Path(out_dir) / "max_lr_vs_width.png", cfg.params))
    if as_json:
        print_json({"preset": preset_name, "max_lr": result.max_lr, "exponents": result.exponents,
                    "files": result.files})
        return
    rows = [[m["param"], str(m["width"]), str(m.get("seed", 0)), f"{m['log2_max_stable']:+.3f}",
             "-" if m["log2_first_diverged"] is None else f"{m['log2_first_diverged']:+.3f}",
             f"{m['log2_max_lr_estimate']:+.2f}" + (" (censored)" if m["censored"] else "")] for m in result.max_lr]
    print_table("max stable learning rate", ["param", "width", "seed", "log2 max stable", "log2 first diverged",
                                             "log2 estimate"], rows)
    erows = [[p, f"{e['slope']:+.3f}", f"[{e['ci_low']:+.3f}, {e['ci_high']:+.3f}]", str(e["n_widths"]),
              f"{e['large_slope']:+.3f} [{e['large_ci_low']:+.3f}, {e['large_ci_high']:+.3f}]",
              f"{e['theory']:+.0f}"] for p, e in result.exponents.items()]
    print_table("fitted exponent of the max LR vs width",
                ["param", "measured", "95% CI", "widths", "widths >= 1024 (95% CI)", "theory"], erows)
    info("wrote " + ", ".join(result.files.values()))
