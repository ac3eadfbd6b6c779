"""Atomic result files and checkpoints shared by every long computation, JSON without NaN, input checks.

Writes go to a temporary file in the same directory and are renamed into place,
so an interrupted run never leaves a half-written CSV, JSON or checkpoint.

JSON: every JSON this package writes (files and ``--json`` output) goes through :func:`json_safe`, which
turns NaN and +-inf (Python or NumPy floats) into ``null``, NumPy scalars/arrays into numbers/lists and
Paths into strings, so the output is standard JSON (``NaN``/``Infinity`` are not JSON).
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        f: IO[Any] = os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give results normal permissions
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/inf floats replaced by None, NumPy scalars and arrays by Python numbers and lists,
    tuples by lists and any other non-JSON leaf (Path, Fraction, ...) by its ``str``; dict keys by ``str``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays, torch tensors
    if callable(tolist) and type(obj).__module__.split(".")[0] in ("numpy", "torch"):
        return json_safe(tolist())
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Standard JSON text of ``obj`` (see :func:`json_safe`: NaN and inf become null)."""
    return json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, allow_nan=False)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented standard JSON (NaN/inf -> null, see :func:`json_safe`)."""
    with atomic_open(path) as f:
        f.write(dumps(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]],
              fieldnames: Sequence[str] | None = None) -> None:
    """Atomically write tidy rows (one dict per row) as CSV."""
    names = list(fieldnames) if fieldnames is not None else _union_keys(rows)
    with atomic_open(path) as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in names})


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a CSV file written by :func:`write_csv` (values as strings)."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Atomically ``torch.save`` a checkpoint dictionary."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(dict(state), f)


def load_checkpoint(path: str | os.PathLike[str], mmap: bool = False) -> dict[str, Any] | None:
    """Load a checkpoint written by :func:`save_checkpoint`, or None if absent.

    ``mmap``: memory-map the tensors instead of reading them into memory (for checkpoints of several GiB)."""
    import torch

    p = Path(path)
    if not p.exists():
        return None
    state: dict[str, Any] = torch.load(p, map_location="cpu", weights_only=False, mmap=mmap)
    return state


def refuse_overwrite(out: str | os.PathLike[str], finished: Sequence[str], resume: bool, force: bool) -> None:
    """Refuse to replace finished results: raise ``InfwidthError`` when ``out`` holds any of the files
    ``finished`` (names relative to ``out``, e.g. ``result.json``) unless ``resume`` (they will be reused or
    continued) or ``force`` (they will be replaced). Call it before any work; nothing is written."""
    from infwidth.errors import InfwidthError

    if resume or force:
        return
    found = [name for name in finished if (Path(out) / name).exists()]
    if found:
        raise InfwidthError(f"{str(out)!r} already holds finished results ({', '.join(found[:3])}); pass --resume to "
                            "reuse or continue them, --force to replace them, or choose another output folder.")


def rows_until(rows: Sequence[Mapping[str, Any]], key: str, last: int) -> list[dict[str, Any]]:
    """Rebuild a derived per-step table from a checkpoint's progress: the rows whose ``key`` is at most
    ``last`` (the checkpoint's step), one per value of ``key`` (the latest wins). A kill between writing the
    table and replacing the checkpoint leaves rows the checkpoint does not know; the resumed run redoes
    those steps, so keeping them would duplicate them."""
    by_key: dict[Any, dict[str, Any]] = {}
    for row in rows:
        if int(row[key]) <= last:
            by_key[int(row[key])] = dict(row)
    return [by_key[k] for k in sorted(by_key)]


def _union_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for k in row:
            keys.setdefault(k, None)
    return list(keys)


_BEGIN = "<!-- BEGIN GENERATED {name}: written by the command inside; a rerun replaces only this block -->"
_END = "<!-- END GENERATED {name} -->"


def write_generated_block(path: str | os.PathLike[str], name: str, text: str) -> None:
    """Atomically put ``text`` between the ``name`` markers of the Markdown file ``path``.

    Only the block is replaced; everything outside the markers (hand-written prose, other blocks) is
    kept. A file without that block gets it appended; a missing file is created with only the block.
    """
    begin, end = _BEGIN.format(name=name), _END.format(name=name)
    block = f"{begin}\n{text.rstrip()}\n{end}"
    p = Path(path)
    old = p.read_text(encoding="utf-8") if p.exists() else ""
    i = old.find(begin)
    j = old.find(end, i) if i >= 0 else -1
    if i >= 0 and j >= 0:
        new = old[:i] + block + old[j + len(end):]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    with atomic_open(p) as f:
        f.write(new)


_BINARY_KINDS = ("npy", "npz", "gz", "zip", "bin")


def check_input_file(path: str | os.PathLike[str], formats: Sequence[str] = ("npy",),
                     npz_keys: Sequence[str] = ()) -> Path:
    """Check that ``path`` is an existing, non-empty file whose contents match its kind; return it as a Path.

    ``formats``: accepted kinds, chosen by suffix: ``npy`` (a numeric array with at least one row; only
    the header is read), ``npz`` (a zip of arrays holding ``npz_keys``), ``gz`` (gzip), ``zip``, ``bin``
    (word2vec binary: a "count dim" first line) and ``text`` (any other suffix, UTF-8).
    Raises ``InfwidthError`` with one sentence naming the problem otherwise.
    """
    from infwidth.errors import InfwidthError

    text = str(path)
    p = Path(text).expanduser()
    if text.strip() == "":
        raise InfwidthError("the file name is empty; give the path of an existing file.")
    if not p.exists():
        raise InfwidthError(f"{text!r} does not exist; check the path.")
    if not p.is_file():
        raise InfwidthError(f"{text!r} is a directory, not a file.")
    try:
        if p.stat().st_size == 0:
            raise InfwidthError(f"{text!r} is empty (0 bytes); give a file with data.")
        kind = p.suffix.lower().lstrip(".")
        kind = kind if kind in _BINARY_KINDS else "text"
        if kind not in formats:
            raise InfwidthError(f"{text!r} is not a {' or '.join('.' + f for f in formats if f != 'text')} file"
                                + (" (or a text file)" if "text" in formats else "") + ".")
        problem = _CHECKS[kind](p, tuple(npz_keys))
    except OSError as e:
        raise InfwidthError(f"cannot read {text!r}: {e.strerror or e}.") from None
    if problem is not None:
        raise InfwidthError(f"{text!r} {problem}.")
    return p


def _check_npy(p: Path, _keys: tuple[str, ...]) -> str | None:
    import numpy as np

    fmt = np.lib.format
    with open(p, "rb") as f:  # the header only: no data is read
        try:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
            size = p.stat().st_size - f.tell()
        except (ValueError, EOFError, OSError, SyntaxError):
            return "is not a .npy array; save arrays with numpy.save"
    if dtype.kind not in "OV" and size < int(np.prod(shape)) * dtype.itemsize:
        return "is truncated (shorter than its header says)"
    if dtype.kind not in "biuf":
        return f"holds {dtype} values; give a numeric (float or integer) array"
    if len(shape) == 0 or shape[0] == 0:
        return f"has shape {tuple(shape)}: give at least one row"
    if any(s == 0 for s in shape[1:]):
        return f"has shape {tuple(shape)}: every dimension must be non-zero"
    return None


def _check_npz(p: Path, keys: tuple[str, ...]) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            names = {n.removesuffix(".npy") for n in z.namelist()}
    except (zipfile.BadZipFile, EOFError, ValueError):
        return "is not a valid .npz archive (corrupt or truncated); write it with numpy.savez"
    missing = [k for k in keys if k not in names]
    if missing:
        return f"has no array named {', '.join(missing)} (it holds: {', '.join(sorted(names)) or 'nothing'})"
    return None


def _check_gz(p: Path, _keys: tuple[str, ...]) -> str | None:
    import gzip
    import zlib

    try:
        with gzip.open(p, "rb") as f:
            f.read(1 << 16)
    except (gzip.BadGzipFile, EOFError, zlib.error):
        return "is not a valid gzip file (corrupt or truncated)"
    return None


def _check_zip(p: Path, _keys: tuple[str, ...]) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            if not z.namelist():
                return "is an empty zip archive"
    except (zipfile.BadZipFile, EOFError, ValueError):
        return "is not a valid zip archive (corrupt or truncated)"
    return None


def _check_bin(p: Path, _keys: tuple[str, ...]) -> str | None:
    with open(p, "rb") as f:
        head = f.readline(256).split()
    if len(head) != 2 or not all(h.isdigit() for h in head):
        return "is not a word2vec binary file (its first line must be 'count dim')"
    return None


def _check_text(p: Path, _keys: tuple[str, ...]) -> str | None:
    with open(p, "rb") as f:
        chunk = f.read(1 << 16)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(chunk) - 4:  # a multi-byte character cut by the chunk's end is fine
            return "is not UTF-8 text"
    return None


_CHECKS = {"npy": _check_npy, "npz": _check_npz, "gz": _check_gz, "zip": _check_zip, "bin": _check_bin,
           "text": _check_text}


def load_array(path: str | os.PathLike[str]) -> Any:
    """Load a numeric ``.npy`` checked by :func:`check_input_file` as a float64 (rows, features) matrix:
    a vector becomes one column, higher ranks are flattened per row."""
    import numpy as np

    arr = np.load(check_input_file(path, ("npy",)), allow_pickle=False)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    return arr.astype(np.float64)
