"""The typed option layer (infwidth.cli.options), the CLI's error boundary and the NaN-free JSON helper."""

import json
import math
import os
from fractions import Fraction
from pathlib import Path

import click
import numpy as np
import pytest

from _cli import run_cli
from infwidth.cli import known_error
from infwidth.cli import options as o
from infwidth.errors import InfwidthError
from infwidth.io import check_input_file, dumps, json_safe, load_array


def _ok(t: click.ParamType, text: str):
    return t.convert(text, None, None)


def _bad(t: click.ParamType, text: str) -> str:
    with pytest.raises(click.BadParameter) as e:
        t.convert(text, None, None)
    return e.value.format_message()


@pytest.mark.parametrize("text, value", [("64", 64), (" +7 ", 7), ("1e6", 10**6), ("2.0", 2), ("1_000", 1000)])
def test_positive_int_accepts(text, value):
    assert _ok(o.POSITIVE_INT, text) == value


@pytest.mark.parametrize("text", ["0", "-8", "32.5", "abc", "", "nan", "inf", "1e400", "1e30", "ü", "0x10"])
def test_positive_int_refuses(text):
    assert "positive integer" in _bad(o.POSITIVE_INT, text)


def test_int_bounds():
    assert _ok(o.NONNEG_INT, "0") == 0
    assert "non-negative" in _bad(o.NONNEG_INT, "-1")
    assert _ok(o.SEED, str(2**32 - 1)) == 2**32 - 1
    assert "<= 4294967295" in _bad(o.SEED, str(2**32))


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "abc", "", " "])
def test_every_float_type_refuses_non_finite_and_text(text):
    for t in (o.FINITE_FLOAT, o.POSITIVE_FLOAT, o.NONNEG_FLOAT, o.PROBABILITY):
        _bad(t, text)


def test_float_ranges():
    assert _ok(o.FINITE_FLOAT, "-1e300") == -1e300
    assert _ok(o.NONNEG_FLOAT, "0") == 0.0
    assert "positive" in _bad(o.POSITIVE_FLOAT, "0")
    assert "positive" in _bad(o.POSITIVE_FLOAT, "-0.01")
    assert _ok(o.PROBABILITY, "1") == 1.0
    assert "probability" in _bad(o.PROBABILITY, "1.5")


def test_lists_name_the_bad_entry():
    assert _ok(o.POSITIVE_INTS, "32, 64,128,") == (32, 64, 128)
    msg = _bad(o.POSITIVE_INTS, "32,abc")
    assert "entry 2" in msg and "'abc'" in msg
    assert "at least 1" in _bad(o.POSITIVE_INTS, "")
    assert "at least 1" in _bad(o.POSITIVE_INTS, ",")
    assert "repeats" in _bad(o.SEEDS, "0,0")
    pair = o.CommaList(o.RATIONAL, min_len=2, max_len=2)
    assert _ok(pair, "-5/4,2") == (Fraction(-5, 4), Fraction(2))
    assert "exactly 2" in _bad(pair, "1")
    assert "entry 1" in _bad(o.POSITIVE_FLOATS, "nan,1")


def test_widths_accept_lists_and_log2_ranges():
    assert _ok(o.WIDTHS, "6..8") == (64, 128, 256)
    assert _ok(o.WIDTHS, "64,128") == (64, 128)
    for bad in ("8..6", "6..99", "a..b", "6..", "0,64", "32.5"):
        _bad(o.WIDTHS, bad)


def test_rationals_are_exact():
    assert _ok(o.RATIONAL, "1/3") == Fraction(1, 3)
    assert _ok(o.RationalList(), "-1/2, 0, 0.25") == (Fraction(-1, 2), 0, Fraction(1, 4))
    _bad(o.RATIONAL, "1/0")
    _bad(o.RATIONAL, "nan")
    assert "positive" in _bad(o.Rational(positive=True), "0")


def test_output_file(tmp_path):
    assert _ok(o.OutputFile(".png"), str(tmp_path / "a" / "b" / "fig")) == tmp_path / "a" / "b" / "fig.png"
    assert not (tmp_path / "a").exists(), "checking an output path must not create anything"
    assert _ok(o.OutputFile(".png"), str(tmp_path / "fig.PNG")) == tmp_path / "fig.PNG"
    assert "empty" in _bad(o.OutputFile(".png"), "")
    assert "must end in .png" in _bad(o.OutputFile(".png"), str(tmp_path / "fig.jpg"))
    assert "is a directory" in _bad(o.OutputFile(), str(tmp_path))
    (tmp_path / "f").write_text("x")
    assert "is a file" in _bad(o.OutputFile(), str(tmp_path / "f" / "x.csv"))
    assert "is a file" in _bad(o.OutputDir(), str(tmp_path / "f"))
    assert "is a file" in _bad(o.OutputDir(), str(tmp_path / "f" / "sub"))
    assert _ok(o.OutputDir(), str(tmp_path / "new" / "dir")) == tmp_path / "new" / "dir"
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]


