"""``infwidth limit mlp``: the JSON contract, exact values, data from files, the honest kernel regime, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from _cli import run_cli
from infwidth.arch import Routine
from infwidth.cli import cli, main
from infwidth.limits.linear_network import LinearMuP, corollary_6_2


def _run(*args: str) -> dict:  # type: ignore[type-arg]
    res = CliRunner().invoke(cli, ["limit", "mlp", *args, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _f(out: dict) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(out["f"], dtype=float)


def test_json_contract_and_corollary_6_2() -> None:
    xs, ys = "1,-1,0.5,1", "1,1,-1,-1"
    out = _run("--depth", "1", "--phi", "identity", "--steps", "4", "--xs", xs, "--ys", ys, "--lr", "0.5")
    assert {"regime", "method", "f", "f_std", "f_stderr", "loss", "loss_stderr", "eval_steps", "f_eval", "kernel",
            "f0_random", "note", "seconds"} <= set(out)
    f_ref, _ = corollary_6_2([1, -1, 0.5, 1], [1, 1, -1, -1], lr=0.5)
    np.testing.assert_allclose(_f(out).ravel(), f_ref, atol=1e-12)
    np.testing.assert_allclose(out["loss"], 0.5 * (f_ref - np.array([1, 1, -1, -1])) ** 2, atol=1e-12)
    assert np.all(np.array(out["f_stderr"]) == 0) and np.all(np.array(out["f_std"]) == 0)
    assert out["method"] == "linear" and out["regime"] == "feature learning" and out["f_eval"] is None


def test_particles_report_standard_errors() -> None:
    out = _run("--depth", "2", "--phi", "tanh", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1",
               "--particles", "32000")
    assert out["method"] == "particles" and _f(out).shape == (3, 1, 1)
    assert all(s > 0 for s in np.ravel(out["f_stderr"])[1:])


def test_auto_picks_polynomial_for_square_and_decoupled_differs() -> None:
    a = _run("--depth", "2", "--phi", "square", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1", "--lr", "0.01")
    d = _run("--depth", "2", "--phi", "square", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1", "--lr", "0.01",
             "--decoupled")
    assert a["method"] == d["method"] == "polynomial"
    assert abs(_f(a)[2, 0, 0] - _f(d)[2, 0, 0]) > 1e-3


def test_inputs_from_files_xent_bias_batch_equal_the_linear_mup_limit(tmp_path: Path) -> None:
    """Depth 1, phi = identity, d_in = 5 from X.npy, 3 classes (xent), minibatches of 2 in shuffled order, biases:
    the CLI's exact limit equals an independent implementation, LinearMuP (TP4 Corollary 6.2 generalized: the
    width-(d + 1 + d_o) network), with the hidden bias as an extra input coordinate 1 whose first-layer column
    starts at 0 and a readout bias trained with learning rate eta."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 5)), np.array([0, 2, 1, 1, 0, 2])
    E = rng.standard_normal((2, 5))
    for name, arr in (("X", X), ("Y", Y), ("E", E)):
        np.save(tmp_path / f"{name}.npy", arr)
    lr = 0.7
    out = _run("--phi", "identity", "--inputs", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy"),
               "--eval-inputs", str(tmp_path / "E.npy"), "--loss", "xent", "--batch", "2", "--steps", "5",
               "--order", "shuffle", "--seed", "3", "--bias", "--lr", str(lr))
    assert out["method"] == "linear" and _f(out).shape == (5, 2, 3)
    net = LinearMuP(6, 3, sigmas=(1 / np.sqrt(5), 1.0))
    with torch.no_grad():
        net.U[:, -1] = 0.0  # the hidden bias starts at 0
    b_out = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([*net.param_groups(lr), {"params": [b_out], "lr": lr}])
    aug = torch.tensor(np.hstack([X, np.ones((6, 1))]))
    batches = Routine(X, Y, loss="xent", batch_size=2, steps=5, order="shuffle", seed=3).batches()
    for t, idx in enumerate(batches):
        f = net(aug[torch.as_tensor(idx)]) + b_out
        np.testing.assert_allclose(_f(out)[t], f.detach().numpy(), atol=1e-12)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(f, torch.as_tensor(Y[idx])).backward()
        opt.step()
    f_e = net(torch.tensor(np.hstack([E, np.ones((2, 1))]))) + b_out
    np.testing.assert_allclose(np.array(out["f_eval"])[-1], f_e.detach().numpy(), atol=1e-12)


def test_kernel_regime_prints_the_random_f0_honestly(capsys: pytest.CaptureFixture[str]) -> None:
    """ntp is in the kernel regime with a Gaussian-process f_0: the result is a mean with a nonzero spread."""
    out = _run("--depth", "2", "--phi", "tanh", "--steps", "3", "--xs", "1,-1,1", "--ys", "1,1,-1",
               "--parametrization", "ntp")
    assert out["regime"] == "kernel" and out["method"] == "kernel" and out["f0_random"]
    assert out["kernel"] == "ntk(layers 1..3)"
    sd = np.ravel(out["f_std"])
    assert sd[0] > 0.1 and sd.min() > 0 and "Gaussian process" in out["note"]
    code, stdout, _ = run_cli(["limit", "mlp", "--depth", "2", "--phi", "tanh", "--steps", "3",
                               "--parametrization", "ntp"], capsys)
    assert code == 0 and "sd over f_0" in stdout and "kernel" in stdout


@pytest.mark.parametrize("args,needle", [
    (["--steps", "3", "--xs", "1,2", "--ys", "1,1,1"], "at least"),
    (["--steps", "2", "--phi", "tanh", "--backend", "linear"], "not polynomial"),
    (["--steps", "2", "--phi", "tanh", "--parametrization", "ntp", "--decoupled"], "kernel regime"),
    (["--steps", "2", "--phi", "tanh", "--a", "0,1", "--b", "0,0", "--c", "1"], "trivial"),
    (["--steps", "2", "--parametrization", "sp"], "unstable"),
    (["--steps", "2", "--batch", "0"], "positive"),
    (["--steps", "2", "--batch", "5"], "batch size"),
    (["--steps", "2", "--loss", "xent", "--ys", "0.5,1", "--xs", "1,2"], "class index"),
    (["--inputs", "missing.npy", "--targets", "missing.npy"], "does not exist"),
    (["--steps", "2", "--residual"], "depth >= 2"),
])
def test_errors_exit_2_with_one_sentence(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["limit", "mlp", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and needle in err and "Traceback" not in err
