"""Shared CLI plumbing: output as a table or one JSON object, and the --json flag."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of a table."
)


def print_json(obj: Any) -> None:
    """Print ``obj`` as one JSON document on stdout."""
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a readable table with rich (falls back to plain text when piped)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for h in header:
        table.add_column(h)
    for row in rows:
        table.add_row(*row)
    Console(file=sys.stdout, soft_wrap=False, width=max(100, Console().width)).print(table)


def info(message: str) -> None:
    """A status line on stderr (keeps stdout clean for --json)."""
    click.echo(message, err=True)


def load_array(path: str, option: str) -> Any:
    """A numeric .npy array given on the command line (InfwidthError for a missing, unreadable or empty file)."""
    import numpy as np

    from infwidth.errors import InfwidthError

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InfwidthError(f"{option}: cannot read {path} as a .npy array ({e}); save it with numpy.save.") from None
    if not isinstance(arr, np.ndarray) or arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        raise InfwidthError(f"{option}: {path} must hold a non-empty numeric array.")
    return arr
