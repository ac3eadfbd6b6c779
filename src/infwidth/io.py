"""Atomic result files and checkpoints shared by every long computation.

Writes go to a temporary file in the same directory and are renamed into place,
so an interrupted run never leaves a half-written CSV, JSON or checkpoint.
"""

from __future__ import annotations

import csv
import json
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


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, default=str)
        f.write("\n")


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
