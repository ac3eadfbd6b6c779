"""CLI: ``infwidth data list`` and ``infwidth data download NAME`` (infwidth.data.download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from infwidth.cli import cli
from infwidth.cli import options as o
from infwidth.cli._common import info, json_option, print_json, print_table


@cli.group()
def data() -> None:
    """Data sets: where they are found, and downloading them from their original sources."""


def dataset_rows(data_dir: str | Path | None) -> list[dict[str, Any]]:
    """One dict per registered data set: name, description, shared copy (path or None), original copy
    (path of what the loaders read, or None), status ("shared", "original" or "missing"), source URLs."""
    from infwidth.data.download import DATASETS, find_original
    from infwidth.data.paths import ORIGINAL_OF, candidate_data_dirs

    rows: list[dict[str, Any]] = []
    for name, ds in DATASETS.items():
        shared: str | None = None
        for rel in (r for r, n in ORIGINAL_OF.items() if n == name):
            hit = next((d / rel for d in candidate_data_dirs(data_dir) if (d / rel).is_file()), None)
            if hit is not None:
                shared = str(hit)
                break
        root = find_original(name, data_dir)
        original = str(root / ds.main) if root is not None else None
        status = "shared" if shared else ("original" if original else "missing")
        rows.append({"name": name, "description": ds.description, "status": status, "shared": shared,
                     "original": original, "sources": [r.url for r in ds.remotes], "page": ds.page})
    return rows


def _dataset_names() -> list[str]:
    from infwidth.data.download import DATASETS

    return list(DATASETS)


@data.command("list")
@click.option("--data-dir", type=o.InputDir(), default=None,
              help="Data folder (default: $INFWIDTH_DATA, then ../shared/data).")
@json_option
def list_cmd(data_dir: Path | None, as_json: bool) -> None:
    """List the data sets: where each was found (shared copy, original copy) or "missing", and its source."""
    rows = dataset_rows(data_dir)
    if as_json:
        print_json({"datasets": rows})
        return
    table = []
    for r in rows:
        found = r["shared"] or r["original"] or "missing"
        more = f" (+{len(r['sources']) - 1} more)" if len(r["sources"]) > 1 else ""
        table.append([r["name"], found, r["sources"][0] + more])
    print_table("Data sets (download: infwidth data download NAME)", ["data set", "found at", "source"], table)


@data.command("download")
@click.argument("name", type=o.Name(_dataset_names, "data set"))
@click.option("--data-dir", type=o.OutputDir(), default=None,
              help="Folder to download into (default: $INFWIDTH_DATA, then ../shared/data; created if needed).")
@click.option("--force", is_flag=True, help="Download again and replace files that are already present and verified.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@json_option
def download_cmd(name: str, data_dir: Path | None, force: bool, no_progress: bool, as_json: bool) -> None:
    """Download data set NAME from its original source into the data folder, verifying its checksums.

    NAME is one of: text8, questions-words, omniglot, cifar10, mnist (see `infwidth data list`).
    Files already present and verified are kept unless --force.
    """
    from infwidth.data.download import download, get_dataset

    ds = get_dataset(name)
    info(f"downloading {name} from {ds.remotes[0].url} ...")
    path: Path = download(name, data_dir, force=force, progress=not no_progress)
    if as_json:
        print_json({"name": name, "path": str(path)})
    else:
        click.echo(f"{name}: {path}")
