"""Typed click options: every number, list, path, device and name a command takes is checked here.

A value is checked when click parses the command line, before any work is done; a bad one becomes
one ``error:`` sentence and exit code 2 (see ``infwidth.cli.main``). Use these instead of ``type=int``,
``type=float`` or a bare string that the command parses itself:

* numbers: ``POSITIVE_INT`` (>= 1), ``NONNEG_INT`` (>= 0), ``SEED``, ``FINITE_FLOAT``, ``POSITIVE_FLOAT``
  (> 0), ``NONNEG_FLOAT`` (>= 0), ``PROBABILITY`` ([0, 1]), or ``Int(min, max)`` / ``Float(min, max)``;
  integers may be written ``1e6``; ``nan``, ``inf`` and ``1e400`` are refused by every float type;
* exact exponents: ``RATIONAL`` (``"1/2"``, ``"-0.5"``), ``RationalList()`` (``"-1/2,0,1/2"``);
* lists: ``CommaList(item)`` of any of the above or of a ``Name`` (``"64,128,256"``), and ``WIDTHS``,
  which also accepts the log2 range ``"6..12"`` (= 64, 128, ..., 4096);
* paths: ``OutputFile(suffix)`` / ``OutputDir()`` (writable: "" refused, an existing directory where a
  file is expected refused, the nearest existing parent must be a writable directory; nothing is created
  here) and ``InputFile(formats)`` / ``InputDir()`` (existing; ``.npy``/``.npz``/``.gz``/``.zip`` contents
  checked by :func:`infwidth.io.check_input_file`);
* ``DEVICE`` (a torch device that exists on this machine), ``Name(names, what)`` (one name of a
  registry, listing the allowed names), ``Spec(parser, what)`` (a value checked by a library parser that
  raises ``InfwidthError``), ``STEM`` (a file stem) and ``Text()`` (free text, non-empty).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn

import click

from infwidth.errors import InfwidthError

INT_LIMIT = 2**63 - 1  # the largest integer torch and numpy index with


class InfwidthType(click.ParamType):
    """Base class of infwidth's option types (the fuzz test knows how to feed junk to each subclass)."""

    def fail_with(self, sentence: str, param: click.Parameter | None, ctx: click.Context | None) -> NoReturn:
        """Raise click's BadParameter with ``sentence`` (click prefixes the option name)."""
        self.fail(sentence, param, ctx)
        raise AssertionError("unreachable")  # click's fail() always raises


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else repr(str(value))


class Int(InfwidthType):
    """An integer in ``[min, max]``. Accepts ``64``, ``+64``, ``1e6`` (an exact integer); refuses ``32.5``.

    ``size``: the command's memory or time grows with this value, so the command checks a resource
    estimate before allocating (``infwidth.resources``); the fuzz test feeds such options huge values.
    """

    name = "integer"

    def __init__(self, min: int | None = None, max: int | None = None, example: str | None = None,
                 size: bool = False) -> None:
        self.min, self.max, self.size = min, INT_LIMIT if max is None else max, size
        self.example = example or str(8 if min is None or min <= 8 else min)

    def describe(self) -> str:
        """Words for the allowed values, e.g. "a positive integer"."""
        if self.min == 1 and self.max == INT_LIMIT:
            return "a positive integer"
        if self.min == 0 and self.max == INT_LIMIT:
            return "a non-negative integer"
        lo = "" if self.min is None else f" >= {self.min}"
        hi = "" if self.max == INT_LIMIT else (" and" if lo else "") + f" <= {self.max}"
        return f"an integer{lo}{hi}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        n = value if isinstance(value, int) and not isinstance(value, bool) else _parse_int(str(value))
        if n is None:
            self.fail_with(f"{_show(value)} is not {self.describe()} (e.g. {self.example}).", param, ctx)
        if (self.min is not None and n < self.min) or n > self.max:
            self.fail_with(f"{n} is out of range: give {self.describe()} (e.g. {self.example}).", param, ctx)
        return n


