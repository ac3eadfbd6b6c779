"""``infwidth kernel``: closed forms through the CLI, --json, --out, and user errors (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _cli import run_cli as _run


def test_linear_network_kernels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Depth-L linear MLP: NNGP = x.x'/d, NTK = (L + 1) x.x'/d (every layer adds the same Gram matrix)."""
    X = np.random.default_rng(0).standard_normal((5, 4))
    np.save(tmp_path / "X.npy", X)
    for kind, factor in [("nngp", 1.0), ("ntk", 4.0)]:
        out = tmp_path / f"{kind}.npy"
        code, stdout, _ = _run(["kernel", "--kind", kind, "--depth", "3", "--phi", "identity", "--inputs",
                                str(tmp_path / "X.npy"), "--out", str(out), "--json"], capsys)
        assert code == 0
        summary = json.loads(stdout)
        assert summary["shape"] == [5, 5]
        assert np.allclose(np.load(out), factor * X @ X.T / 4, atol=1e-12)


def test_preset_limit_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sp_stable at depth 1: only the readout trains in the limit (r = 3/2), K = E[relu relu] = nngp."""
    X = np.random.default_rng(1).standard_normal((3, 2))
    np.save(tmp_path / "X.npy", X)
    mats = []
    for kind in ["ntk", "nngp"]:
        out = tmp_path / f"{kind}.npy"
        code, _, _ = _run(["kernel", "--kind", kind, "--phi", "relu", "--parametrization", "sp_stable", "--inputs",
                           str(tmp_path / "X.npy"), "--out", str(out)], capsys)
        assert code == 0
        mats.append(np.load(out))
    assert np.allclose(mats[0], mats[1], atol=1e-14)


def test_user_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file and a bad nonlinearity are one-sentence errors with exit code 2."""
    code, _, err = _run(["kernel", "--kind", "ntk", "--inputs", str(tmp_path / "missing.npy")], capsys)
    assert code == 2 and err.startswith("error:")
    np.save(tmp_path / "X.npy", np.ones((2, 2)))
    code, _, err = _run(["kernel", "--kind", "ntk", "--phi", "softsign", "--inputs", str(tmp_path / "X.npy")], capsys)
    assert code == 2 and "unknown activation" in err


def test_mup_has_no_kernel_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """muP learns features: asking for its limit kernel is an error, not NTP's kernel in disguise."""
    np.save(tmp_path / "X.npy", np.ones((2, 2)))
    for kind in ("ntk", "nngp"):
        code, _, err = _run(["kernel", "--kind", kind, "--parametrization", "mup", "--depth", "2", "--inputs",
                             str(tmp_path / "X.npy")], capsys)
        assert code == 2 and "no kernel limit" in err and err.startswith("error:")
