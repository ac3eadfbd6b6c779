"""Our bad-input list (tests/bad_inputs.py): every case exits 2 with one ``error:`` line, no traceback,
and writes nothing. (scripts/bad_inputs.py counts the same list in subprocesses, on any source tree.)"""

import tempfile
from pathlib import Path

import pytest

from _cli import run_in_process
from bad_inputs import CASES, UNSAFE_BEFORE, argv, handled, make_fixtures, snapshot


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs")
    return root, make_fixtures(root / "fx")


@pytest.mark.parametrize("line", [c for c, _ in CASES + UNSAFE_BEFORE])
def test_bad_input_is_refused(line, fixtures):
    root, paths = fixtures
    before = snapshot(root)
    with tempfile.TemporaryDirectory(prefix="infwidth-bad-") as tmp:
        code, out, err = run_in_process(argv(line, paths), Path(tmp))
        written = sorted(snapshot(Path(tmp)))
    shown = f"infwidth {line}\nexit {code}\nstderr: {err[-800:]}\nstdout: {out[-200:]}"
    assert handled(code, out, err), shown
    assert not written and snapshot(root) == before, f"{shown}\nwrote {written or sorted(snapshot(root) - before)}"
