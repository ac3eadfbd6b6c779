"""`infwidth limit compare`: the computed limit against AbcMLP ensembles (small, fast settings)."""

import json

from _cli import run_cli


def test_compare_writes_outputs_and_error_shrinks_with_width(tmp_path, capsys):
    code, out, _ = run_cli(["limit", "compare", "--depth", "1", "--phi", "tanh", "--widths", "64,1024", "--seeds", "6",
                            "--steps", "4", "--particles", "40000", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["regime"] == "feature learning" and res["backend"] == "particles"
    e64, e1024 = (e["rms_err_per_seed"] for e in res["errors"])
    assert e1024 < 0.5 * e64  # n^{-1/2} predicts a factor 4
    for name in ("compare.csv", "compare_errors.csv", "compare.json", "compare.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_compare_rejects_bad_widths(capsys):
    code, _, err = run_cli(["limit", "compare", "--widths", "0,10"], capsys)
    assert code == 2 and err.startswith("error:")
