"""Sweeps under faults: capped pools, workers that die with their parent, trials checked before they run,
divergence recorded with its reason (non-finite, or a loss far above the initial one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from infwidth.errors import InfwidthError
from infwidth.sweep import DIVERGENCE_FACTOR, SweepStore, check_trial, divergence, pool_size, run_sweep, run_trial


def test_pool_is_capped_by_trials_and_cpus():
    cpus = len(os.sched_getaffinity(0))
    assert pool_size(60, 1) == 1  # was: 61 processes for one trial
    assert pool_size(1_000_000, 500) == min(500, cpus)  # was: a fork bomb
    assert pool_size(2, 10) == min(2, cpus)


@pytest.mark.parametrize("bad", [{"lr": float("nan")}, {"lr": float("inf")}, {"lr": -0.01}, {"lr": 0.0},
                                 {"steps": 0}, {"width": -8}, {"width": 32.5}, {"seed": -1}, {"base_width": 0}])
def test_trials_that_must_be_rejected_are_never_recorded(tmp_path, bad):
    store = SweepStore(tmp_path / "s.sqlite")
    good = {"model": "mlp", "parametrization": "mup", "optimizer": "adam", "width": 16, "lr": 1e-2, "seed": 0,
            "base_width": 16, "steps": 1}
    with pytest.raises(InfwidthError):
        run_sweep([good, {**good, **bad}], store, workers=1, progress=False)
    assert store.results() == []  # checked before any trial runs: not even the good one
    check_trial(good)


def test_divergence_rule():
    assert divergence(1.0, 0.5) is None
    assert divergence(1.0, DIVERGENCE_FACTOR * 1.0) is None
    assert "x initial loss" in divergence(1.3, 2.1e7)
    assert divergence(1.0, float("nan")) == "non-finite loss"


def test_adam_at_a_huge_lr_is_recorded_as_diverged():
    """Adam at lr 1e3 ends at a finite loss ~1e7 (was recorded diverged: false, since only NaN/inf counted)."""
    r = run_trial({"model": "mlp", "parametrization": "mup", "optimizer": "adam", "width": 32, "lr": 1e3,
                   "seed": 0, "base_width": 32, "steps": 20})
    assert r["diverged"] and r["loss"] > DIVERGENCE_FACTOR * r["initial_loss"] and "initial loss" in r["reason"]
    ok = run_trial({"model": "mlp", "parametrization": "mup", "optimizer": "adam", "width": 32, "lr": 1e-2,
                    "seed": 0, "base_width": 32, "steps": 20})
    assert not ok["diverged"] and ok["reason"] is None and ok["loss"] < ok["initial_loss"]


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux) to find the pool's processes")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """kill -9 of the sweep's parent alone used to leave its pool workers blocked forever (~270 MB each)."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from infwidth.sweep import SweepStore, run_sweep

        def slow(params):
            time.sleep(120)
            return {{"loss": 1.0}}

        if __name__ == "__main__":
            run_sweep([{{"width": w, "lr": 0.1}} for w in (1, 2, 3)], SweepStore({str(tmp_path / 's.sqlite')!r}),
                      slow, workers=2, progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        deadline = time.time() + 60
        workers: list[int] = []
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the pool did not start"
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its process group
        proc.wait()
        deadline = time.time() + 20
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        alive = [w for w in workers if _alive(w)]
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    assert not alive, f"pool workers {alive} outlived their parent"
