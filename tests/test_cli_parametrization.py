"""CLI contract for classify / table1 / phase-diagram, including bad input."""

import json
import subprocess
import sys

import pytest

from _cli import run_cli as run

KEYS = {"depth", "a", "b", "c", "r", "r_l", "stable", "failed_conditions", "nontrivial", "feature_learning",
        "kernel_regime", "updated_maximally", "initialized_maximally", "min_stable_c"}




def test_classify_json_has_exactly_the_contract_keys(capsys):
    code, out, _ = run(["classify", "--parametrization", "mup", "--depth", "3", "--json"], capsys)
    obj = json.loads(out)
    assert code == 0 and set(obj) == KEYS
    assert obj["a"] == ["-1/2", "0", "0", "1/2"] and obj["r"] == "0" and obj["r_l"] == ["0", "0", "0"]
    assert obj["feature_learning"] is True and obj["kernel_regime"] is False
    assert obj["updated_maximally"] == [True] * 4 and obj["min_stable_c"] == "0"


def test_classify_explicit_abc_and_per_layer_c(capsys):
    code, out, _ = run(["classify", "--a", "-1/2,0,0,1/2", "--b", "1/2,1/2,1/2,1/2", "--c", "0", "--json"], capsys)
    assert code == 0 and json.loads(out)["feature_learning"] is True
    # SP with per-layer LR: embedding n^0 ... here all layers LR 1/n equals sp_stable.
    code, out, _ = run(["classify", "--parametrization", "sp", "--depth", "2", "--c", "1,1,1", "--json"], capsys)
    obj = json.loads(out)
    assert code == 0 and obj["kernel_regime"] is True and obj["c"] == "1"


def test_classify_unstable_reports_failures(capsys):
    code, out, _ = run(["classify", "--parametrization", "sp", "--depth", "2", "--json"], capsys)
    obj = json.loads(out)
    assert code == 0 and obj["stable"] is False and obj["nontrivial"] is None
    assert any(s.startswith("(7) r >= 0") for s in obj["failed_conditions"])


def test_classify_table_output(capsys):
    code, out, _ = run(["classify", "--parametrization", "ntp", "--depth", "2"], capsys)
    assert code == 0 and "kernel" in out and "r (Def. 3.2)" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["classify", "--a", "0,0", "--b", "0,0,0", "--c", "0"], "a has 2 entries but b has 3"),
        (["classify", "--a", "x,0", "--b", "0,0", "--c", "0"], "not a rational number"),
        (["classify", "--parametrization", "mup", "--depth", "0"], "give an integer >= 1"),
        (["classify", "--parametrization", "nope", "--depth", "2"], "unknown parametrization"),
        (["classify", "--parametrization", "mup"], "needs --depth"),
        (["classify", "--depth", "two", "--parametrization", "mup"], "is not an integer"),
        (["classify", "--a", "0,0", "--b", "0,1/2", "--c", "0,0,0"], "per-layer c has 3 entries"),
    ],
)
def test_bad_input_gives_one_sentence_and_exit_2(argv, fragment, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert fragment in err and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_table1_json(capsys):
    code, out, _ = run(["table1", "--json"], capsys)
    cols = json.loads(out)["columns"]
    assert code == 0 and [c["r"] for c in cols] == ["1/2", "1/2", "0", "0"]


def test_phase_diagram_writes_png(tmp_path, capsys):
    png = tmp_path / "pd.png"
    code, out, _ = run(["phase-diagram", "--step", "1/8", "--out", str(png), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and png.stat().st_size > 10_000
    mup_panel = next(p for p in summary["panels"] if p["base"] == "mup")
    assert mup_panel["points"]["feature learning"] >= 1 and mup_panel["points"]["kernel"] >= 1


def test_entry_point_runs_as_a_program():
    proc = subprocess.run([sys.executable, "-m", "infwidth", "classify", "--parametrization", "nope", "--depth", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown parametrization" in proc.stderr
