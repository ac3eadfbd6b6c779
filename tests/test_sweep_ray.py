"""`infwidth sweep --ray` on a real local Ray cluster (127.0.0.1 only), with a Ray worker killed mid-sweep:
after a rerun the store holds every trial exactly once, with the same losses as trials run here.

Needs the optional extra (`pip install "ray[default]"`, the ``ray`` extra); skipped with the reason without it.
The head node is started with ``ray start --head --node-ip-address=127.0.0.1`` in a private temporary folder;
only the processes of that cluster (found by that folder in their command line) are stopped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray test needs the optional extra: pip install 'ray[default]'")

from infwidth.sweep import run_trial

TRIALS = {"widths": "16,24", "lrs": "1e-3,1e-2", "steps": "200"}
# Ray >= 2.5x turns --node-ip-address=127.0.0.1 into the machine's address and binds it; this switch (Ray's
# single-machine mode) keeps every server on the loopback interface. No telemetry.
# Generous start-up waits: the suite runs on 2 busy cores.
RAY_ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_raylet_start_wait_time_s": "240", "RAY_gcs_server_request_timeout_seconds": "120"}
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_matching(text: str) -> list[int]:
    return [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and text in _cmdline(int(d.name))]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _cluster_pids(folder: str, address: str | None = None) -> list[int]:
    """The processes of the cluster started in ``folder``: those naming it (or its GCS ``address``: the Ray
    client server started by ``ray start`` names only that, and is orphaned when ``ray start`` exits), and
    their descendants (workers and agents rename themselves ``ray::...``)."""
    found = set(_pids_matching(folder)) | (set(_pids_matching(f"--address={address}")) if address else set())
    while True:
        more = {int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _ppid(int(d.name)) in found}
        if more <= found:
            return sorted(found)
        found |= more


def _rows(store: Path) -> list[tuple[str, str]]:
    if not store.exists():
        return []
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT params, result FROM trials").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.fixture
def ray_head():
    """A Ray head on 127.0.0.1 with 2 CPUs; yields (address, temp folder); stops only its own processes."""
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must stay under 107 bytes
    port = _free_port()
    env = RAY_ENV
    start = subprocess.run(["ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                            f"--ray-client-server-port={_free_port()}",
                            "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp}"],
                           env=env, capture_output=True, text=True, timeout=400)
    try:
        assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
        yield f"127.0.0.1:{port}", tmp
    finally:
        for pid in _cluster_pids(tmp, f"127.0.0.1:{port}"):  # our cluster's processes only
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def _listening_addresses(pids: list[int]) -> set[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc/net/tcp)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # state LISTEN
                out.add(f[1].rsplit(":", 1)[0])
    return out


def test_sweep_survives_a_killed_ray_worker(ray_head, tmp_path):
    address, ray_tmp = ray_head
    store = tmp_path / "s.sqlite"
    argv = [sys.executable, "-m", "infwidth", "sweep", "--model", "mlp", "--widths", TRIALS["widths"],
            "--lrs", TRIALS["lrs"], "--steps", TRIALS["steps"], "--store", str(store), "--ray", address, "--json"]
    t0 = time.monotonic()
    listening = _listening_addresses(_cluster_pids(ray_tmp))
    assert listening and listening <= LOOPBACK, f"the Ray cluster listens beyond 127.0.0.1: {listening}"
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=RAY_ENV)
    killed = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and killed is None:
        busy = [p for p in _cluster_pids(ray_tmp) if _cmdline(p).startswith("ray::run_trial")]
        if busy and len(_rows(store)) >= 1:  # mid-sweep: some trials stored, one running
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=600)
    first_run_s = time.monotonic() - t0
    assert killed is not None, f"no Ray worker was seen running a trial (exit {proc.returncode}): {err[-1500:]}"
    # Ray retries the killed task; if it could not, the sweep says so in one sentence and keeps the rest
    assert proc.returncode == 0 or (proc.returncode == 2 and "rerun the same command" in err), err[-1500:]
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=RAY_ENV)
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    rows = _rows(store)
    params = [json.loads(p) for p, _ in rows]
    assert len(rows) == 4 and len({json.dumps(p, sort_keys=True) for p in params}) == 4  # complete, no duplicate
    for p, r in rows:  # correct: the same numbers as the trial run in this process
        here = run_trial(json.loads(p))
        stored = json.loads(r)
        assert stored["diverged"] == here["diverged"]
        assert stored["loss"] == pytest.approx(here["loss"], rel=1e-6, nan_ok=True)
    print(f"ray fault test: first run {first_run_s:.0f} s (exit {proc.returncode}), "
          f"rerun ran {json.loads(rerun.stdout)['ran']} trial(s)")
