"""``infwidth limit mlp``: the JSON contract, exact values, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from infwidth.cli import cli, main
from infwidth.limits.linear_mup import corollary_6_2


def _run(*args: str) -> dict:  # type: ignore[type-arg]
    res = CliRunner().invoke(cli, ["limit", "mlp", *args, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_json_contract_and_corollary_6_2() -> None:
    xs, ys = "1,-1,0.5,1", "1,1,-1,-1"
    out = _run("--depth", "1", "--phi", "identity", "--steps", "4", "--xs", xs, "--ys", ys, "--lr", "0.5")
    assert set(out) == {"f", "loss", "stderr", "backend", "seconds"}
    f_ref, _ = corollary_6_2([1, -1, 0.5, 1], [1, 1, -1, -1], lr=0.5)
    np.testing.assert_allclose(out["f"], f_ref, atol=1e-12)
    np.testing.assert_allclose(out["loss"], 0.5 * (f_ref - np.array([1, 1, -1, -1])) ** 2, atol=1e-12)
    assert out["stderr"] == [0.0] * 4 and out["backend"] == "linear"


def test_particles_report_standard_errors() -> None:
    out = _run("--depth", "2", "--phi", "tanh", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1",
               "--particles", "32000")
    assert out["backend"] == "particles" and len(out["f"]) == 3
    assert all(s > 0 for s in out["stderr"])


def test_auto_picks_polynomial_for_square_and_decoupled_differs() -> None:
    a = _run("--depth", "2", "--phi", "square", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1", "--lr", "0.01")
    d = _run("--depth", "2", "--phi", "square", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1", "--lr", "0.01",
             "--decoupled")
    assert a["backend"] == d["backend"] == "polynomial"
    assert abs(a["f"][2] - d["f"][2]) > 1e-3


@pytest.mark.parametrize("args,needle", [
    (["--steps", "3", "--xs", "1,2", "--ys", "1,1,1"], "at least"),
    (["--steps", "2", "--phi", "tanh", "--backend", "linear"], "not polynomial"),
    (["--steps", "2", "--phi", "tanh", "--parametrization", "ntp", "--decoupled"], "kernel regime"),
    (["--steps", "2", "--phi", "tanh", "--a", "0,1", "--b", "0,0", "--c", "1"], "trivial"),
])
def test_errors_exit_2_with_one_sentence(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["limit", "mlp", *args])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_kernel_regime_is_delegated_to_the_ntk_limit() -> None:
    pytest.importorskip("infwidth.kernels")
    out = _run("--depth", "2", "--phi", "tanh", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1",
               "--parametrization", "ntp")
    assert out["backend"] == "kernel" and len(out["f"]) == 3 and out["f"][1] != 0.0
