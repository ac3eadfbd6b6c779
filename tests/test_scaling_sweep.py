"""Sweep tool: grid, store, resume after SIGKILL without redoing or corrupting trials, NaN as data."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import SweepStore, grid, run_sweep, summarize, trial_key


def _fake(params):
    return {"loss": (math.log10(params["lr"]) + 2) ** 2 + 1.0 / params["width"]}


def _nan(params):
    return {"loss": float("nan"), "diverged": True}


def test_grid_and_resume_in_process(tmp_path):
    store = SweepStore(tmp_path / "s.sqlite")
    trials = grid(model=["toy"], parametrization=["mup"], optimizer=["adam"], width=[32, 64],
                  lr=[1e-3, 1e-2, 1e-1])
    assert len(trials) == 6 and trials[0] == {"model": "toy", "parametrization": "mup", "optimizer": "adam",
                                              "width": 32, "lr": 1e-3}
    assert run_sweep(trials[:4], store, _fake, workers=1, progress=False) == 4
    assert run_sweep(trials, store, _fake, workers=1, progress=False) == 2
    assert {trial_key(t) for t in trials} == store.done()
    best = summarize(store.results())
    assert [(b["width"], b["lr"]) for b in best] == [(32, 1e-2), (64, 1e-2)]


def test_nan_is_recorded_as_data(tmp_path):
    store = SweepStore(tmp_path / "s.sqlite")
    run_sweep([{"parametrization": "sp", "optimizer": "sgd", "width": 8, "lr": 10.0}], store, _nan,
              workers=1, progress=False)
    (row,) = store.results()
    assert math.isnan(row["loss"]) and row["diverged"] is True


def test_ray_is_optional(tmp_path):
    """Without Ray installed, --ray is a one-sentence user error (Ray is an optional extra)."""
    try:
        import ray  # noqa: F401

        pytest.skip("ray is installed here")
    except ImportError:
        pass
    with pytest.raises(InfwidthError, match="pip install ray"):
        run_sweep([{"parametrization": "sp", "optimizer": "sgd", "width": 8, "lr": 1.0}],
                  SweepStore(tmp_path / "s.sqlite"), _fake, ray_address="auto", progress=False)


def _rows(path):
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {k: f for k, f in con.execute("SELECT key, finished FROM trials")}
    finally:
        con.close()


def _stored(path):
    """Finished rows so far while the sweep starts up: 0 until the store file and its table exist (the
    file appears before the table is created)."""
    try:
        return len(_rows(path)) if path.exists() else 0
    except sqlite3.OperationalError:  # "no such table: trials", a moment after the file is created
        return 0


@pytest.mark.slow
def test_cli_sweep_resumes_after_sigkill(tmp_path):
    """Kill a running `infwidth sweep` (process group, SIGKILL) once some trials are stored; the
    store stays intact and the rerun runs exactly the missing trials, leaving finished rows alone."""
    store = tmp_path / "s.sqlite"
    argv = [sys.executable, "-m", "infwidth", "sweep", "--model", "mlp", "--widths", "16,32,48",
            "--lrs", "1e-3,3e-3,1e-2,3e-2", "--steps", "150", "--store", str(store), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if _stored(store) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail("the sweep finished before it could be killed; make the trials longer")
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _rows(store)
    assert 2 <= len(before) < 12
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
    ran = json.loads(out.stdout)["ran"]
    after = _rows(store)
    assert ran == 12 - len(before) and len(after) == 12
    assert all(after[k] == f for k, f in before.items())  # finished trials were not redone
