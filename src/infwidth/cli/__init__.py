"""The ``infwidth`` command line.

Each command group lives in its own module under ``infwidth.cli`` and registers on
``cli`` (top-level commands) or ``experiment`` (``infwidth experiment NAME``).
Known errors (``InfwidthError``, bad options) print one ``error:`` sentence and exit 2.
"""

from __future__ import annotations

import sys

import click

from infwidth.errors import InfwidthError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="infwidth")
def cli() -> None:
    """infwidth: width-scaling theory of neural networks, made usable.

    Classify abc-parametrizations, train finite-width networks in any of them,
    compute infinite-width limits, and reproduce the papers' experiments.
    """


@cli.group()
def experiment() -> None:
    """Reproduce the papers' experiments (progress bars, checkpoints, --resume)."""


# Command modules register themselves on `cli` / `experiment` when imported.
# (ruff: E402/F401/I001 are ignored for this file in pyproject.toml; one line per module.)
from infwidth.cli import parametrization_cmds
from infwidth.cli import tour_cmd
from infwidth.cli import scaling_cmds
from infwidth.cli import word2vec_cmds
from infwidth.cli import kernel_cmds
from infwidth.cli import limits_cmds
from infwidth.cli import maml_cmds
from infwidth.cli import nn_cmds
from infwidth.cli import data_cmds


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning known errors into one sentence and exit code 2."""
    try:
        cli.main(args=argv, prog_name="infwidth", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(2)
    except InfwidthError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted.", err=True)
        sys.exit(130)
