"""Resumable result store for sweeps: one SQLite row per finished trial, committed atomically.

A trial is identified by a hash of its parameters. A row is written in a single transaction
after the trial finishes, so killing a sweep at any moment leaves only complete rows (SQLite's
journal rolls back a half-written transaction on the next open); rerunning skips every key
already present.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def trial_key(params: Mapping[str, Any]) -> str:
    """Stable identifier of a trial: sha1 of its parameters as sorted JSON."""
    return hashlib.sha1(json.dumps(dict(params), sort_keys=True).encode()).hexdigest()


class SweepStore:
    """SQLite-backed store: ``put(params, result)``, ``done()``, ``results()``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS trials (key TEXT PRIMARY KEY, params TEXT NOT NULL, "
                        "result TEXT NOT NULL, finished REAL NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def done(self) -> set[str]:
        """Keys of finished trials."""
        with self._connect() as con:
            return {k for (k,) in con.execute("SELECT key FROM trials")}

    def put(self, params: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Record one finished trial (one transaction; a repeated key keeps the first result)."""
        con = self._connect()
        try:
            with con:
                con.execute("INSERT OR IGNORE INTO trials VALUES (?, ?, ?, ?)",
                            (trial_key(params), json.dumps(dict(params), sort_keys=True),
                             json.dumps(dict(result)), time.time()))
        finally:
            con.close()

    def results(self) -> list[dict[str, Any]]:
        """All finished trials as flat dicts (parameters, then results, then ``finished``)."""
        with self._connect() as con:
            rows = con.execute("SELECT params, result, finished FROM trials ORDER BY finished").fetchall()
        return [{**json.loads(p), **json.loads(r), "finished": f} for p, r, f in rows]