def _parse_int(text: str) -> int | None:
    """``"64"``, ``"1e6"`` or ``"2.0"`` -> int; anything that is not exactly an integer -> None."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        return None
    if not math.isfinite(x) or not x.is_integer() or abs(x) > INT_LIMIT:
        return None
    return int(x)


class Float(InfwidthType):
    """A finite float in ``[min, max]`` (``min_open``: strictly above ``min``). nan/inf are refused."""

    name = "number"

    def __init__(self, min: float | None = None, max: float | None = None, min_open: bool = False,
                 example: str = "0.5") -> None:
        self.min, self.max, self.min_open, self.example = min, max, min_open, example

    def describe(self) -> str:
        """Words for the allowed values, e.g. "a positive finite number"."""
        if self.min == 0 and self.max is None:
            return "a positive finite number" if self.min_open else "a finite number >= 0"
        if self.min == 0 and self.max == 1 and not self.min_open:
            return "a probability between 0 and 1"
        lo = "" if self.min is None else (" > " if self.min_open else " >= ") + f"{self.min:g}"
        hi = "" if self.max is None else (" and" if lo else "") + f" <= {self.max:g}"
        return f"a finite number{lo}{hi}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            x = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            self.fail_with(f"{_show(value)} is not {self.describe()} (e.g. {self.example}).", param, ctx)
        if not math.isfinite(x):
            self.fail_with(f"{_show(value)} is not finite: give {self.describe()} (e.g. {self.example}).", param, ctx)
        below = self.min is not None and (x <= self.min if self.min_open else x < self.min)
        if below or (self.max is not None and x > self.max):
            self.fail_with(f"{x:g} is out of range: give {self.describe()} (e.g. {self.example}).", param, ctx)
        return x


class Rational(InfwidthType):
    """An exact rational exponent: ``1/2``, ``-0.5``, ``3`` (a ``fractions.Fraction``)."""

    name = "rational"

    def __init__(self, positive: bool = False) -> None:
        self.positive = positive
        self.example = "1/32" if positive else "1/2"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Fraction:
        from infwidth.parametrization.rational import to_fraction

        if isinstance(value, Fraction):
            q = value
        else:
            try:
                q = to_fraction(str(value), _show(value))
            except InfwidthError:
                self.fail_with(f"{_show(value)} is not a rational number; use forms like 1/2, -0.5 or 3.", param, ctx)
        if self.positive and q <= 0:
            self.fail_with(f"{q} must be positive, e.g. 1/32.", param, ctx)
        return q


class CommaList(InfwidthType):
    """Comma-separated values of ``item`` (empty entries skipped), with ``min_len <= length <= max_len``.

    Returns a tuple. Each entry is checked by ``item``; the message names the bad entry.
    """

    def __init__(self, item: click.ParamType, min_len: int = 1, max_len: int | None = None,
                 unique: bool = False, example: str | None = None) -> None:
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique
        self.name = f"list of {item.name}"
        self.example = example or ",".join([str(getattr(item, "example", "x"))] * max(1, min_len))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        if isinstance(value, (tuple, list)):
            parts: list[Any] = list(value)
        else:
            parts = [p.strip() for p in str(value).split(",") if p.strip()]
        return self._check_items(parts, value, param, ctx)

    def _check_items(self, parts: list[Any], value: Any, param: click.Parameter | None,
                     ctx: click.Context | None) -> tuple[Any, ...]:
        n = len(parts)
        if n < self.min_len or (self.max_len is not None and n > self.max_len):
            want = (f"exactly {self.min_len}" if self.min_len == self.max_len else
                    f"{self.min_len} to {self.max_len}" if self.max_len is not None else f"at least {self.min_len}")
            self.fail_with(f"{_show(value)} has {n} entr{'y' if n == 1 else 'ies'}; give {want} "
                           f"comma-separated values like {self.example!r}.", param, ctx)
        out = []
        for i, part in enumerate(parts):
            try:
                out.append(self.item.convert(part, None, ctx))
            except click.BadParameter as e:
                self.fail_with(f"entry {i + 1} of {_show(value)}: {e.message}", param, ctx)
        if self.unique and len(set(out)) != len(out):
            self.fail_with(f"{_show(value)} repeats a value; give each value once.", param, ctx)
        return tuple(out)


class Widths(CommaList):
    """Positive integer widths: ``"64,128,256"`` or the log2 range ``"6..12"`` (= 2^6 .. 2^12)."""

    def __init__(self, max_log2: int = 20, min_len: int = 1) -> None:
        super().__init__(SIZE, min_len=min_len, example="64,128,256")
        self.max_log2 = max_log2
        self.name = "widths"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        text = str(value).strip() if not isinstance(value, (tuple, list)) else ""
        if ".." not in text:
            return super().convert(value, param, ctx)
        lo_text, _, hi_text = text.partition("..")
        lo, hi = _parse_int(lo_text), _parse_int(hi_text)
        if lo is None or hi is None or not 0 <= lo <= hi <= self.max_log2:
            self.fail_with(f"{text!r} is not a log2 range: give bounds like 6..12 "
                           f"(0 <= lo <= hi <= {self.max_log2}).", param, ctx)
        return self._check_items([2**k for k in range(lo, hi + 1)], value, param, ctx)


class RationalList(CommaList):
    """Comma-separated exact exponents, e.g. ``"-1/2,0,1/2"`` (a tuple of Fractions)."""

    def __init__(self, min_len: int = 1, max_len: int | None = None) -> None:
        super().__init__(Rational(), min_len=min_len, max_len=max_len, example="-1/2,0,1/2")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def writable_problem(path: Path, want_dir: bool) -> str | None:
    """Why ``path`` cannot be written as a file (``want_dir`` False) or a directory, or None if it can.

    Checks, without creating anything: a non-empty name; an existing directory where a file is wanted
    (or an existing file where a directory is wanted); the nearest existing ancestor is a writable
    directory (a probe file is created there and removed at once, so read-only file systems are found).
    """
    if str(path) in ("", "."):
        return None if want_dir else "is empty; give a file name"
    if path.exists():
        if want_dir and not path.is_dir():
            return f"{str(path)!r} is a file, not a directory"
        if not want_dir and path.is_dir():
            return f"{str(path)!r} is a directory; give a file name inside it"
    base = _nearest_existing(path if want_dir or not path.exists() else path.parent)
    if not base.is_dir():
        return f"{str(base)!r} is a file, so {str(path)!r} cannot be created under it"
    if not os.access(base, os.W_OK | os.X_OK) or not _probe(base):
        return f"{str(base)!r} is not writable"
    return None


def _probe(directory: Path) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


class OutputFile(InfwidthType):
    """A file the command will write (a ``Path``). ``suffix``: the file type; a name without a suffix gets
    it appended (the returned path is the one written and reported), another suffix is refused."""

    name = "file"

    def __init__(self, suffix: str | None = None) -> None:
        self.suffix = suffix

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        text = str(value)
        if text.strip() == "":
            self.fail_with("is empty; give a file name" + (f" like out{self.suffix}." if self.suffix else "."),
                           param, ctx)
        path = Path(text).expanduser()
        if self.suffix is not None and path.suffix.lower() != self.suffix:
            if path.suffix and not path.is_dir():
                self.fail_with(f"{text!r} must end in {self.suffix}.", param, ctx)
            if not path.is_dir():
                path = path.with_name(path.name + self.suffix)
        problem = writable_problem(path, want_dir=False)
        if problem is not None:
            self.fail_with(f"cannot write {str(path)!r}: {problem}.", param, ctx)
        return path


class OutputDir(InfwidthType):
    """A directory the command will write into (a ``Path``; created by the command when it writes)."""

    name = "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        text = str(value)
        if text.strip() == "":
            self.fail_with("is empty; give a directory name like results.", param, ctx)
        path = Path(text).expanduser()
        problem = writable_problem(path, want_dir=True)
        if problem is not None:
            self.fail_with(f"cannot write into {text!r}: {problem}.", param, ctx)
        return path


class InputFile(InfwidthType):
    """An existing, non-empty file whose contents match its suffix (a ``Path``).

    ``formats``: the accepted kinds among ``npy``, ``npz``, ``gz``, ``zip``, ``bin`` and ``text`` (``text``:
    any other suffix, read as UTF-8). ``npz_keys``: arrays an ``.npz`` must hold.
    See :func:`infwidth.io.check_input_file`.
    """

    name = "file"

    def __init__(self, formats: Sequence[str] = ("npy",), npz_keys: Sequence[str] = ()) -> None:
        self.formats, self.npz_keys = tuple(formats), tuple(npz_keys)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from infwidth.io import check_input_file

        try:
            return check_input_file(str(value), self.formats, self.npz_keys)
        except InfwidthError as e:
            self.fail_with(str(e), param, ctx)


class InputDir(InfwidthType):
    """An existing directory (a ``Path``)."""

    name = "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        text = str(value)
        path = Path(text).expanduser()
        if text.strip() == "" or not path.is_dir():
            what = "is empty" if text.strip() == "" else ("is a file" if path.exists() else "does not exist")
            self.fail_with(f"{text!r} {what}; give an existing directory.", param, ctx)
        return path


class Device(InfwidthType):
    """A torch device that exists here: ``cpu``, ``cuda``, ``cuda:N`` (N < device count) or ``mps``."""

    name = "device"
    example = "cpu"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        import torch

        try:
            dev = torch.device(text)
        except (RuntimeError, ValueError):
            self.fail_with(f"{text!r} is not a torch device; use cpu, cuda or cuda:0.", param, ctx)
        if dev.type == "cuda":
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if n == 0 or (dev.index is not None and dev.index >= n):
                have = "this PyTorch build sees no CUDA device" if n == 0 else f"only {n} CUDA device(s) exist"
                self.fail_with(f"{text!r} is not available: {have}; use --device cpu.", param, ctx)
        elif dev.type == "mps":
            if not torch.backends.mps.is_available():
                self.fail_with(f"{text!r} is not available on this machine; use --device cpu.", param, ctx)
        elif dev.type != "cpu":
            self.fail_with(f"{text!r} is not supported; use cpu or cuda.", param, ctx)
        return text


class Name(InfwidthType):
    """One name of a registry. ``names``: the names, or a function returning them (imported lazily);
    ``normalize``: how a typed name maps onto a registry key (e.g. case and ``-``/``_`` folding)."""

    def __init__(self, names: Iterable[str] | Callable[[], Iterable[str]], what: str = "name",
                 normalize: Callable[[str], str] = str.strip) -> None:
        self._names = names
        self.what, self.normalize = what, normalize
        self.name = what

    def names(self) -> list[str]:
        """The allowed names."""
        return list(self._names() if callable(self._names) else self._names)

    @property
    def example(self) -> str:
        return self.names()[0]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = self.normalize(str(value))
        names = self.names()
        if text not in names:
            self.fail_with(f"unknown {self.what} {str(value)!r}; use one of: {', '.join(names)}.", param, ctx)
        return text

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.names()) + "]"


class Spec(InfwidthType):
    """A value checked by a library ``parser`` that raises ``InfwidthError`` (the value itself is returned)."""

    def __init__(self, parser: Callable[[str], Any], what: str, example: str) -> None:
        self.parser, self.name, self.example = parser, what, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            self.parser(text)
        except InfwidthError as e:
            self.fail_with(str(e), param, ctx)
        return text


class Text(InfwidthType):
    """A string that passes ``check`` (e.g. free one-line text, a file stem); ``rule`` says what is allowed."""

    def __init__(self, check: Callable[[str], bool], rule: str, what: str = "text", example: str = "x") -> None:
        self.check, self.rule, self.name, self.example = check, rule, what, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not self.check(text):
            self.fail_with(f"{text!r} is not {self.rule}.", param, ctx)
        return text


def _is_stem(text: str) -> bool:
    return text not in ("", ".", "..") and all(ch.isascii() and (ch.isalnum() or ch in "-_.+=") for ch in text)


POSITIVE_INT = Int(min=1)
SIZE = Int(min=1, size=True)  # a count that memory or time grows with (checked by a resource estimate)
NONNEG_INT = Int(min=0)
SEED = Int(min=0, max=2**32 - 1, example="0")
THREADS = Int(min=1, max=1024, example="2")
FINITE_FLOAT = Float()
POSITIVE_FLOAT = Float(min=0.0, min_open=True)
NONNEG_FLOAT = Float(min=0.0)
PROBABILITY = Float(min=0.0, max=1.0)
RATIONAL = Rational()
WIDTHS = Widths()
DEVICE = Device()
STEM = Text(_is_stem, "a plain file name (letters, digits and -_.+= only)", "stem", "run1")
TEXT = Text(lambda t: bool(t.strip()) and t.isprintable(), "non-empty printable text on one line")
POSITIVE_INTS = CommaList(POSITIVE_INT, example="64,128")
SIZES = CommaList(SIZE, example="64,128")
NONNEG_INTS = CommaList(NONNEG_INT, example="0,1")
SEEDS = CommaList(SEED, unique=True, example="0,1,2")
FINITE_FLOATS = CommaList(FINITE_FLOAT, example="1,-1,0.5")
POSITIVE_FLOATS = CommaList(POSITIVE_FLOAT, example="1e-3,1e-2")
NONNEG_FLOATS = CommaList(NONNEG_FLOAT, example="0,0.5,1")