def test_output_file_in_unwritable_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root: permission bits do not stop it; use a read-only file system
            ro = Path("/proc/infwidth-test")
        assert "not writable" in _bad(o.OutputFile(".csv"), str(ro / "x.csv"))
        assert "not writable" in _bad(o.OutputDir(), str(ro / "sub"))
    finally:
        (tmp_path / "ro").chmod(0o700)


def _files(tmp_path):
    np.save(tmp_path / "ok.npy", np.ones((3, 2)))
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    np.save(tmp_path / "zero.npy", np.zeros((0, 4)))
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    raw = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(raw[:-8])
    np.savez(tmp_path / "ok.npz", words=np.array(["a"]), vectors=np.ones((1, 2)))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08 not really gzip")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 " * 10)
    (tmp_path / "dir.npy").mkdir()


@pytest.mark.parametrize("name, problem", [
    ("empty.npy", "0 bytes"), ("str.npy", "numeric"), ("zero.npy", "at least one row"),
    ("junk.npy", "not a .npy"), ("short.npy", "truncated"), ("missing.npy", "does not exist"),
    ("dir.npy", "directory"), ("ok.npz", "not a .npy"), ("bad.npz", None), ("bad.gz", None), ("latin.txt", None),
])
def test_input_file_checks(tmp_path, name, problem):
    _files(tmp_path)
    fmt = {"npy": ("npy",), "npz": ("npy",), "gz": ("gz", "text"), "txt": ("text",)}[name.split(".")[-1]]
    if name == "bad.npz":
        fmt = ("npz",)
    with pytest.raises(InfwidthError) as e:
        check_input_file(tmp_path / name, fmt)
    assert problem is None or problem in str(e.value)
    assert str(tmp_path / name) in str(e.value)


def test_input_file_accepts_good_files(tmp_path):
    _files(tmp_path)
    assert load_array(tmp_path / "ok.npy").shape == (3, 2)
    check_input_file(tmp_path / "ok.npz", ("npz",), npz_keys=("words", "vectors"))
    with pytest.raises(InfwidthError, match="no array named"):
        check_input_file(tmp_path / "ok.npz", ("npz",), npz_keys=("embeddings",))


def test_device_and_names():
    assert _ok(o.DEVICE, "cpu") == "cpu"
    assert "not a torch device" in _bad(o.DEVICE, "bogus")
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA device" in _bad(o.DEVICE, "cuda")
    assert "no CUDA device" in _bad(o.DEVICE, "cuda:99") or "CUDA device(s)" in _bad(o.DEVICE, "cuda:99")
    t = o.Name(lambda: ["sp", "mup"], "parametrization")
    assert _ok(t, "mup") == "mup"
    assert "unknown parametrization 'bogus'; use one of: sp, mup" in _bad(t, "bogus")
    assert _ok(o.CommaList(t), "sp,mup") == ("sp", "mup")
    assert "plain file name" in _bad(o.STEM, "a/b")
    assert "non-empty" in _bad(o.TEXT, " ")


def test_json_has_no_nan():
    obj = {"a": float("nan"), "b": [np.float64("inf"), np.float32(1.5), np.int64(3)], "c": np.array([1.0, np.nan]),
           "d": (Path("x"), Fraction(1, 2)), 4: -math.inf}
    text = dumps(obj)
    assert json.loads(text) == {"a": None, "b": [None, 1.5, 3], "c": [1.0, None], "d": ["x", "1/2"], "4": None}
    assert "NaN" not in text and "Infinity" not in text
    assert json_safe(True) is True


def test_known_errors_and_bugs():
    assert "not enough memory" in known_error(MemoryError("Unable to allocate 26.8 GiB"))
    assert "not enough memory" in known_error(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory"))
    assert "corrupt" in known_error(EOFError("No data left in file"))
    assert "'/x/y'" in known_error(FileNotFoundError(2, "No such file or directory", "/x/y"))
    assert known_error(ValueError("a bug")) is None
    assert known_error(AttributeError("a bug")) is None
    assert known_error(OSError("no file involved")) is None


def test_boundary_exit_codes_and_json(capsys, tmp_path):
    code, out, err = run_cli(["classify", "--depth", "abc", "--json"], capsys)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert json.loads(out)["exit_code"] == 2 and "--depth" in json.loads(out)["error"]
    code, out, err = run_cli(["classify", "--parametrization", "bogus", "--depth", "2"], capsys)
    assert code == 2 and err.count("\n") == 1 and out == ""
    empty = tmp_path / "e.npy"
    empty.write_bytes(b"")  # the 0-byte .npy used to exit 130 ("interrupted."): click took its EOFError for Ctrl-C
    code, _, err = run_cli(["kernel", "--kind", "ntk", "--inputs", str(empty)], capsys)
    assert code == 2 and "0 bytes" in err and err.startswith("error: ")


def test_a_bug_keeps_its_traceback(monkeypatch):
    """The boundary maps only known errors: an unexpected exception propagates (a traceback, exit 1)."""
    import infwidth.cli.parametrization_cmds as cmds
    from infwidth.cli import main

    def broken(p):
        raise ZeroDivisionError("a bug in classify")

    monkeypatch.setattr(cmds, "classify", broken)
    with pytest.raises(ZeroDivisionError, match="a bug in classify"):
        main(["classify", "--parametrization", "mup", "--depth", "2"])
