"""The coordinate-check table of issue 12: six third-party-style models (tests/zoo.py) at their own inits,
muP + Adam and SP + one global Adam learning rate -> worst hidden slope, logits slope, verdict.

    python scripts/coordcheck_zoo.py --out results/coordcheck_zoo

Each (model, parametrization) is one ``infwidth.scaling.coordcheck.coord_check_model`` run, the same as
``infwidth coordcheck --model tests/zoo.py:NAME --parametrization P --widths W --seeds 2 --steps 3``; its
summary is saved as ``OUT/NAME_P.json`` (and its figure as ``OUT/NAME_P.png``), and finished runs are reused
on a rerun (``--force`` redoes the chosen ones). The table is written to ``OUT.md`` and ``OUT.csv``; it has every
saved run under OUT, so ``--models``/``--params`` redo a part without dropping the other rows.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import zoo  # noqa: E402
from infwidth.io import read_json, write_csv, write_json  # noqa: E402
from infwidth.scaling.coordcheck import coord_check_model  # noqa: E402
from infwidth.viz.coordcheck_model import plot_model_coordcheck  # noqa: E402

WIDTHS = {"resnet": (16, 32, 64, 128)}  # channels; its second stage has 2 x width
DEFAULT_WIDTHS = (64, 128, 256, 512)
PARAMS = (("mup", "muP + Adam"), ("sp-global", "SP + one global Adam LR"))


def _fmt(slope: float, ci: list[float] | None) -> str:
    if not math.isfinite(slope):
        return "-"
    return f"{slope:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else f"{slope:+.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/coordcheck_zoo"))
    ap.add_argument("--models", default=",".join(sorted(zoo.FACTORIES)))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--params", default=",".join(p for p, _ in PARAMS), help="run only these parametrizations")
    ap.add_argument("--force", action="store_true", help="redo finished runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    chosen = args.models.split(",")
    for name in sorted(set(zoo.FACTORIES) | set(chosen)):
        widths = WIDTHS.get(name, DEFAULT_WIDTHS)
        for param, label in PARAMS:
            path = args.out / f"{name}_{param}.json"
            run = name in chosen and param in args.params.split(",")
            if not run and not path.is_file():
                continue
            if run and (args.force or not path.is_file()):
                r = coord_check_model(zoo.FACTORIES[name], widths, parametrization=param, seeds=args.seeds,
                                      steps=args.steps, spec=f"tests/zoo.py:{name}")
                write_json(path, r.to_json())
                plot_model_coordcheck(r, path.with_suffix(".png"))
                print(f"{name} {param}: {r.summary()}", flush=True)
            res = read_json(path)
            t = res["table_row"]
            init = next((f for f in res["fits"] if f["module"] == t["logits_module"] and f["step"] == 0), None)
            rows.append({"model": name, "parametrization": label, "widths": ",".join(map(str, res["widths"])),
                         "worst_hidden_module": t["worst_hidden_module"],
                         "worst_hidden_slope": _fmt(t["worst_hidden_slope"], t["worst_hidden_ci"]),
                         "logits_slope": _fmt(t["logits_slope"], t["logits_ci"]),
                         "logits_init_slope": "-" if init is None else
                         _fmt(init["slope"], [init["ci_low"], init["ci_high"]]) + f" ({init['predicted']})",
                         "verdict": t["verdict"],
                         "summary": res["summary"]})
    write_csv(args.out.with_suffix(".csv"), rows)
    cmd = "python scripts/coordcheck_zoo.py --out " + str(args.out) + (
        f" --seeds {args.seeds}" if args.seeds != 2 else "") + (f" --steps {args.steps}" if args.steps != 3 else "")
    lines = [f"<!-- produced by: {cmd} -->", "", "# Coordinate check on six models at their own inits", "",
             f"Command: `{cmd}` (tests/zoo.py models; {args.seeds} seeds, {args.steps} Adam steps, lr 1e-3, "
             "base width = smallest width). Slopes of log2 RMS against log2 width of the change of each module's "
             "output after the last step shown (the last step for muP; the first step for SP, where only the first "
             "step is predicted), with 95% CIs; the worst hidden module is the one farthest from 0 "
             "(width-independent). Logits at init: the slope of the logits' RMS at initialization with its prediction "
             "(muP n^{-1/2}; a band up to 0 when the readout has a nonzero bias; SP n^0).", "",
             "| model | parametrization | widths | worst hidden slope (module) | logits slope | logits at init "
             "(predicted) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parametrization']} | {r['widths']} | {r['worst_hidden_slope']} "
                     f"({r['worst_hidden_module']}) | {r['logits_slope']} | {r['logits_init_slope']} "
                     f"| {r['verdict']} |")
    lines += ["", "Verdicts in full:", ""] + [f"* {r['model']}, {r['parametrization']}: {r['summary']}" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
