"""Transfer-experiment analysis: optimum refinement and drift regression (closed forms), one tiny trial."""

import math
from pathlib import Path

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.experiments.transfer import analyse, drift, optimum, run_transfer_trial, write_report


def test_parabola_optimum_is_exact_for_quadratic_loss():
    lrs = [2.0 ** k for k in range(-10, -2)]
    loss = [(math.log2(x) + 6.3) ** 2 for x in lrs]
    lo, inner = optimum(lrs, loss)
    assert inner and lo == pytest.approx(-6.3, abs=1e-9)


def test_optimum_at_the_edge_is_flagged_and_nan_is_worst():
    lo, inner = optimum([1e-3, 1e-2, 1e-1], [1.0, 2.0, float("nan")])
    assert not inner and lo == pytest.approx(math.log2(1e-3))


def test_drift_recovers_slope_and_standard_error():
    widths = [64, 128, 256, 512, 1024]
    s, se = drift(widths, [-1.0 * math.log2(w) + 3 for w in widths])
    assert s == pytest.approx(-1.0) and se == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    slopes = [drift(widths, list(0.5 * np.log2(widths) + rng.normal(0, 0.3, 5)))[0] for _ in range(400)]
    _, se1 = drift(widths, list(0.5 * np.log2(widths) + rng.normal(0, 0.3, 5)))
    assert np.mean(slopes) == pytest.approx(0.5, abs=0.03)
    assert np.std(slopes) == pytest.approx(0.3 / math.sqrt(10), rel=0.15)  # OLS: sigma / sqrt(sum (x - xbar)^2)
    assert 0 < se1 < 0.3


def test_analyse_and_report(tmp_path: Path):
    rows = [{"parametrization": "mup", "optimizer": "adam", "width": w, "lr": lr,
             "loss": (math.log2(lr) + 7) ** 2} for w in (64, 128, 256) for lr in (2 ** -9, 2 ** -7, 2 ** -5)]
    (a,) = analyse(rows)
    assert a["drift_per_doubling"] == pytest.approx(0.0, abs=1e-9) and a["lr_opt"][0] == pytest.approx(2 ** -7)
    import json

    (tmp_path / "transfer_toy.json").write_text(json.dumps(
        {"task": "toy", "steps": 1, "batch": 1, "base_width": 64, "seeds": [0], "lrs": [1], "analysis": [a]}))
    text = write_report(tmp_path).read_text()
    assert "| mup | adam | 64: 0.0078, 128: 0.0078, 256: 0.0078 |" in text and "0.00 ± 0.00" in text


def test_tiny_cifar_trial():
    pytest.importorskip("PIL")
    try:
        res = run_transfer_trial({"task": "cifar-mlp", "parametrization": "mup", "optimizer": "adam-atan2",
                                  "width": 16, "base_width": 16, "lr": 1e-3, "seed": 0, "steps": 3, "batch": 8})
    except InfwidthError as e:  # the shared data directory is absent on this machine
        pytest.skip(str(e))
    assert not res["diverged"] and 1.5 < res["loss"] < 3.0  # ~ln(10) = 2.30 after 3 tiny steps


def test_task_registry_matches_the_cli():
    from infwidth.cli.scaling_cmds import TRANSFER_TASKS
    from infwidth.experiments.transfer import TASKS

    assert tuple(TASKS) == TRANSFER_TASKS
    with pytest.raises(InfwidthError, match="unknown task"):
        run_transfer_trial({"task": "nope", "parametrization": "mup", "optimizer": "adam", "width": 16,
                            "base_width": 16, "lr": 1e-3, "seed": 0, "steps": 1, "batch": 2})


