"""Fuzz every option of every command with junk: exit code 2, one ``error:`` line, no traceback, nothing written.

Commands are enumerated from the click group, so a command added later is covered without editing this
file. Two rules hold it to the option layer (``infwidth.cli.options``):

1. ``test_every_option_is_typed``: every option and argument has a type from ``infwidth.cli.options``,
   a ``click.Choice`` or is a flag; a plain ``type=int``/``float``/string option fails here, naming it.
2. ``test_junk_is_refused[command]``: hypothesis draws an option of the command and a junk value built for
   that option's type (text, empty, 0, negative, nan, inf, huge, unicode, missing files, directories,
   unwritable paths, corrupt files); the other required options get valid examples. The command runs
   in-process through the real entry point (``infwidth.cli.main``) under click's CliRunner isolation,
   in a temporary working directory; an alarm stops a command that starts working instead of refusing.

Sizes: ``Int(size=True)`` options (memory or time grows with them) also get huge values, which the
command's resource estimate must refuse.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _cli import run_in_process
from infwidth.cli import cli
from infwidth.cli import options as o

REPO = Path(__file__).resolve().parents[1]
EXAMPLES_PER_COMMAND = int(os.environ.get("INFWIDTH_FUZZ_EXAMPLES", "40"))


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = dict(_commands(cli))


def _is_flag(p: click.Parameter) -> bool:
    return isinstance(p, click.Option) and (p.is_flag or p.count)


def _fuzzable(cmd: click.Command) -> list[click.Parameter]:
    return [p for p in cmd.params if not _is_flag(p) and p.name != "help"]


# ---------------------------------------------------------------- fixtures (one tree per test process)
FX = Path(tempfile.mkdtemp(prefix="infwidth-fuzz-fx-"))
atexit.register(shutil.rmtree, FX, True)


def _make_fixtures() -> None:
    (FX / "adir").mkdir()
    (FX / "afile.txt").write_text("plain text\n")
    np.save(FX / "ok.npy", np.random.default_rng(0).standard_normal((4, 3)))
    np.savez(FX / "ok.npz", words=np.array(["a", "b"]), vectors=np.eye(2))
    (FX / "run").mkdir()
    np.savez(FX / "run" / "vectors.npz", words=np.array(["a", "b"]), vectors=np.eye(2))
    (FX / "ok.gz").write_bytes(__import__("gzip").compress(b"a b c\n"))
    with __import__("zipfile").ZipFile(FX / "ok.zip", "w") as z:
        z.writestr("text8", "a b c\n")
    (FX / "ok.bin").write_bytes(b"2 2\n")
    for kind in ("npy", "npz", "gz", "zip", "bin", "txt"):
        (FX / f"empty.{kind}").write_bytes(b"")
        (FX / f"corrupt.{kind}").write_bytes(b"\x00\xff garbage \xfe\x80" * 3)
    np.save(FX / "str.npy", np.array(["a", "b"]))
    np.save(FX / "zero.npy", np.zeros((0, 3)))
    (FX / "missing").mkdir()


_make_fixtures()
UNWRITABLE = "/proc/infwidth-fuzz/x"  # /proc refuses new files even for root
GOOD_FILE = {"npy": FX / "ok.npy", "npz": FX / "ok.npz", "gz": FX / "ok.gz", "zip": FX / "ok.zip",
             "bin": FX / "ok.bin", "text": FX / "afile.txt"}

# ---------------------------------------------------------------- junk per option type
LETTERS = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12)
TEXT_JUNK = ["", " ", "abc", "☃", "naïve", "1,,x", "--", "0x1f", "1/2/3"]


def _int_junk(t: o.Int, sizes: bool = True) -> st.SearchStrategy[str]:
    fixed = [*TEXT_JUNK, "1.5", "nan", "inf", "-inf", "1e400", "10**9", str(2**70)]
    parts = [st.sampled_from(fixed), LETTERS,
             st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not float(x).is_integer()).map(repr)]
    if t.min is not None:
        parts.append(st.integers(max_value=t.min - 1).map(str))
    if t.max < o.INT_LIMIT:
        parts.append(st.integers(min_value=t.max + 1).map(str))
    if t.size and sizes:
        parts.append(st.integers(min_value=10**12, max_value=10**15).map(str))
    return st.one_of(parts)


def _float_junk(t: o.Float) -> st.SearchStrategy[str]:
    parts = [st.sampled_from([*TEXT_JUNK, "nan", "NaN", "inf", "-inf", "1e400", "-1e400"]), LETTERS]
    if t.min is not None:
        below = st.floats(max_value=t.min, allow_nan=False, allow_infinity=False)
        parts.append((below.filter(lambda x: x < t.min) if not t.min_open else below).map(repr))
    if t.max is not None:
        parts.append(st.floats(min_value=t.max, allow_nan=False, allow_infinity=False)
                     .filter(lambda x: x > t.max).map(repr))
    return st.one_of(parts)


def _names(t: click.ParamType) -> list[str]:
    return t.names() if isinstance(t, o.Name) else list(t.choices)  # type: ignore[attr-defined]


def _path_junk(t: click.ParamType) -> list[str]:
    fx = str(FX)
    if isinstance(t, o.OutputFile):
        out = ["", " ", f"{fx}/adir", f"{fx}/afile.txt/x", UNWRITABLE]
        if t.suffix:
            out.append(f"{fx}/new/out.wrongsuffix")
        return out
    if isinstance(t, o.OutputDir):
        return ["", " ", f"{fx}/afile.txt", f"{fx}/afile.txt/sub", UNWRITABLE]
    if isinstance(t, o.InputDir):
        return ["", f"{fx}/nowhere", f"{fx}/afile.txt"]
    assert isinstance(t, o.InputFile)
    kinds = [k for k in t.formats if k != "text"]
    out = ["", f"{fx}/nowhere.npy", f"{fx}/adir", *[f"{fx}/empty.{k}" for k in kinds],
           *[f"{fx}/corrupt.{k}" for k in kinds if k not in ("bin",)]]
    if "npy" in kinds:
        out += [f"{fx}/str.npy", f"{fx}/zero.npy"]
    if "npz" in kinds and t.npz_keys:
        out.append(f"{fx}/corrupt.npz")
    if "text" in t.formats:
        out.append(f"{fx}/empty.txt")
    else:
        out.append(f"{fx}/afile.txt")
    return out


def junk(t: click.ParamType, sizes: bool = True) -> st.SearchStrategy[str]:
    """Values the option type ``t`` must refuse (``sizes``: also huge values of size options, which the type
    accepts and the command's resource estimate must refuse)."""
    if isinstance(t, o.Int):
        return _int_junk(t, sizes)
    if isinstance(t, o.Float):
        return _float_junk(t)
    if isinstance(t, o.Rational):
        fixed = [*TEXT_JUNK, "1/0", "nan", "inf", "-inf"] + (["0", "-1/2"] if t.positive else [])
        return st.one_of(st.sampled_from(fixed), LETTERS.filter(lambda s: s.lower() not in ("nan", "inf")))
    if isinstance(t, o.Widths):
        return st.one_of(st.sampled_from(["", ",", "8..6", "0..99", "a..b", "6..", "64,0", "64,abc", "64,-1"]),
                         _int_junk(o.SIZE, sizes).map(lambda j: f"64,{j}" if j.strip() else ","))
    if isinstance(t, o.CommaList):
        ok = str(_example(t.item))
        extra = [","] if t.min_len else []
        if t.max_len is not None:
            extra.append(",".join([ok] * (t.max_len + 1)))
        if t.min_len > 1:
            extra.append(ok)
        if t.unique:
            extra.append(f"{ok},{ok}" if t.max_len is None or t.max_len >= 2 else ok)
        return st.one_of(st.sampled_from(extra or [","]),
                         junk(t.item, sizes).filter(lambda j: "," not in j and j.strip()).map(lambda j: f"{ok},{j}"))
    if isinstance(t, (o.OutputFile, o.OutputDir, o.InputDir, o.InputFile)):
        return st.sampled_from(_path_junk(t))
    if isinstance(t, o.Device):
        return st.sampled_from(["", "bogus", "cuda:99", "tpu", "☃", "cpu:abc"])
    if isinstance(t, (o.Name, click.Choice)):
        names = set(_names(t))
        return st.one_of(st.sampled_from(["", "bogus", "☃"]), LETTERS).filter(
            lambda s: s not in names and getattr(t, "normalize", str)(s) not in names)
    if isinstance(t, o.Spec):
        return st.sampled_from(["", "bogus", "☃", "x" * 300, "width:-1", "a=", "=b"])
    if isinstance(t, o.Text):
        return st.sampled_from(["", " ", "a\nb", "\x00"]).filter(lambda s: not t.check(s))
    if isinstance(t, o.InfwidthType):
        raise AssertionError(f"no junk strategy for option type {type(t).__name__}: add one to tests/test_cli_fuzz.py")
    # A plain click type (int, float, str, Path): test_every_option_is_typed already fails; junk of every kind
    # shows what the command does with it.
    return st.sampled_from(["", "abc", "0", "-1", "nan", "inf", "1e400", "☃", f"{FX}/nowhere", f"{FX}/adir",
                            f"{FX}/afile.txt/x", UNWRITABLE])


# Valid values for options whose type's example is not enough (keyed by the option's name).
SPECIAL_EXAMPLES = {"panels": f"A={FX}/run"}


def _example(t: click.ParamType) -> str:
    if isinstance(t, (o.InputFile,)):
        return str(GOOD_FILE[t.formats[0]])
    if isinstance(t, o.InputDir):
        return str(FX / "adir")
    if isinstance(t, (o.OutputFile, o.OutputDir)):
        return "fuzz-out" + (t.suffix or "" if isinstance(t, o.OutputFile) else "")
    if isinstance(t, click.Choice):
        return str(t.choices[0])
    if not isinstance(t, o.InfwidthType):
        return "1"  # a plain click type
    example = getattr(t, "example", None)
    assert example is not None, f"option type {type(t).__name__} has no example value"
    return str(example)


def _required_args(cmd: click.Command, skip: click.Parameter) -> list[str]:
    args: list[str] = []
    for p in cmd.params:
        if p is skip or not p.required:
            continue
        value = SPECIAL_EXAMPLES.get(p.name or "") or _example(p.type)
        try:
            p.type.convert(value, p, None)  # the example itself must be valid, or the fuzz would test nothing
        except click.BadParameter as e:
            pytest.fail(f"no valid example for the required option {p.name!r} ({e.format_message()}); give its "
                        "type an example or add one to SPECIAL_EXAMPLES in tests/test_cli_fuzz.py")
        args += [value] if isinstance(p, click.Argument) else [p.opts[0], value]
    return args


def _argv(path: tuple[str, ...], cmd: click.Command, p: click.Parameter, value: str) -> list[str]:
    """The command line: the junk first (so click processes it first), then valid required values."""
    mine = [value] if isinstance(p, click.Argument) else [p.opts[0], value]
    return [*path, *mine, *_required_args(cmd, p)]


def test_every_option_is_typed():
    untyped = [f"{' '.join(path)} {p.opts[0] if p.opts else p.name} ({type(p.type).__name__})"
               for path, cmd in COMMANDS.items() for p in _fuzzable(cmd)
               if not isinstance(p.type, (o.InfwidthType, click.Choice))]
    assert not untyped, ("options that parse their value by hand or accept anything; give them a type from "
                         "infwidth.cli.options: " + "; ".join(untyped))


def test_commands_are_found():
    assert len(COMMANDS) >= 20 and ("classify",) in COMMANDS and ("experiment", "maml") in COMMANDS


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: "-".join(p))
@settings(max_examples=EXAMPLES_PER_COMMAND, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_junk_is_refused(path, data):
    cmd = COMMANDS[path]
    params = _fuzzable(cmd)
    if not params:
        return
    p = data.draw(st.sampled_from(params), label="option")
    value = data.draw(junk(p.type), label="junk")
    argv = _argv(path, cmd, p, value)
    fixtures_before = _snapshot(FX)
    with tempfile.TemporaryDirectory(prefix="infwidth-fuzz-") as tmp:
        cwd = Path(tmp)
        code, out, err = run_in_process(argv, cwd)
        written = sorted(_snapshot(cwd))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    shown = f"infwidth {' '.join(map(repr, argv))}\nexit {code}\nstderr: {err[-600:]}\nstdout: {out[-300:]}"
    assert code == 2, shown
    assert "Traceback" not in err + out, shown
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert not written, f"{shown}\nwrote {written}"
    assert _snapshot(FX) == fixtures_before, f"{shown}\nchanged the fixture tree"


def test_nothing_written_in_the_repository():
    """Runs after the fuzz cases of this process: the working tree is as git left it (outputs with
    default names would land in the temporary working directories, never here)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no"], cwd=REPO,
                            capture_output=True, text=True).stdout
    fuzz_like = [ln for ln in status.splitlines() if "fuzz-out" in ln or ln.endswith(("sweep.sqlite", ".png"))]
    assert not fuzz_like, fuzz_like


def test_junk_strategies_only_make_junk():
    """The junk generators themselves: every value they make is refused by the type (a sanity check of
    the test, not of the commands)."""
    seen: set[int] = set()
    for path, cmd in COMMANDS.items():
        for p in _fuzzable(cmd):
            if id(p.type) in seen:
                continue
            seen.add(id(p.type))
            for value in _samples(junk(p.type, sizes=False)):  # huge sizes are refused later, by the estimate
                with pytest.raises(click.BadParameter):
                    p.type.convert(value, p, None)
                    print(f"accepted: {' '.join(path)} {p.name} {value!r}")


def _samples(strategy: st.SearchStrategy[str], n: int = 12) -> list[str]:
    out: list[str] = []

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(v: str) -> None:
        out.append(v)

    collect()
    return out

