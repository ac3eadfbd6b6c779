"""Run the ``infwidth`` CLI in-process, as a user would: exit code, stdout, stderr."""

import pytest

from infwidth.cli import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Call ``infwidth ARGV`` through its real entry point; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