@pytest.mark.parametrize("parametrization", ["mup", "sp-global"])
def test_tiny_hf_gpt2_trial(parametrization: str):
    """The hf-gpt2 task: a tied Hugging Face GPT-2 with its own init trains on text8 characters in both
    parametrizations (loss near ln 27 = 3.30 after 3 small steps)."""
    pytest.importorskip("transformers")
    from infwidth.data.text8 import resolve_data_file
    from infwidth.experiments.transfer import TEXT
    from infwidth.experiments.transfer_gpt2 import make_gpt2

    m = make_gpt2(32)
    assert m.lm_head.weight is m.transformer.wte.weight
    try:
        resolve_data_file(TEXT, None)
    except InfwidthError as e:  # the shared data directory is absent on this machine
        pytest.skip(str(e))
    res = run_transfer_trial({"task": "hf-gpt2", "parametrization": parametrization, "optimizer": "adam",
                              "width": 32, "base_width": 16, "lr": 1e-3, "seed": 0, "steps": 3, "batch": 4})
    assert not res["diverged"] and 2.5 < res["loss"] < 4.0


def _two_seed_rows(drop: tuple[int, float, int] | None = None) -> list[dict]:
    """Exact parabolas in log2 lr: seed 0's optimum stays at 2^-7, seed 1's moves by +1/2 per doubling."""
    rows = []
    for k, w in enumerate((64, 128, 256)):
        for seed, centre in ((0, -7.0), (1, -7.0 + 0.5 * k)):
            for e in range(-10, -3):
                if drop != (w, 2.0 ** e, seed):
                    rows.append({"task": "toy", "parametrization": "mup", "optimizer": "adam", "width": w,
                                 "lr": 2.0 ** e, "seed": seed, "steps": 1, "batch": 1, "base_width": 64,
                                 "loss": (e - centre) ** 2, "diverged": False})
    return rows


def test_per_seed_drift_and_its_error_bar():
    """Per-seed fits: drifts 0 and 1/2 (mean 1/4, s.e.m. std/sqrt 2 = 1/4); the seed-mean curve (equal
    curvatures) has its optimum midway, drift 1/4 exactly; a width with a missing trial leaves the fit."""
    (a,) = analyse(_two_seed_rows(), [2.0 ** e for e in range(-10, -3)], [0, 1])
    assert a["drift_seeds"] == pytest.approx([0.0, 0.5], abs=1e-9)
    assert a["drift_seed_sem"] == pytest.approx(0.25) and a["drift_per_doubling"] == pytest.approx(0.25)
    assert a["lr_opt_seeds"][1] == pytest.approx([2 ** -7, 2 ** -6.5, 2 ** -6]) and a["incomplete"] == []
    (b,) = analyse(_two_seed_rows(drop=(256, 2.0 ** -5, 1)), [2.0 ** e for e in range(-10, -3)], [0, 1])
    assert b["widths"] == [64, 128] and b["incomplete"] == [256]
    assert b["drift_seeds"] == pytest.approx([0.0, 0.5], abs=1e-9)


def test_report_from_store_without_training(tmp_path: Path):
    """The write-up of a store: grid read from its trials, partial sweep said so, a command that resumes the
    same trials (learning rates written in full), both figures."""
    from infwidth.experiments.transfer import report_from_store
    from infwidth.sweep import SweepStore

    store = SweepStore(tmp_path / "transfer_toy.sqlite")
    rows = _two_seed_rows(drop=(256, 2.0 ** -5, 1))
    for r in rows:
        store.put({k: v for k, v in r.items() if k not in ("loss", "diverged")},
                  {"loss": r["loss"], "diverged": False})
    res = report_from_store(tmp_path / "transfer_toy.sqlite", tmp_path / "out")
    assert res["trials"] == len(rows) == res["expected_trials"] - 1
    text = (tmp_path / "out" / "transfer.md").read_text()
    assert "**Partial**: 41 of 42 trials" in text and "(incomplete: 256)" in text
    assert "--lrs 0.0009765625,0.001953125," in text and "--seeds 0,1" in text
    assert "+0.25 ± 0.25 (+0.00, +0.50)" in text
    assert (tmp_path / "out" / "transfer_toy_adam_optima.png").stat().st_size > 0
    with pytest.raises(InfwidthError, match="no finished trials"):
        report_from_store(tmp_path / "empty.sqlite", tmp_path / "out")
