"""Shared CLI plumbing: output as a table or one JSON object, and the --json flag."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of a table."
)

force_option = click.option(
    "--force", is_flag=True,
    help="Run even when the resource estimate (memory, time) says it will not fit; experiments: also "
    "replace finished results in the output folder.",
)


def print_json(obj: Any) -> None:
    """Print ``obj`` as one standard JSON document on stdout (NaN/inf -> null: ``infwidth.io.json_safe``)."""
    from infwidth.io import dumps

    click.echo(dumps(obj))


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

