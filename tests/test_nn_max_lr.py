"""Max-LR experiment: smoke test on a tiny grid (synthetic data), resume, figure, and the width scaling."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.experiments import max_lr
from infwidth.experiments.max_lr import config_for, run


def _synthetic(n_train: int, d: int, seed: int = 0) -> max_lr.Data:
    """Gaussian inputs, labels of a random linear teacher (10 classes)."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((d, 10))
    xs = rng.standard_normal((n_train + 200, d)).astype(np.float32)
    ys = (xs @ teacher).argmax(1).astype(np.int64)
    return xs[:n_train], ys[:n_train], xs[n_train:], ys[n_train:]


def test_tiny_grid_smoke_resume_and_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_for("tiny", out_dir=str(tmp_path), widths=(16, 32, 64), n_train=128, n_test=64, keep_below=1,
                     log2_lrs={"sp": (-8.0, -4.0, 0.0, 4.0), "mup": (-8.0, -4.0, 0.0, 4.0)})
    data = _synthetic(128, 12)
    res = run(cfg, data=data)
    assert {r["status"] for r in res.runs} <= {"ok", "diverged"}
    assert any(r["status"] == "diverged" for r in res.runs) and any(r["status"] == "ok" for r in res.runs)
    for r in res.runs:  # accuracy only for stable runs, and it is a fraction
        assert (r["status"] == "ok") == np.isfinite(r["test_acc"])
    assert (tmp_path / "runs.csv").is_file() and (tmp_path / "summary.json").is_file()
    # the largest LR (2^4) blows up in both parametrizations at every width
    assert all(r["status"] == "diverged" for r in res.runs if r["log2_lr"] == 4.0)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("resume retrained a finished run")

    monkeypatch.setattr(max_lr, "train_one", no_training)
    again = run(cfg, data=data)
    assert again.max_lr == res.max_lr
    from infwidth.viz.max_lr import plot_max_lr

    png = plot_max_lr(again.runs, again.exponents, tmp_path / "max_lr.png")
    assert png.stat().st_size > 10_000
    with pytest.raises(InfwidthError, match="different configuration"):
        run(replace(cfg, n_train=64), data=data)


@pytest.mark.slow
def test_max_lr_scales_like_one_over_width_in_sp_and_constant_in_mup(tmp_path: Path) -> None:
    """Theory (Thm 3.3 / Table 1): SP's max LR ~ n^{-1}, muP's ~ n^0 (low-dimensional inputs, half-octave grid)."""
    grid = tuple(v / 2 for v in range(-24, 9))
    cfg = config_for("tiny", out_dir=str(tmp_path), widths=(64, 256, 1024), n_train=160, n_test=32, batch=16,
                     keep_below=0, log2_lrs={"sp": grid, "mup": grid})
    res = run(cfg, data=_synthetic(160, 8, seed=1))
    sp, mup = res.exponents["sp"], res.exponents["mup"]
    assert sp["n_widths"] == 3 and mup["n_widths"] == 3
    # measured here: SP -1.375, muP -0.25 (grid resolution 1/2 octave, 3 widths): -1 and 0 are well separated
    assert -1.7 < sp["slope"] < -0.7, res.max_lr
    assert -0.5 < mup["slope"] < 0.5, res.max_lr


def test_bisection_finds_the_threshold_and_fits_the_exponent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a known stability threshold log2 eta* = -log2(width) + 0.3 (+ a seed offset), the bisection
    brackets eta* to 1/8 octave from a one-octave grid, and the fitted exponent over seeds is -1."""
    def fake(pname: str, width: int, log2_lr: float, data: object, cfg: object, seed: int) -> dict[str, object]:
        star = -np.log2(width) + 0.3 + 0.05 * seed
        status = "ok" if log2_lr <= star else "diverged"
        return {"param": pname, "width": width, "seed": seed, "log2_lr": log2_lr, "lr": 2.0**log2_lr,
                "status": status, "init_loss": 1.0, "final_train_loss": 0.5, "test_acc": 0.1, "steps": 1,
                "seconds": 0.0}

    monkeypatch.setattr(max_lr, "train_one", fake)
    cfg = config_for("tiny", out_dir=str(tmp_path), widths=(64, 128, 256, 512), params=("sp",), seeds=(0, 1, 2),
                     search="bisect", bisect_steps=3, log2_lrs={"sp": tuple(float(v) for v in range(-14, 1))})
    res = run(cfg, data=_synthetic(8, 4))
    assert len(res.max_lr) == 12 and {m["seed"] for m in res.max_lr} == {0, 1, 2}
    for m in res.max_lr:
        star = -np.log2(m["width"]) + 0.3 + 0.05 * m["seed"]
        assert m["log2_max_stable"] <= star < m["log2_first_diverged"]
        assert m["log2_first_diverged"] - m["log2_max_stable"] == 1 / 8
    runs_per_point = len(res.runs) / 12
    assert runs_per_point < 12  # grid from the top to the first stable point, then 3 bisections
    e = res.exponents["sp"]
    assert e["n_points"] == 12 and e["ci_low"] <= -1.0 <= e["ci_high"] and abs(e["slope"] + 1) < 0.05
    monkeypatch.setattr(max_lr, "train_one", None)  # resume: nothing is retrained
    assert run(cfg, data=_synthetic(8, 4)).max_lr == res.max_lr
