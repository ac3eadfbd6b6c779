"""Figure 4 experiment (small): limit curves are exact, outputs are written, resume reuses cells."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from infwidth.experiments.fig4 import Fig4Config, _data, run
from infwidth.limits.linear_network import corollary_6_2


def test_fig4_small(tmp_path: Path) -> None:
    cfg = Fig4Config(widths=(64,), n_seeds=3, out_dir=str(tmp_path), progress=False)
    res = run(cfg)
    for name in ("fig4.csv", "fig4_errors.csv", "fig4.png"):
        assert (tmp_path / name).stat().st_size > 0
    rows = list(csv.DictReader(open(tmp_path / "fig4.csv")))
    lim = [r for r in rows if r["builder"] == "depth 1" and r["phi"] == "x" and r["width"] == "inf"]
    xs, ys = _data(cfg, cfg.steps["x"])
    f_ref, _ = corollary_6_2(xs, ys, lr=cfg.lr["x"])
    np.testing.assert_allclose([float(r["f_mean"]) for r in lim], f_ref, atol=1e-12)
    assert all(float(r["loss_mean"]) == 0.5 for r in rows if r["width"] == "inf" and r["t"] == "0")
    assert len(res["errors"]) == 6
    again = run(cfg)  # resumes from the checkpoint: identical numbers
    assert again["errors"] == res["errors"]
