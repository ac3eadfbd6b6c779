"""CLI: ``tour``, the main job on embedded defaults (README's first command)."""

from __future__ import annotations

from pathlib import Path

import click

from infwidth.cli import cli
from infwidth.cli import options as o
from infwidth.cli._common import info


@cli.command("tour")
@click.option("--out", type=o.OutputDir(), default=Path("out/tour"),
              show_default=True, help="Directory for the tour's figures and tables.")
def tour_cmd(out: Path) -> None:
    """A short tour on embedded defaults (about a minute on 2 cores).

    Table 1; classify muP and PyTorch-default SP; coordinate-check muP at finite widths; compute
    muP's infinite-width limit (Tensor Programs) and compare it with finite widths; the phase diagram.
    """
    from infwidth.cli import run_args

    out.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, list[str]]] = [
        ("Table 1 of TP4, computed exactly", ["table1"]),
        ("Classify muP at depth 3", ["classify", "--parametrization", "mup", "--depth", "3"]),
        ("Classify SP as PyTorch ships it (c = 0): unstable", ["classify", "--parametrization", "sp", "--depth", "3"]),
        ("Check muP at finite width: measured vs predicted exponents",
         ["coordcheck", "--parametrization", "mup", "--depth", "2", "--widths", "6..10", "--seeds", "2",
          "--out-dir", str(out), "--name", "coordcheck_mup"]),
        ("Infinite-width limit of muP training (Tensor Programs) vs finite widths",
         ["limit", "compare", "--depth", "2", "--phi", "tanh", "--widths", "128,512,2048", "--seeds", "8",
          "--out", str(out)]),
        ("Phase diagram (exact slices)", ["phase-diagram", "--out", str(out / "phase_diagram.png")]),
    ]
    for title, args in steps:
        info(f"\n=== {title}: infwidth {' '.join(args)}")
        run_args(args)
    info(f"\ntour done; figures in {out}")
