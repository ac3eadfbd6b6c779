"""The ``infwidth`` command line.

Each command group lives in its own module under ``infwidth.cli`` and registers on
``cli`` (top-level commands) or ``experiment`` (``infwidth experiment NAME``).
Options are typed (``infwidth.cli.options``): bad values are refused before any work. Known errors
(``InfwidthError``, bad options, file-format / path / memory errors) print one ``error:`` sentence and
exit 2 (see :func:`main`).
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


def run_args(args: list[str]) -> None:
    """Parse ``args`` and run the command, letting every exception through (no click error handling:
    click's own ``main`` would turn an EOFError from a file into "Aborted!", as if Ctrl-C was pressed)."""
    with cli.make_context("infwidth", list(args)) as ctx:
        cli.invoke(ctx)


def _memory_error(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text
                                            or type(e).__name__ == "OutOfMemoryError")


def known_error(e: BaseException) -> str | None:
    """One sentence for the errors a user's input can cause in libraries we call (file formats, paths,
    memory), or None for anything else: a bug, which must keep its traceback."""
    import errno
    import gzip
    import pickle
    import sqlite3
    import zipfile
    import zlib

    if _memory_error(e):
        first = str(e).strip().splitlines()[0] if str(e).strip() else "the allocator refused"
        return f"not enough memory ({first}); choose smaller sizes (see the command's --help)."
    if isinstance(e, (gzip.BadGzipFile, zipfile.BadZipFile, zlib.error, EOFError, pickle.UnpicklingError)) or (
            isinstance(e, RuntimeError) and "PytorchStreamReader" in str(e)):
        return f"a file is corrupt or truncated ({type(e).__name__}: {e}); recreate or re-download it."
    if isinstance(e, sqlite3.DatabaseError):
        return f"the store is not a usable SQLite database ({e}); give another --store path."
    if isinstance(e, OSError) and (e.filename is not None or e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)):
        where = f" {str(e.filename)!r}" if e.filename is not None else ""
        return f"cannot use{where}: {e.strerror or e}; check the path and its permissions."
    return None


def _fail(message: str, as_json: bool, code: int = 2) -> None:
    from infwidth.io import dumps

    message = " ".join(message.split())
    message = message if message.endswith((".", "?", "!", ")")) else message + "."
    if as_json:
        click.echo(dumps({"error": message, "exit_code": code}))
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point, and the one error boundary of the CLI.

    ``InfwidthError``, click usage errors and the known library errors of :func:`known_error` print
    ``error: <one sentence>`` on stderr and exit with code 2 (with ``--json``, also a JSON object
    ``{"error": ..., "exit_code": 2}`` on stdout); Ctrl-C exits 130; any other exception is a bug and
    keeps its traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in (args[: args.index("--")] if "--" in args else args)
    try:
        run_args(args)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        message = e.format_message()
        if isinstance(e, click.UsageError) and e.ctx is not None:
            message = f"{message.rstrip('.')}; see {e.ctx.command_path} --help."
        _fail(message, as_json)
    except InfwidthError as e:
        _fail(str(e), as_json)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted.", err=True)
        sys.exit(130)
    except Exception as e:
        sentence = known_error(e)
        if sentence is None:
            raise
        _fail(sentence, as_json)
