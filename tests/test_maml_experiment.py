"""The MAML experiment runner: exact resume after an interruption, CSV per epoch, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infwidth.errors import InfwidthError
from infwidth.experiments.maml import collect, preset_config, run, write_table
from infwidth.io import read_csv


class _Stop(Exception):
    pass


def _cfg(model: str = "limit"):  # type: ignore[no-untyped-def]
    return preset_config("tiny", model=model, epochs=3, batches_per_epoch=2, meta_batch=4, val_tasks=8,
                         test_tasks=16)


def test_resume_after_interruption_is_exact(tmp_path: Path) -> None:
    try:
        full = run(_cfg(), tmp_path / "a")
    except InfwidthError as e:  # pragma: no cover - data not installed
        pytest.skip(str(e))

    def interrupt(it: int, total: int, stats: dict[str, float]) -> None:
        if it == 5:  # inside epoch 3, after the epoch-2 checkpoint
            raise _Stop

    with pytest.raises(_Stop):
        run(_cfg(), tmp_path / "b", progress=interrupt)
    partial = read_csv(tmp_path / "b" / "limit" / "seed0" / "val.csv")
    assert [int(r["epoch"]) for r in partial] == [0, 1, 2]  # epoch 0 = the initialization, validated
    resumed = run(_cfg(), tmp_path / "b", resume=True)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    rows_a = read_csv(tmp_path / "a" / "limit" / "seed0" / "val.csv")
    rows_b = read_csv(tmp_path / "b" / "limit" / "seed0" / "val.csv")
    assert [r["val_accuracy"] for r in rows_a] == [r["val_accuracy"] for r in rows_b]
    assert [r["train_loss"] for r in rows_a] == [r["train_loss"] for r in rows_b]
    # a finished run is reused as is
    assert run(_cfg(), tmp_path / "b", resume=True)["train_s"] == resumed["train_s"]
    rows = write_table(collect(tmp_path / "a", ["limit"]), tmp_path / "res")
    assert rows[0]["model"] == "limit" and (tmp_path / "res" / "maml_accuracy_vs_width.png").stat().st_size > 0
    text = (tmp_path / "res" / "maml_table2.md").read_text()
    assert "66.42" in text and f"s0 {full['test_accuracy']:.2f} (e{full['best_epoch']})" in text


def test_cli_rejects_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from infwidth.cli import main

    with pytest.raises(SystemExit) as e:
        main(["experiment", "maml", "--model", "width:abc", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "unknown model" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["gp-relu", "ntk-relu"])
def test_relu_kernel_depends_on_sigma_w_only_through_the_tuned_pair(kind: str) -> None:
    """tune_kernel fixes sigma_w = 1: (sigma_w, sigma_b, sigma_v) -> (c sigma_w, c sigma_b, sigma_v / c) must leave
    the kernel, so every adapted prediction, unchanged."""
    import torch

    from infwidth.maml.core import MAMLConfig
    from infwidth.maml.learners import Hyper, Learner

    g = torch.Generator().manual_seed(0)
    xs, xq = torch.rand(2, 5, 784, generator=g, dtype=torch.float64), torch.rand(2, 5, 784, generator=g,
                                                                             dtype=torch.float64)
    assert Learner(kind, Hyper(0.1, 1.0, 1.0, 1.0), MAMLConfig()).function is not None
    k1 = Learner(kind, Hyper(0.1, 1.0, 0.7, 1.5), MAMLConfig()).function.kernel(xs[0], xq[0])  # type: ignore[union-attr]
    k2 = Learner(kind, Hyper(0.1, 3.0, 0.7 / 3, 4.5), MAMLConfig()).function.kernel(xs[0], xq[0])  # type: ignore[union-attr]
    k3 = Learner(kind, Hyper(0.1, 1.0, 0.7, 3.0), MAMLConfig()).function.kernel(xs[0], xq[0])  # type: ignore[union-attr]
    assert torch.allclose(k1, k2, rtol=1e-10) and not torch.allclose(k1, k3, rtol=1e-3)


def test_kernel_tuning_and_hyper_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run_cli
    from infwidth.experiments.maml import tune_kernel

    try:
        rows = tune_kernel("gp-linear", [0.5, 2.0], [0.0, 1.0], val_tasks=32)
    except InfwidthError as e:  # pragma: no cover - data not installed
        pytest.skip(str(e))
    accs = [r["val_accuracy"] for r in rows]
    assert len(rows) == 4 and accs == sorted(accs, reverse=True) and all(0 <= a <= 100 for a in accs)
    assert {(r["sigma_v"], r["bias"]) for r in rows} == {(0.5, 0.0), (0.5, 1.0), (2.0, 0.0), (2.0, 1.0)}
    chosen = [r for r in rows if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["val_accuracy"] >= accs[0] - rows[0]["val_se"]
    assert all(r["sigma_v"] >= chosen[0]["sigma_v"] for r in rows if r["val_accuracy"] >= accs[0] - rows[0]["val_se"])
    with pytest.raises(InfwidthError, match="not a kernel"):
        tune_kernel("limit", [1.0], [1.0])
    code, out, _ = run_cli(["experiment", "maml", "--model", "gp-linear", "--sigma-v", "0.5", "--bias", "2",
                            "--preset", "tiny", "--test-tasks", "16", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0
    hyper = json.loads(out)[0]["hyper"]
    assert hyper == {"meta_lr": 0.1, "sigma_u": 1.0, "sigma_v": 0.5, "bias": 2.0}
    code, _, err = run_cli(["experiment", "maml-kernel-tune", "--model", "gp-linear", "--sigma-v", "a,b",
                            "--out", str(tmp_path)], capsys)
    assert code == 2 and "is not a finite number" in err


def _fake_result(model: str, seed: int, acc: float, losses: list[float]) -> dict[str, object]:
    curve = [{"epoch": str(e + 1), "iterations": str(10 * (e + 1)), "train_loss": str(x), "val_accuracy": "0.5"}
             for e, x in enumerate(losses)]
    return {"model": model, "seed": seed, "test_accuracy": acc, "best_epoch": 2, "meta_iterations": 10,
            "test_tasks": 32, "train_s": 1.0, "val_curve": curve,
            "config": {"meta_batch": 4, "val_tasks": 8, "test_steps": 20},
            "hyper": {"meta_lr": 0.1, "sigma_u": 1.0, "sigma_v": 0.03125, "bias": 1.0}}


def test_table_note_leaves_out_diverged_seeds_and_keeps_prose(tmp_path: Path) -> None:
    """The generated note is computed from the non-diverged seeds (the diverged one is named), and a
    rerun replaces only the generated block of maml_table2.md."""
    from infwidth.experiments.maml import aggregate, diverged

    ok, bad = [1.3, 1.0, 0.9], [1.3, 1.2, 1.6e4]
    results = [_fake_result("width:512", 0, 50.0, bad), _fake_result("width:512", 1, 66.0, ok),
               _fake_result("width:512", 2, 66.4, ok), _fake_result("limit", 0, 50.5, bad),
               _fake_result("limit", 1, 66.2, ok), _fake_result("ntk-relu", 0, 52.0, ok)]
    assert diverged(results[0]) and not diverged(results[1])
    rows = {r["model"]: r for r in aggregate(results)}  # type: ignore[arg-type]
    assert rows["width:512"]["accuracy"] == pytest.approx(66.2) and rows["width:512"]["diverged_seeds"] == "0"
    assert rows["width:512"]["accuracy_all_seeds"] == pytest.approx((50 + 66 + 66.4) / 3)
    md = tmp_path / "maml_table2.md"
    md.write_text("Intro by hand.\n")
    write_table(results, tmp_path)  # type: ignore[arg-type]
    text = md.read_text()
    assert text.startswith("Intro by hand.")
    assert "1 of 1 widths are at or below the limit (66.20%)" in text  # 66.2 <= 66.2: non-diverged means
    assert ("diverged seeds, left out of the means below: width:512 (seed 0: diverged at epoch 3, "
            "best-validation epoch 2)") in text
    md.write_text(text + "\n## Hand-written account\nkept\n")
    write_table(results, tmp_path)  # type: ignore[arg-type]
    again = md.read_text()
    assert again.count("BEGIN GENERATED maml-table2") == 1 and again.endswith("kept\n")
    assert "diverged" in (tmp_path / "maml_runs.csv").read_text()
