"""The MAML experiment runner: exact resume after an interruption, CSV per epoch, CLI errors."""

from __future__ import annotations

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
    assert len(partial) == 2
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
    assert "66.42" in (tmp_path / "res" / "maml_table2.md").read_text()


def test_cli_rejects_unknown_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from infwidth.cli import main

    with pytest.raises(SystemExit) as e:
        main(["experiment", "maml", "--model", "width:abc", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "unknown model" in capsys.readouterr().err
