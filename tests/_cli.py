"""Run the ``infwidth`` CLI in-process, as a user would: exit code, stdout, stderr."""

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from infwidth.cli import main

HOME = tempfile.mkdtemp(prefix="infwidth-test-home-")
atexit.register(shutil.rmtree, HOME, True)
ALARM_S = int(os.environ.get("INFWIDTH_TEST_ALARM_S", "30"))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Call ``infwidth ARGV`` through its real entry point; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


class CommandRanTooLong(Exception):
    """Raised by the alarm of :func:`run_in_process`."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CommandRanTooLong(f"the command was still running after {ALARM_S} s: it did work instead of "
                            "refusing the input")


def run_in_process(argv: list[str], cwd: Path, alarm_s: int = ALARM_S) -> tuple[int, str, str]:
    """``infwidth ARGV`` through ``infwidth.cli.main`` under click's CliRunner isolation, with ``cwd`` as the
    working directory and cache (HOME: one temporary folder per test process, outside ``cwd``, so caches
    such as matplotlib's are not taken for outputs); a command still running after ``alarm_s`` raises
    CommandRanTooLong."""
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(cwd)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(alarm_s)
    try:
        with runner.isolation(env={"HOME": HOME, "INFWIDTH_CACHE": str(cwd / "cache"),
                                   "INFWIDTH_DOWNLOAD": "0"}) as streams:
            code = 0
            try:
                main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(old)
    return code, out, err
