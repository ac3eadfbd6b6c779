"""The generated Table 3 block says what each run did: thread counts per run when they differ, and NTK
(features at initialization) as untrained."""

from __future__ import annotations

from pathlib import Path

from infwidth.experiments.word2vec_report import threads_by_run
from infwidth.experiments.word2vec_table import FinishedRun, _aggregate
from infwidth.io import write_json


def _run(tmp_path: Path, label: str, seed: int, threads: int) -> FinishedRun:
    path = tmp_path / f"{label}-{seed}"
    path.mkdir()
    write_json(path / "config.json", {"train": {"threads": threads}})
    summary = {"vocab": 100, "epochs": 15, "all_total": 10.0, "all_total_se": 1.0, "all_semantic": 9.0,
               "all_semantic_se": 1.0, "all_syntactic": 11.0, "all_syntactic_se": 1.0, "all_covered": 50,
               "all_candidates": 100, "loss": 2.0, "analytic_full_vocab": 1.0}
    return FinishedRun(label, seed, path, summary, {})


def test_threads_named_per_run_only_when_they_differ(tmp_path: Path) -> None:
    same = {"width64": [_run(tmp_path, "width64", 0, 2)], "ntk": [_run(tmp_path, "ntk", 0, 1)]}
    assert threads_by_run(same) == ""  # NTK is not trained: its thread count does not count
    mixed = {"width64": [_run(tmp_path, "width64", 1, 1), _run(tmp_path, "width64", 2, 2)],
             "width1024": [_run(tmp_path, "width1024", 0, 2)]}
    assert threads_by_run(mixed) == "threads per run: 1 (width64 seed 1), 2 (width64 seed 2, width1024 seed 0)"


def test_ntk_row_is_untrained(tmp_path: Path) -> None:
    runs = {"ntk": [_run(tmp_path, "ntk", 0, 1)], "width64": [_run(tmp_path, "width64", 0, 1)]}
    rows = {r["model"]: r for r in _aggregate(runs, (0,), {})}
    assert rows["ntk"]["epochs"] == 0 and rows["width64"]["epochs"] == 15
