"""The any-model mode of ``infwidth coordcheck`` (``--model PACKAGE.MODULE:FACTORY``): run, write, print.

Not a command module: ``nn_cmds.coordcheck_cmd`` calls :func:`run_model_check` when ``--model`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infwidth.cli import options as o
from infwidth.cli._common import info, print_json, print_table
from infwidth.errors import InfwidthError
from infwidth.parametrization.rational import fmt


def _check_model(spec: str) -> None:
    from infwidth.scaling.factory import load_factory

    load_factory(spec)


def _check_data(text: str) -> None:
    from infwidth.scaling.probe import parse_data

    parse_data(text)


def _check_batch_file(path: str) -> None:
    load_batch(Path(path))


MODEL = o.Spec(_check_model, "model factory", "infwidth.scaling.models:mlp")
DATA = o.Spec(_check_data, "data spec", "auto")
BATCH_FILE = o.Spec(_check_batch_file, "batch file", "batch.pt")

#: Defaults of the model mode where they differ from the AbcMLP mode's.
MODEL_DEFAULTS: dict[str, Any] = {"widths": (64, 128, 256, 512), "seeds": 2, "dtype": "float32", "batch": 8}
#: Options of the AbcMLP mode only (name -> flag), refused with --model.
MLP_ONLY = {"depth": "--depth", "a": "--a", "b": "--b", "c": "--c", "phi": "--phi", "d_in": "--d-in",
            "d_out": "--d-out", "build_a": "--build-a", "build_b": "--build-b", "build_c": "--build-c"}
#: Options of the model mode only, refused without --model.
MODEL_ONLY = {"optimizer": "--optimizer", "base_width": "--base-width", "data": "--data",
              "batch_file": "--batch-file", "loss": "--loss", "alignment": "--alignment"}
#: Parametrization names of each mode.
MODEL_NAMES = ("sp", "ntp", "mfp", "mup", "sp-global")  # canonical names (aliases: ntk, mf, ...)


def check_mode_options(model: str | None, parametrization: str | None, given: dict[str, Any]) -> None:
    """One error sentence when an option or a parametrization name of the other mode is given."""
    wrong = MLP_ONLY if model is not None else MODEL_ONLY
    bad = [flag for key, flag in wrong.items() if given.get(key) is not None]
    if bad:
        if model is not None:
            raise InfwidthError(f"{', '.join(bad)} appl{'ies' if len(bad) == 1 else 'y'} to the built-in MLP "
                                "check only; with --model the model's own layers are checked.")
        raise InfwidthError(f"{', '.join(bad)} need{'s' if len(bad) == 1 else ''} --model PACKAGE.MODULE:FACTORY "
                            "(the any-model check).")
    if parametrization is None:
        return
    if model is not None and parametrization not in MODEL_NAMES:
        raise InfwidthError(f"--parametrization {parametrization!r} is a TP4 preset of the built-in MLP check; with "
                            f"--model use one of: {', '.join(MODEL_NAMES)}.")
    from infwidth.parametrization.presets import PRESETS

    if model is None and parametrization not in PRESETS:
        raise InfwidthError(f"--parametrization {parametrization!r} needs --model (the any-model check); the "
                            f"built-in MLP check takes the TP4 presets: {', '.join(PRESETS)}.")


def model_estimate(factory: Any, spec: str, widths: list[int], runs_per_width: int, batch: int,
                   steps: int) -> Any:
    """Memory and work of the check from the factory's parameter count (three small models), or None.

    Memory: the widest model's parameters 8 times (model, gradients, 2 Adam moments, the recorded outputs);
    work: 6 flops per parameter per token (16 per example) per forward-backward, steps + 2 passes per run.
    """
    from infwidth.resources import F32, Estimate
    from infwidth.scaling.factory import parameter_count

    count = parameter_count(factory, spec)
    if count is None:
        return None
    what = f"the coordinate check of {spec} up to width {max(widths)} ({runs_per_width} runs per width)"
    flops = sum(6.0 * count(w) * batch * 16 * (steps + 2) * runs_per_width for w in widths)
    return Estimate(what, 8.0 * F32 * count(max(widths)), flops)


def load_batch(path: Path) -> Any:
    """A batch file written with ``torch.save``: a tensor, or a dict with "inputs" (and "labels")."""
    import torch

    try:
        found = path.is_file()
    except OSError as e:  # a name too long for the file system, ...
        raise InfwidthError(f"--batch-file {str(path)[:60]!r}... is not a usable path ({e.strerror}); give the "
                            "path of a torch.save file.") from None
    if not found:
        raise InfwidthError(f"--batch-file {str(path)!r} does not exist; write one with torch.save(batch, PATH).")
    try:
        batch = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        raise InfwidthError(f"--batch-file {str(path)!r} is not a readable torch.save file ({type(e).__name__}); "
                            "save a tensor or {'inputs': ..., 'labels': ...} with torch.save.") from None
    if isinstance(batch, dict) and "inputs" not in batch:
        raise InfwidthError(f"--batch-file {str(path)!r} holds a dict without 'inputs'; save "
                            "{'inputs': tensor, tuple or dict of model arguments, 'labels': tensor (optional)}.")
    if not isinstance(batch, (dict, torch.Tensor)):
        raise InfwidthError(f"--batch-file {str(path)!r} holds a {type(batch).__name__}; save a tensor or a dict "
                            "{'inputs': ..., 'labels': ...}.")
    return batch


def _module_rows(result: Any) -> list[list[str]]:
    """One row per judged module: kind, slope at init, of the change at t=1 and at the shown step, verdict."""
    by: dict[str, dict[int, Any]] = {}
    for f in result.fits:
        by.setdefault(f.module, {})[f.step] = f
    steps = sorted({0, 1, result.shown_step})
    rows = []
    for module, kind in result.kinds.items():
        fits = by.get(module, {})
        if kind == "constant" or not fits:
            continue
        cells = ["-" if fits.get(s) is None else f"{fits[s].slope:+.2f}" for s in steps]
        verdicts = {f.verdict for f in fits.values()} - {"-"}
        verdict = "FAIL" if "FAIL" in verdicts else "unclear" if "unclear" in verdicts else \
            "pass" if verdicts else "-"
        rows.append([module, kind, *cells, verdict])
    return rows


def _predicted_line(result: Any) -> str:
    p = result.prediction
    parts = []
    for s in sorted({0, 1, result.shown_step}):
        h, g = p.band("hidden", s), p.band("logits", s)
        if h is not None and g is not None:
            hs = fmt(h[0]) if h[0] == h[1] else f"[{fmt(h[0])}, {fmt(h[1])}]"
            parts.append(f"{'init' if s == 0 else f't={s}'}: hidden {hs}, logits {fmt(g[0])}")
    extra = "".join(f"; {m} at init: up to 0 ({why})" for m, why in result.offsets.items())
    return "predicted exponents " + "; ".join(parts) + extra


def run_model_check(model: str, parametrization: str | None, optimizer: str | None, widths: list[int],
                    base_width: int | None, seeds: int, steps: int, lr: float | None, batch_size: int,
                    data: str | None, batch_file: str | None, loss: str | None, alignment: str | None,
                    tol: float | None, dtype: str, device: str | None, out_dir: Path, name: str | None,
                    force: bool, as_json: bool) -> bool:
    """Run the any-model coordinate check, write CSV/JSON/PNG, print; returns ``result.ok``."""
    import torch
    from tqdm import tqdm

    from infwidth.io import write_csv, write_json
    from infwidth.resources import check
    from infwidth.scaling.coordcheck import TOL, coord_check_model
    from infwidth.scaling.factory import load_factory
    from infwidth.viz.coordcheck_model import plot_model_coordcheck

    factory = load_factory(model)
    est = model_estimate(factory, model, [*widths, base_width or min(widths)], seeds, batch_size, steps)
    if est is not None:
        check(est, force, "use smaller --widths, --seeds, --batch or --steps", device)
    batch = load_batch(Path(batch_file)) if batch_file is not None else None
    param = parametrization or "mup"
    stem = name or "coordcheck_" + model.rsplit(":", 1)[-1] + "_" + param.replace("-", "_")
    bars: list[Any] = []  # made at the first finished run, after every input was checked

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="coordcheck", disable=as_json, leave=False))
        bars[0].update(done - bars[0].n)

    result = coord_check_model(factory, widths, parametrization=param, optimizer=optimizer or "adam", lr=lr,
                               steps=steps, seeds=seeds, base_width=base_width, data=data or "auto", batch=batch,
                               batch_size=batch_size, loss=loss or "auto", tol=TOL if tol is None else tol,
                               alignment=alignment or "full", dtype=getattr(torch, dtype), device=device,
                               spec=model, progress=progress)
    for bar in bars:
        bar.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_csv, fit_csv, png = out_dir / f"{stem}_raw.csv", out_dir / f"{stem}.csv", out_dir / f"{stem}.png"
    write_csv(raw_csv, result.records, ["module", "step", "width", "seed", "size"])
    write_csv(fit_csv, [f.row() for f in result.fits])
    summary = result.to_json()
    summary["files"] = {"raw_csv": str(raw_csv), "fits_csv": str(fit_csv), "png": str(png),
                        "json": str(out_dir / f"{stem}.json")}
    write_json(out_dir / f"{stem}.json", summary)
    plot_model_coordcheck(result, png)
    if as_json:
        print_json(summary)
        return result.ok
    t = result.shown_step
    header = ["module", "kind", "init", "change t=1"] + ([] if t == 1 else [f"change t={t}"]) + ["verdict"]
    print_table(f"coordinate check: {model}, {param} + {result.config.optimizer}, lr {result.config.lr:g}, "
                f"widths {','.join(map(str, result.config.widths))} (base {result.config.base_width}), "
                f"{seeds} seed(s), data {result.data}", header, _module_rows(result))
    click.echo(_predicted_line(result))
    click.echo(result.summary())
    info(f"wrote {fit_csv}, {raw_csv}, {png}")
    return result.ok
