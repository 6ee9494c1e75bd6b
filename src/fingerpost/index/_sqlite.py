"""SQLite store: one row per route (its JSON and its float32 vectors as one BLOB).

A route is written in one transaction, so a crash leaves it either wholly there or wholly
absent. WAL mode lets a reader open the file while a writer works. The encoder's name and
dimension are recorded on first use and checked on every open.

Each row carries a checksum (blake2b of the JSON, the BLOB and its shape), verified on every
load along with the vectors' finiteness: a flipped byte or a NaN in a stored vector would
otherwise route silently wrong. Stores written before checksums existed (schema 1) gain the
column on open and a checksum for each row on their first load.

A cold boot reads the vectors from a memory-mapped sidecar (``_sidecar``) when it matches
the store; every write that changes routes bumps the store's ``generation`` in its own
transaction, which invalidates the sidecar until the next boot rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import EncoderMismatchError, StoreError
from ..engine._table import slot_stats
from ..schema import Route
from ._sidecar import json_digest, open_sidecar, write_sidecar

__all__ = ["SqliteStore"]

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS routes (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    route_json TEXT NOT NULL,
    vectors BLOB NOT NULL,
    checksum TEXT
);
CREATE TABLE IF NOT EXISTS gates (name TEXT PRIMARY KEY, key TEXT NOT NULL, gate BLOB);
"""


