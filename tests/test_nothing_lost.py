"""Nothing lost, nothing wrong written: finished results are not replaced without --resume/--force, derived
files are rebuilt from checkpoints on resume, writes are atomic. Generated data only (no ../shared needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _cli import run_cli
from infwidth.errors import InfwidthError
from infwidth.io import read_csv, refuse_overwrite, rows_until, write_json


def test_refuse_overwrite(tmp_path):
    refuse_overwrite(tmp_path / "new", ("result.json",), False, False)  # nothing there: fine
    write_json(tmp_path / "result.json", {"accuracy": 66.4})
    with pytest.raises(InfwidthError, match="already holds finished results"):
        refuse_overwrite(tmp_path, ("result.json", "checkpoint.pt"), False, False)
    refuse_overwrite(tmp_path, ("result.json",), True, False)
    refuse_overwrite(tmp_path, ("result.json",), False, True)


def test_rows_until_drops_rows_the_checkpoint_does_not_know():
    rows = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 2.0}, {"epoch": 2, "loss": 1.9}, {"epoch": 3, "loss": 1.0}]
    assert rows_until(rows, "epoch", 2) == [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 1.9}]


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    p = rng.zipf(1.3, 20000) % len(words)
    (tmp_path / "corpus.txt").write_text(" ".join(words[i] for i in p) + "\n")
    (tmp_path / "questions.txt").write_text(": capital-common-countries\nw1 w2 w3 w4\nw5 w6 w7 w8\n"
                                            ": gram1-adjective-to-adverb\nw2 w1 w4 w3\n")
    return tmp_path / "corpus.txt", tmp_path / "questions.txt"


def test_word2vec_resume_rebuilds_metrics_from_the_checkpoint(tmp_path, monkeypatch):
    """A kill after metrics.csv gains epoch 2's row but before epoch 2's checkpoint replaces epoch 1's: the
    resumed run redoes epoch 2 and metrics.csv has one row per epoch (it had a duplicate: 26 rows for 25)."""
    import infwidth.experiments.word2vec as w2v

    corpus, questions = _corpus(tmp_path)
    cfg = w2v.Word2VecConfig(model="width:16", out=tmp_path / "run", preset="tiny", epochs=2, corpus=corpus,
                             questions=questions, threads=1, progress=False)
    real_save = w2v.save_trainer
    calls = {"n": 0}

    def killed_at_second_checkpoint(path, trainer):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")  # not KeyboardInterrupt: a kill -9 saves nothing
        real_save(path, trainer)

    monkeypatch.setattr(w2v, "save_trainer", killed_at_second_checkpoint)
    with pytest.raises(RuntimeError, match="killed"):
        w2v.run(cfg)
    assert [r["epoch"] for r in read_csv(cfg.out / "metrics.csv")] == ["1", "2"]
    monkeypatch.setattr(w2v, "save_trainer", real_save)
    with pytest.raises(InfwidthError, match="already holds finished results"):
        w2v.run(cfg)  # without --resume: refused, nothing replaced
    from dataclasses import replace

    w2v.run(replace(cfg, resume=True))
    assert [r["epoch"] for r in read_csv(cfg.out / "metrics.csv")] == ["1", "2"]
    with np.load(cfg.out / "vectors.npz") as z:
        assert z["vectors"].shape == (len(z["words"]), 16)


def test_word2vec_cli_refuses_a_finished_run_and_force_replaces_it(tmp_path, capsys):
    corpus, questions = _corpus(tmp_path)
    args = ["experiment", "word2vec", "--model", "ntk:8", "--corpus", str(corpus), "--questions", str(questions),
            "--out", str(tmp_path / "ntk"), "--json"]
    assert run_cli(args, capsys)[0] == 0
    before = (tmp_path / "ntk" / "summary.json").read_bytes()
    code, out, err = run_cli(args, capsys)
    assert code == 2 and "already holds finished results" in err and err.count("\n") == 1
    assert json.loads(out)["exit_code"] == 2
    assert (tmp_path / "ntk" / "summary.json").read_bytes() == before
    assert run_cli([*args, "--force"], capsys)[0] == 0


def test_maml_finished_run_is_not_replaced(tmp_path):
    """`experiment maml` into a finished --out used to replace result.json (120 -> 2 meta-iterations)."""
    from dataclasses import replace

    from infwidth.experiments.maml import _jsonable, check_run_dir, preset_config, run_dir

    cfg = preset_config("tiny", model="limit", seed=0)
    folder = run_dir(tmp_path, cfg.model, 0)
    write_json(folder / "result.json", {"test_accuracy": 66.0, "config": _jsonable(cfg)})
    with pytest.raises(InfwidthError, match="already holds finished results"):
        check_run_dir(cfg, tmp_path, resume=False, force=False)
    assert check_run_dir(cfg, tmp_path, resume=True, force=False)["test_accuracy"] == 66.0  # reused as is
    other = replace(cfg, epochs=1)
    with pytest.raises(InfwidthError, match="other settings"):
        check_run_dir(other, tmp_path, resume=True, force=False)  # --resume with other settings: refused too
    assert check_run_dir(other, tmp_path, resume=False, force=True) is None


def test_maml_cli_checks_every_seed_before_running(tmp_path, capsys):
    from infwidth.experiments.maml import _jsonable, preset_config, run_dir

    cfg = preset_config("tiny", model="limit", seed=1)
    write_json(run_dir(tmp_path, "limit", 1) / "result.json", {"config": _jsonable(cfg)})
    code, _, err = run_cli(["experiment", "maml", "--model", "limit", "--seeds", "2", "--out", str(tmp_path)], capsys)
    assert code == 2 and "seed1" in err and not run_dir(tmp_path, "limit", 0).exists()  # seed 0 never started


def test_figures_are_written_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from infwidth.viz import save_figure

    fig = plt.figure()
    out = save_figure(fig, tmp_path / "a" / "f.png")
    assert out.read_bytes().startswith(b"\x89PNG") and [p.name for p in out.parent.iterdir()] == ["f.png"]
