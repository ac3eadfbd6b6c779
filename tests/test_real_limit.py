"""``infwidth experiment real-limit``: the pipeline on the tiny preset, resume/force, bad inputs, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _cli import run_in_process
from infwidth.data.paths import candidate_data_dirs
from infwidth.errors import InfwidthError
from infwidth.experiments.real_limit import TaskData, cell_keys, load_task, preset_config, run
from infwidth.experiments.real_limit_report import claim_sentences

HAVE_MNIST = any((d / "mnist" / "mnist.npz").is_file() for d in candidate_data_dirs())


def _synthetic(cfg, seed: int = 0) -> TaskData:  # type: ignore[no-untyped-def]
    """Two Gaussian classes in d dimensions (|x| = sqrt(d)), for runs without the shared data."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(cfg.d)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        x = rng.standard_normal((n, cfg.d)) + 0.8 * y[:, None] * mu
        return x * np.sqrt(cfg.d) / np.linalg.norm(x, axis=1, keepdims=True), y

    return TaskData(*draw(cfg.n_train), *draw(cfg.n_val), *draw(cfg.n_test), "synthetic two Gaussians")


def test_tiny_run_writes_every_output_and_resumes(tmp_path: Path) -> None:
    cfg = preset_config("tiny")
    data = _synthetic(cfg)
    s = run(cfg, tmp_path, data=data, progress=False)
    for name in ("real_limit_table.md", "real_limit_table.csv", "real_limit_errors.csv", "real_limit.csv",
                 "real_limit.png", "checkpoint.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    readings = 1 + len(cfg.widths) + 2
    assert len(s["table"]) == len(cfg.models) * readings
    assert len(s["errors"]) == len(cfg.models) * len(cfg.widths)
    assert all(0.0 <= r["test_acc"] <= 1.0 and np.isfinite(r["test_loss"]) for r in s["table"])
    assert len(claim_sentences(s)) == 3 * len(cfg.models)
    cells = json.loads((tmp_path / "checkpoint.json").read_text())["cells"]
    assert set(cells) == set(cell_keys(cfg))
    lim = cells[f"{cfg.models[0]}|limit"]
    assert lim["cost"]["family_members"] and max(max(r) for r in lim["f_eval_se"]) > 0
    with pytest.raises(InfwidthError, match="--resume"):
        run(cfg, tmp_path, data=data, progress=False)
    again = run(cfg, tmp_path, data=data, resume=True, progress=False)  # nothing left to compute
    assert again["table"] == s["table"]
    with pytest.raises(InfwidthError, match="different settings"):
        run(preset_config("tiny", lr=0.25), tmp_path, data=data, resume=True, progress=False)


def test_the_limit_is_the_large_width_limit_on_the_task(tmp_path: Path) -> None:
    """Finite widths approach the computed limit: the per-seed test-logit error shrinks from width 64 to 1024."""
    cfg = preset_config("tiny", widths=(64, 1024), seeds=4, particles=40_000, models=("2-tanh",), steps=6)
    s = run(cfg, tmp_path, data=_synthetic(cfg, 1), progress=False)
    e = {r["width"]: r for r in s["errors"]}
    assert e[1024]["rms_error"] < 0.6 * e[64]["rms_error"]  # n^{-1/2}: 0.25 expected


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not at ../shared/data (or $INFWIDTH_DATA)")
def test_task_data_are_balanced_projected_and_disjoint() -> None:
    cfg = preset_config("tiny")
    a, b = load_task(cfg), load_task(cfg)
    assert a.x_train.shape == (cfg.n_train, cfg.d) and a.x_test.shape == (cfg.n_test, cfg.d)
    np.testing.assert_allclose(np.linalg.norm(a.x_train, axis=1), np.sqrt(cfg.d))
    assert abs(a.y_train.sum()) <= 1 and set(np.unique(a.y_test)) == {-1.0, 1.0}
    np.testing.assert_array_equal(a.x_val, b.x_val)  # fixed by data_seed
    assert not any(np.allclose(v, t) for v in a.x_val for t in a.x_train)


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not at ../shared/data (or $INFWIDTH_DATA)")
def test_cli_tiny_preset(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_in_process(["experiment", "real-limit", "--preset", "tiny", "--out", str(out),
                                        "--json"], tmp_path, alarm_s=900)
    assert code == 0, err
    obj = json.loads(stdout)
    assert {r["reading"] for r in obj["table"]} == {"limit", "width 64", "width 256", "NTK", "NNGP"}
    md = (out / "real_limit_table.md").read_text()
    assert md.startswith("<!-- produced by: infwidth experiment real-limit --preset tiny")
    code, _, err = run_in_process(["experiment", "real-limit", "--preset", "tiny", "--out", str(out)], tmp_path)
    assert code == 2 and err.startswith("error:") and "--resume" in err
    res = tmp_path / "results"
    res.mkdir()
    (res / "real_limit.png").write_bytes(b"finished")
    code, _, err = run_in_process(["experiment", "real-limit", "--preset", "tiny", "--out", str(tmp_path / "new"),
                                   "--results", str(res)], tmp_path)
    assert code == 2 and err.startswith("error:") and "--force" in err, err
    assert not (tmp_path / "new").exists() and (res / "real_limit.png").read_bytes() == b"finished"


@pytest.mark.parametrize("args, words", [
    (["--classes", "4"], "two different labels"),
    (["--classes", "4,4"], "two different labels"),
    (["--classes", "4,12"], "out of range"),
    (["--models", "2-bogus"], "DEPTH-PHI"),
    (["--models", "0-tanh"], "DEPTH-PHI"),
    (["--steps", "0"], "out of range"),
    (["--batch", "100000"], "cannot exceed"),
    (["--lr", "nan"], "lr"),
    (["--particles", "1000000000000"], "memory"),
    (["--replicas", "1"], "out of range"),
    (["--preset", "huge"], "huge"),
    (["--widths", "0"], "width"),
])
def test_bad_inputs_are_one_sentence(tmp_path: Path, args: list[str], words: str) -> None:
    code, out, err = run_in_process(["experiment", "real-limit", "--out", str(tmp_path / "o"), *args], tmp_path)
    assert code == 2, (code, err)
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err, err
    assert words.lower() in err.lower(), err
    assert not (tmp_path / "o").exists()