def row_checksum(route_json: str, blob: bytes, rows: int, dim: int) -> str:
    """What a route's row must hash to: its JSON, its vectors and their shape."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{rows}x{dim}\0".encode())
    h.update(route_json.encode("utf-8"))
    h.update(b"\0")
    h.update(blob)
    return h.hexdigest()


class SqliteStore:
    """Durable route storage. Not thread-safe by itself: the owner serialises writes."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        # Readers call data_version() without the owner's write lock; closing the connection
        # while one is inside it crashes the process (sqlite3 frees the handle under it).
        self._close_lock = threading.Lock()
        self._closed = False
        # (store id, generation, routes' JSON digest) of the routes the last boot_load read
        self.boot_token: tuple[str, int, str] | None = None
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
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(routes)")}
            if "checksum" not in columns:  # a schema-1 store: migrate in place
                self._db.execute("ALTER TABLE routes ADD COLUMN checksum TEXT")
        except sqlite3.Error as exc:
            self._close_quietly()
            raise StoreError(f"cannot open route store {self.path}: {exc}") from exc

    def data_version(self) -> int:
        """Changes whenever ANOTHER connection (process) commits to the file; our own
        commits leave it alone. One cheap pragma, no file read."""
        with self._close_lock:
            if self._closed:
                raise StoreError(f"store {self.path} is closed")
            try:
                (version,) = self._db.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        return int(version)

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
        try:
            stored_dim_int = int(stored_dim or -1)
        except ValueError as exc:
            raise StoreError(f"store {self.path} is corrupt: encoder_dim {stored_dim!r}") from exc
        if stored_name != name or stored_dim_int != dim:
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
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StoreError(f"store {self.path} is corrupt: meta {key!r} is not JSON") from exc

    def load_gates(self, names: Iterable[str] | None = None) -> dict[str, tuple[str, Any]]:
        """Stored calibration gates by route name (all, or those of ``names``): the key each
        was fitted under and its bytes (``None``: fitting gave no gate). One query per 500
        names. The caller checks each against the route's key and the bytes' CRC, and
        refits any that fail: these rows are a cache of a pure function of the routes."""
        try:
            if names is None:
                rows = self._db.execute("SELECT name, key, gate FROM gates").fetchall()
            else:
                wanted, rows = list(names), []
                for i in range(0, len(wanted), 500):
                    chunk = wanted[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    rows += self._db.execute(
                        f"SELECT name, key, gate FROM gates WHERE name IN ({marks})", chunk
                    ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        return {str(name): (str(key), gate) for name, key, gate in rows}

    def _put_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ---- routes ----------------------------------------------------------------------------
    def load(self, dim: int) -> tuple[list[Route], NDArray[np.float32]]:
        """Every stored route, in write order, and all their vectors in ONE matrix (routes'
        rows contiguous, in the same order). Nothing is encoded.

        Raises:
            StoreError: The file cannot be read, or a row fails its checksum, holds
                non-finite vectors or cannot be parsed (the message names the route).
        """
        unsummed: list[tuple[str, str]] = []
        try:
            (total,) = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(vectors)), 0) FROM routes"
            ).fetchone()
            matrix = np.empty((int(total) // (4 * dim), dim), dtype=np.float32)
            routes, row = [], 0
            for name, route_json, blob, checksum in self._db.execute(
                "SELECT name, route_json, vectors, checksum FROM routes ORDER BY seq"
            ):
                route = _parse_route(self.path, name, route_json)
                k = len(route.utterances)
                if route.name != name or len(blob) != 4 * dim * k or row + k > matrix.shape[0]:
                    raise StoreError(f"store {self.path}: route {name!r} is corrupt")
                expected = row_checksum(route_json, blob, k, dim)
                if checksum is None:
                    unsummed.append((expected, name))
                elif checksum != expected:
                    raise StoreError(
                        f"store {self.path}: route {name!r} fails its checksum (corrupt file)"
                    )
                rows = np.frombuffer(blob, dtype=np.float32).reshape(k, dim)
                if not np.isfinite(rows).all():
                    raise StoreError(f"store {self.path}: route {name!r} has non-finite vectors")
                matrix[row : row + k] = rows
                routes.append(route)
                row += k
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise StoreError(f"store {self.path} is corrupt: {exc}") from exc
        if unsummed and not self._db.in_transaction:  # a schema-1 store: checksum it once
            with self._tx():
                self._db.executemany("UPDATE routes SET checksum = ? WHERE name = ?", unsummed)
                self._put_meta("schema_version", SCHEMA_VERSION)
        return routes, matrix

    def boot_load(
        self, dim: int
    ) -> tuple[list[Route], NDArray[np.float32], tuple[NDArray[np.float32], NDArray[np.float32]]]:
        """:meth:`load` for a cold boot, with each route's centroid and radius
        (:func:`~fingerpost.engine._table.slot_stats`): from the vectors sidecar when it matches the
        store (memory-mapped, no per-row copy or hash), else from SQLite, then rebuild the
        sidecar.

        Routes always come from SQLite; their JSON, hashed in order, must equal the
        sidecar's record of it, along with the store id, generation and row count. Sets
        :attr:`boot_token` to what names this state of the routes (for the gates sidecar).
        """
        self.boot_token = None
        try:
            store_id, generation = self.get_meta("store_id"), self.get_meta("generation")
            rows = self._db.execute("SELECT name, route_json FROM routes ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc
        if store_id is not None and generation is not None:
            texts = [str(j) for _, j in rows]
            try:
                routes = [
                    Route.model_construct(**json.loads(t)) for t in texts
                ]  # validated when written
                n = sum(len(r.utterances) for r in routes)
            except (ValueError, TypeError):
                routes, n = [], -1
            digest = json_digest(texts)
            found = (
                None
                if n < 0
                else open_sidecar(self.path, store_id, int(generation), n, len(routes), dim, digest)
            )
            if found is not None and all(
                r.name == name for r, (name, _) in zip(routes, rows, strict=True)
            ):
                matrix, centroids, radii = found
                self.boot_token = (store_id, int(generation), digest)
                return routes, matrix, (centroids, radii)
        routes, matrix = self.load(dim)
        stats = slot_stats(matrix, _counts(routes))
        if self._db.in_transaction:
            return routes, matrix, stats
        if store_id is None or generation is None:
            with self._tx():
                store_id = store_id or uuid.uuid4().hex
                self._put_meta("store_id", store_id)
                generation = generation or "1"
                self._put_meta("generation", generation)
        texts = [str(j) for (j,) in self._db.execute("SELECT route_json FROM routes ORDER BY seq")]
        digest = json_digest(texts)
        write_sidecar(self.path, store_id, int(generation), (matrix, *stats), digest)
        self.boot_token = (store_id, int(generation), digest)
        return routes, matrix, stats

    def write(
        self,
        upserts: Iterable[tuple[Route, NDArray[np.float32]]],
        deletes: Iterable[str],
        meta: dict[str, Any] | None = None,
        gates: Mapping[str, tuple[str, bytes | None] | None] | None = None,
    ) -> None:
        """Apply deletes, upserts, meta and gates in ONE transaction: all of it lands, or
        none."""
        with self._tx():
            self.write_in_transaction(upserts, deletes, meta, gates)

    def write_in_transaction(
        self,
        upserts: Iterable[tuple[Route, NDArray[np.float32]]],
        deletes: Iterable[str],
        meta: dict[str, Any] | None = None,
        gates: Mapping[str, tuple[str, bytes | None] | None] | None = None,
    ) -> None:
        """The body of :meth:`write`, for a caller that holds :meth:`transaction`.

        ``gates``: a route's calibration gate (its key and bytes) to keep, or ``None`` to
        drop it; kept only while the route exists (a deleted route's gate goes with it)."""
        for key, value in (meta or {}).items():
            self._put_meta(key, json.dumps(value))
        upserts, deletes = list(upserts), list(deletes)
        if upserts or deletes:  # the vectors sidecar no longer matches (``_sidecar``)
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('generation', '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
            )
        self._db.executemany("DELETE FROM routes WHERE name = ?", ((n,) for n in deletes))
        for route, vecs in upserts:
            route_json = route.model_dump_json()
            arr = np.ascontiguousarray(vecs, dtype=np.float32)
            blob = arr.tobytes()
            self._db.execute(
                "INSERT INTO routes (name, seq, route_json, vectors, checksum) VALUES (?, "
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM routes), ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, "
                "route_json = excluded.route_json, vectors = excluded.vectors, "
                "checksum = excluded.checksum",
                (route.name, route_json, blob, row_checksum(route_json, blob, *arr.shape)),
            )
        self._db.executemany("DELETE FROM gates WHERE name = ?", ((n,) for n in deletes))
        for name, gate in (gates or {}).items():
            if gate is None:
                self._db.execute("DELETE FROM gates WHERE name = ?", (name,))
                continue
            self._db.execute(
                "INSERT INTO gates (name, key, gate) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM routes WHERE name = ?) "
                "ON CONFLICT(name) DO UPDATE SET key = excluded.key, gate = excluded.gate",
                (name, gate[0], gate[1], name),
            )

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE``: other processes' writers wait)."""
        with self._tx():
            yield

    @contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write store {self.path}: {exc}") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            # A failed COMMIT (disk full, I/O error) may have rolled back already; a second
            # ROLLBACK would raise "cannot rollback" and hide the real cause.
            self._rollback_quietly()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot write store {self.path}: {exc}") from exc
            raise

    def _rollback_quietly(self) -> None:
        with suppress(sqlite3.Error):  # the error being raised is the one worth reporting
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def _close_quietly(self) -> None:
        db: sqlite3.Connection | None = getattr(self, "_db", None)
        if db is not None:
            with suppress(sqlite3.Error):
                db.close()

    def close(self) -> None:
        with self._close_lock:
            self._closed = True
            self._db.close()


def _counts(routes: list[Route]) -> NDArray[np.int64]:
    return np.fromiter((len(r.utterances) for r in routes), dtype=np.int64, count=len(routes))


def _parse_route(path: Path, name: object, route_json: object) -> Route:
    try:
        return Route.model_validate_json(route_json)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise StoreError(f"store {path}: route {name!r} is corrupt: {exc}") from exc
