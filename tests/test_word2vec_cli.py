"""CLI contract of `experiment word2vec`, `analogy` and `word2vec-figure` on a small corpus file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _cli import run_cli as run
from _data import questions_words
from infwidth.data.analogy import load_questions
from infwidth.viz.word2vec import cities_and_states


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared questions-words.txt, or a generated one in its format (tests pass without ../shared)."""
    return questions_words(tmp_path_factory.mktemp("questions"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, questions: Path) -> Path:
    """Text where each city co-occurs with its state (from the city-in-state section)."""
    sec = next(s for s in load_questions(questions) if s.name == "city-in-state")
    pairs = sorted({(a, b) for a, b, _, _ in sec.questions} | {(c, d) for _, _, c, d in sec.questions})
    rng = np.random.default_rng(0)
    fill = [f"filler{i}" for i in range(30)]
    words = []
    for _ in range(6000):
        city, state = pairs[rng.integers(len(pairs))]
        words += [fill[rng.integers(30)], city, fill[rng.integers(30)], state]
    p = tmp_path_factory.mktemp("w2v") / "corpus.txt"
    p.write_text(" ".join(words))
    return p


def test_train_evaluate_resume_figure(corpus: Path, questions: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w16"
    q = ["--questions", str(questions)]
    args = ["experiment", "word2vec", "--model", "width:16", "--corpus", str(corpus), "--epochs", "2",
            "--threads", "1", "--out", str(out), "--json", *q]
    code, stdout, _ = run(args, capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["epoch"] == 2 and summary["covered"] > 100
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    code, _, err = run(args, capsys)  # refuses to overwrite a run
    assert code == 2 and "--resume" in err
    code, stdout2, _ = run(args + ["--resume"], capsys)  # already finished: same result
    assert code == 0 and json.loads(stdout2)["total"] == summary["total"]
    code, stdout, _ = run(["analogy", str(out / "vectors.npz"), "--json", *q], capsys)
    assert code == 0 and json.loads(stdout)["total"] == pytest.approx(summary["total"])

    code, stdout, _ = run(["experiment", "word2vec", "--model", "ntk:64", "--corpus", str(corpus), "--out",
                           str(tmp_path / "ntk"), "--json", *q], capsys)
    ntk = json.loads(stdout)
    assert code == 0 and ntk["analytic_full_vocab"] == pytest.approx(100.0 / (ntk["vocab"] - 3))

    code, stdout, _ = run(["experiment", "word2vec", "--model", "limit", "--corpus", str(corpus), "--max-vocab",
                           "40", "--threads", "1", "--out", str(tmp_path / "lim"), "--json", *q], capsys)
    assert code == 0 and json.loads(stdout)["vocab"] == 40
    with np.load(tmp_path / "lim" / "vectors.npz") as z:
        assert z["vectors"].shape == (40, 40)

    png = tmp_path / "fig.png"
    code, _, _ = run(["word2vec-figure", "--panel", f"NTK={tmp_path / 'ntk'}", "--panel", f"width 16={out}",
                      "--out", str(png), *q], capsys)
    assert code == 0 and png.stat().st_size > 1000
    cities, states = cities_and_states(load_questions(questions))
    assert "chicago" in cities and "illinois" in states


def test_bad_model_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["experiment", "word2vec", "--model", "width:abc", "--out", str(tmp_path)], capsys)
    assert code == 2 and "width:N" in err


def test_table3_keeps_prose_and_reports_errors(corpus: Path, questions: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Table 3 over two seeds: a generated block with SEs and paired differences; the prose around it
    survives a rerun; --no-run trains nothing."""
    table = tmp_path / "t3.md"
    table.write_text("# My notes\n\nHand-written prose that must survive.\n")
    args = ["experiment", "word2vec-table3", "--corpus", str(corpus), "--max-vocab", "150", "--epochs", "1",
            "--models", "width:8,limit", "--seeds", "0,1", "--threads", "1", "--out", str(tmp_path / "runs"),
            "--table", str(table), "--csv", str(tmp_path / "t3.csv"), "--questions", str(questions), "--json"]
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    rows = {r["model"]: r for r in json.loads(stdout)}
    assert rows["width8"]["seeds"] == "0 1" and rows["limit"]["seeds"] == "0"
    assert rows["width8"]["all_total_se"] > 0 and np.isfinite(rows["width8"]["all_total_seed_sd"])
    assert "all_minus_limit_se" in rows["width8"]
    text = table.read_text()
    assert text.startswith("# My notes") and "must survive" in text
    assert "BEGIN GENERATED table3" in text and "limit − width8" in text and "±" in text
    table.write_text(text + "\nMore prose after the block.\n")
    code, _, err = run(args[:-1] + ["--no-run"], capsys)
    assert code == 0, err
    again = table.read_text()
    assert again.count("BEGIN GENERATED table3") == 1 and "More prose after the block." in again
    assert "must survive" in again
    code, _, err = run(["experiment", "word2vec-table3", "--seeds", "0,x", "--out", str(tmp_path / "r2")], capsys)
    assert code == 2 and "--seeds" in err
