"""Gates of routers without a store, kept in the cache directory across processes.

A router whose routes live in memory (routes given in code, a CLI call, an agent mirroring a
remote index) would otherwise refit every calibrated route's gate in each new process: about
15 ms a route, two seconds for CLINC150's 150 routes, paid again by every restart. A gate is
a pure function of its key (the route's utterances, the encoder, the background, the
settings, the target and :data:`~fingerpost._calibrator.GATE_VERSION`), so a gate fitted by
any process on this machine serves every other: one SQLite file in the cache directory
(``gates.sqlite`` beside the background's vectors), a row per key holding the bytes
:func:`~fingerpost._gate_codec.encode_gate` wrote (CRC-checked on read: a damaged row is
refitted, never trusted).

Best effort, like the background's cache: a cache directory that cannot be created, a file
that is locked, full or not a database costs a refit and a warning, never an error to the
caller. ``FINGERPOST_GATE_CACHE=0`` turns it off. The file keeps the ``MAX_ROWS`` rows
written last (about 3 KB each).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._background import cache_dir

__all__ = ["MAX_ROWS", "GateCache", "gate_cache"]

log = logging.getLogger("fingerpost.calibration")

MAX_ROWS = 20_000
_CHUNK = 500  # keys per SELECT (SQLite's default limit on parameters is 999 or more)
_SCHEMA = "CREATE TABLE IF NOT EXISTS gates (key TEXT PRIMARY KEY, gate BLOB)"

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(path: Path, exc: BaseException) -> None:
    with _warned_lock:
        if str(path) in _warned:
            return
        _warned.add(str(path))
    log.warning("fingerpost: gate cache %s unusable, gates are refitted: %s", path, exc)


class GateCache:
    """Gate records by key in one SQLite file; every method is best effort.

    A record is the gate's bytes, or ``None`` for a route whose fit gave no gate. A
    connection is opened per call: callers are many threads and processes, calls are rare
    (a write's new routes), and an open connection would outlive forked workers.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        try:
            # A cache: losing the last writes to a crash costs refits, so no fsync per write.
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=OFF")
            con.execute(_SCHEMA)
        except BaseException:
            con.close()
            raise
        return con

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """The records held for ``keys`` (absent keys are missing from the result)."""
        out: dict[str, bytes | None] = {}
        if not keys:
            return out
        try:
            con = self._connect()
            try:
                for i in range(0, len(keys), _CHUNK):
                    chunk = list(keys[i : i + _CHUNK])
                    marks = ",".join("?" * len(chunk))
                    rows = con.execute(
                        f"SELECT key, gate FROM gates WHERE key IN ({marks})",
                        chunk,
                    )
                    for key, blob in rows:
                        out[str(key)] = None if blob is None else bytes(blob)
            finally:
                con.close()
        except (OSError, sqlite3.Error) as exc:
            _warn_once(self.path, exc)
            return {}
        return out

    def put_many(self, records: Iterable[tuple[str, bytes | None]]) -> None:
        """Keep ``records`` (one transaction), then drop the rows beyond :data:`MAX_ROWS`."""
        rows = list(records)
        if not rows:
            return
        try:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                # REPLACE gives a rewritten key a new rowid: the oldest rowids go first.
                con.executemany("INSERT OR REPLACE INTO gates (key, gate) VALUES (?, ?)", rows)
                con.execute(
                    "DELETE FROM gates WHERE rowid <= (SELECT max(rowid) FROM gates) - ?",
                    (MAX_ROWS,),
                )
                con.execute("COMMIT")
            finally:
                con.close()
        except (OSError, sqlite3.Error) as exc:
            _warn_once(self.path, exc)


def gate_cache() -> GateCache | None:
    """The cache directory's gate cache (``None`` when ``FINGERPOST_GATE_CACHE=0``)."""
    if os.environ.get("FINGERPOST_GATE_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    return GateCache(cache_dir() / "gates.sqlite")
