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


def int_list(text: str, option: str) -> tuple[int, ...]:
    """Parse a comma-separated list of non-negative integers given to ``option`` ("0,1,2")."""
    from infwidth.errors import InfwidthError

    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        vals = ()
    if not vals or min(vals) < 0:
        raise InfwidthError(f"{option} must be a comma-separated list of non-negative integers, got {text!r}.")
    return vals
