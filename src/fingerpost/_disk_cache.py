"""Derived data kept in the cache directory across processes: gates and mirrors' vectors.

Two things a new process would otherwise recompute or download, each a pure function of a
key that names everything it depends on:

* **Gates** of routers without a store (routes given in code, a CLI call, an agent mirroring
  a remote): about 15 ms a route to refit, two seconds for CLINC150's 150 routes, paid
  again by every restart. Key: :meth:`~fingerpost._calibrator.Calibrator.key` (utterances,
  encoder, background, settings, target, ``GATE_VERSION``); value: the bytes
  :func:`~fingerpost._gate_codec.encode_gate` wrote (CRC-checked on read).
* **Route vectors** of a router that boots over a remote index with ``auto_sync``: its
  routes' utterance vectors, so a restart reads from the remote only the routes this
  machine has not embedded before (otherwise every vector of the remote, 16,000 on
  CLINC150: 2 s on the Pinecone test server). Key: the encoder and the route's texts
  (:func:`vectors_key`); value: float32 rows and a CRC (:func:`encode_rows`).

One SQLite file each in the cache directory (``gates.sqlite``, ``vectors.sqlite`` beside the
background's vectors). Best effort, like the background's cache: a directory that cannot be
created, a file that is locked, full or not a database costs a recomputation and one
warning, never an error to the caller; a damaged record is recomputed, never trusted.
``FINGERPOST_GATE_CACHE=0`` / ``FINGERPOST_VECTOR_CACHE=0`` turn them off. Each file keeps
the records written last, up to its byte budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._background import cache_dir
from ._types import F32

if TYPE_CHECKING:
    from .schema import Route

__all__ = [
    "GATE_BYTES",
    "VECTOR_BYTES",
    "DiskCache",
    "cached_route_vectors",
    "decode_rows",
    "encode_rows",
    "gate_cache",
    "keep_route_vectors",
    "vector_cache",
    "vectors_key",
]

log = logging.getLogger("fingerpost.cache")

GATE_BYTES = 64 << 20  # about 20,000 gates
VECTOR_BYTES = 256 << 20  # about 170,000 utterances at 384 dimensions
_CHUNK = 500  # keys per SELECT (SQLite's default limit on parameters is 999 or more)
_SCHEMA = "CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, value BLOB, size INTEGER)"

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(path: Path, exc: BaseException) -> None:
    with _warned_lock:
        if str(path) in _warned:
            return
        _warned.add(str(path))
    log.warning("fingerpost: cache %s unusable, its contents are recomputed: %s", path, exc)


class DiskCache:
    """Records by key in one SQLite file; every method is best effort.

    A record is bytes, or ``None`` (a key whose computation gave nothing, e.g. a route fit
    that gave no gate). A connection is opened per call: callers are many threads and
    processes, calls are rare (a write's new routes, a boot), and an open connection would
    outlive forked workers.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        try:
            # A cache: losing the last writes to a crash costs recomputation, so no fsync.
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
                        f"SELECT key, value FROM blobs WHERE key IN ({marks})", chunk
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
        """Keep ``records`` (one transaction), then drop the oldest rows beyond the budget."""
        rows = [(k, v, 0 if v is None else len(v)) for k, v in records]
        if not rows:
            return
        try:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                # REPLACE gives a rewritten key a new rowid: the oldest rowids go first.
                con.executemany(
                    "INSERT OR REPLACE INTO blobs (key, value, size) VALUES (?, ?, ?)", rows
                )
                con.execute(
                    "DELETE FROM blobs WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
                    "SUM(size + 64) OVER (ORDER BY rowid DESC) AS total FROM blobs) "
                    "WHERE total > ?)",
                    (self.max_bytes,),
                )
                con.execute("COMMIT")
            finally:
                con.close()
        except (OSError, sqlite3.Error) as exc:
            _warn_once(self.path, exc)


def _enabled(variable: str) -> bool:
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no", "off")


def gate_cache() -> DiskCache | None:
    """The cache directory's gates (``None`` when ``FINGERPOST_GATE_CACHE=0``)."""
    if not _enabled("FINGERPOST_GATE_CACHE"):
        return None
    return DiskCache(cache_dir() / "gates.sqlite", GATE_BYTES)


def vector_cache() -> DiskCache | None:
    """The cache directory's route vectors (``None`` when ``FINGERPOST_VECTOR_CACHE=0``)."""
    if not _enabled("FINGERPOST_VECTOR_CACHE"):
        return None
    return DiskCache(cache_dir() / "vectors.sqlite", VECTOR_BYTES)


def vectors_key(encoder_name: str, dim: int, texts: Sequence[str]) -> str:
    """What a route's vectors depend on: the encoder and the texts, in order."""
    h = hashlib.sha256(json.dumps(["vectors", encoder_name, dim, list(texts)]).encode("utf-8"))
    return h.hexdigest()[:32]


def _crc(key: str, body: bytes | memoryview) -> bytes:
    return zlib.crc32(body, zlib.crc32(key.encode("utf-8"))).to_bytes(4, "little")


def encode_rows(rows: F32, key: str) -> bytes:
    """Float32 rows as little-endian bytes and a CRC-32 of ``key`` and the bytes."""
    body = np.ascontiguousarray(rows, dtype="<f4").tobytes()
    return body + _crc(key, body)


def decode_rows(blob: bytes | None, key: str, n: int, dim: int) -> F32 | None:
    """The ``n x dim`` rows ``blob`` holds for ``key``; ``None`` unless exactly those (another
    key, another shape, a failed CRC, a non-finite value)."""
    if blob is None or len(blob) != n * dim * 4 + 4:
        return None
    view = memoryview(blob)
    if view[-4:] != _crc(key, view[:-4]):
        return None
    rows = np.frombuffer(blob, dtype="<f4", count=n * dim).reshape(n, dim).astype(np.float32)
    return rows if np.isfinite(rows).all() else None


def cached_route_vectors(
    disk: DiskCache, encoder_name: str, dim: int, routes: Sequence[Route]
) -> dict[str, F32]:
    """The vectors ``disk`` keeps for ``routes`` (one row per utterance), by route name;
    routes it lacks, or whose record is damaged, are missing."""
    keys = {r.name: vectors_key(encoder_name, dim, r.utterances) for r in routes}
    blobs = disk.get_many(list(dict.fromkeys(keys.values())))
    found: dict[str, F32] = {}
    for r in routes:
        rows = decode_rows(blobs.get(keys[r.name]), keys[r.name], len(r.utterances), dim)
        if rows is not None:
            found[r.name] = rows
    return found


def keep_route_vectors(
    disk: DiskCache, encoder_name: str, dim: int, pairs: Iterable[tuple[Route, F32]]
) -> None:
    """Keep each route's vectors (one row per utterance) for the next process."""
    records = []
    for route, rows in pairs:
        key = vectors_key(encoder_name, dim, route.utterances)
        records.append((key, encode_rows(rows, key)))
    disk.put_many(records)
