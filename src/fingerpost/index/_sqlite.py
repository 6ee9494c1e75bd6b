"""SQLite store: one row per route (its JSON and its float32 vectors as one BLOB).

A route is written in one transaction, so a crash leaves it either wholly there or wholly
absent. WAL mode lets a reader open the file while a writer works. The encoder's name and
dimension are recorded on first use and checked on every open.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import EncoderMismatchError, StoreError
from ..schema import Route

__all__ = ["SqliteStore"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS routes (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    route_json TEXT NOT NULL,
    vectors BLOB NOT NULL
);
"""


class SqliteStore:
    """Durable route storage. Not thread-safe by itself: the owner serialises writes."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            # Large pages: a route's vectors are one BLOB, and 64 KiB pages read it in a few
            # page reads instead of dozens (boot is ~2.7x faster). Only applies to new files.
            self._db.execute("PRAGMA page_size=65536")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open route store {self.path}: {exc}") from exc

    # ---- meta ------------------------------------------------------------------------------
    def bind_encoder(self, name: str, dim: int) -> None:
        """Record the encoder on first use; refuse a different one afterwards."""
        stored_name, stored_dim = self.get_meta("encoder_name"), self.get_meta("encoder_dim")
        if stored_name is None:
            with self._tx():
                self._put_meta("encoder_name", name)
                self._put_meta("encoder_dim", str(dim))
                self._put_meta("schema_version", SCHEMA_VERSION)
            return
        if stored_name != name or int(stored_dim or -1) != dim:
            raise EncoderMismatchError(
                f"store {self.path} holds vectors of encoder {stored_name!r} (dim {stored_dim}); "
                f"this router uses {name!r} (dim {dim}). Open it with that encoder, or use a new "
                "store and re-add the routes."
            )

    def get_meta(self, key: str) -> str | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx():
            self._put_meta(key, json.dumps(value))

    def get_meta_json(self, key: str) -> Any:
        raw = self.get_meta(key)
        return None if raw is None else json.loads(raw)

    def _put_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ---- routes ----------------------------------------------------------------------------
    def load(self, dim: int) -> tuple[list[Route], NDArray[np.float32]]:
        """Every stored route, in write order, and all their vectors in ONE matrix (routes'
        rows contiguous, in the same order). Nothing is encoded."""
        try:
            (total,) = self._db.execute("SELECT COALESCE(SUM(LENGTH(vectors)), 0) FROM routes").fetchone()
            matrix = np.empty((int(total) // (4 * dim), dim), dtype=np.float32)
            routes, row = [], 0
            for route_json, blob in self._db.execute(
                "SELECT route_json, vectors FROM routes ORDER BY seq"
            ):
                route = Route.model_validate_json(route_json)
                k = len(route.utterances)
                if len(blob) != 4 * dim * k or row + k > matrix.shape[0]:
                    raise StoreError(f"store {self.path}: route {route.name!r} is corrupt")
                matrix[row : row + k] = np.frombuffer(blob, dtype=np.float32).reshape(k, dim)
                routes.append(route)
                row += k
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        except ValueError as exc:  # pydantic ValidationError included
            raise StoreError(f"store {self.path} is corrupt: {exc}") from exc
        return routes, matrix

    def write(
        self,
        upserts: Iterable[tuple[Route, NDArray[np.float32]]],
        deletes: Iterable[str],
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Apply deletes, upserts and meta in ONE transaction: all of it lands, or none."""
        with self._tx():
            for key, value in (meta or {}).items():
                self._put_meta(key, json.dumps(value))
            self._db.executemany("DELETE FROM routes WHERE name = ?", ((n,) for n in deletes))
            for route, vecs in upserts:
                self._db.execute(
                    "INSERT INTO routes (name, seq, route_json, vectors) VALUES (?, "
                    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM routes), ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, "
                    "route_json = excluded.route_json, vectors = excluded.vectors",
                    (
                        route.name,
                        route.model_dump_json(),
                        np.ascontiguousarray(vecs, dtype=np.float32).tobytes(),
                    ),
                )

    @contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write store {self.path}: {exc}") from exc
        try:
            yield
        except BaseException as exc:
            self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot write store {self.path}: {exc}") from exc
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"cannot write store {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()
