"""LocalIndex: the in-memory route table, optionally backed by a durable SQLite store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import FingerpostError
from .._table import RouteTable, ScoringSettings, Snapshot
from ..schema import Route, RouterConfig, Utterance
from ._sqlite import SqliteStore

__all__ = ["LocalIndex"]

RouteVectors = tuple[Route, NDArray[np.float32]]


class LocalIndex:
    """Routes and their vectors on this machine.

    Args:
        path: SQLite file for a durable index (created if missing). ``None`` keeps everything
            in memory. A router over a stored index cold-boots from it without re-encoding.
        synchronous: SQLite ``synchronous`` pragma; ``"FULL"`` (default) makes every
            acknowledged write survive a crash of the process or the machine.

    A router binds the index to its encoder once (:meth:`bind`); a store made with another
    encoder (name or dimension) is refused with ``EncoderMismatchError``.
    """

    def __init__(
        self, path: str | Path | None = None, *, synchronous: str = "FULL", centroids_only: bool = False
    ) -> None:
        if centroids_only and path is not None:
            raise FingerpostError("a centroid-only mirror is never stored")
        self.centroids_only = centroids_only
        self.path = None if path is None else Path(path)
        self._synchronous = synchronous
        self._store: SqliteStore | None = None
        self._table: RouteTable | None = None

    def __repr__(self) -> str:
        return f"LocalIndex(path={str(self.path) if self.path else None!r})"

    # ---- lifecycle -------------------------------------------------------------------------
    def bind(self, encoder_name: str, dim: int, settings: ScoringSettings) -> None:
        """Attach to an encoder: open the store (if any) and check its encoder."""
        if self._table is not None:
            if (self._table.encoder_name, self._table.dim) != (encoder_name, dim):
                from .._exceptions import EncoderMismatchError

                raise EncoderMismatchError(
                    f"this index is bound to encoder {self._table.encoder_name!r} "
                    f"(dim {self._table.dim}), not {encoder_name!r} (dim {dim})"
                )
            return
        if self.path is not None:
            store = SqliteStore(self.path, synchronous=self._synchronous)
            try:
                store.bind_encoder(encoder_name, dim)
            except FingerpostError:
                store.close()
                raise
            self._store = store
        self._table = RouteTable(dim, encoder_name, settings, centroids_only=self.centroids_only)

    @property
    def table(self) -> RouteTable:
        if self._table is None:
            raise FingerpostError("LocalIndex is not bound to a router yet")
        return self._table

    @property
    def is_durable(self) -> bool:
        return self._store is not None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # ---- reading ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self.table.snapshot()

    def stored(self) -> list[RouteVectors]:
        """Routes and vectors in the durable store (empty for an in-memory index)."""
        if self._store is None:
            return []
        routes, matrix = self._store.load(self.table.dim)
        out, row = [], 0
        for r in routes:
            out.append((r, matrix[row : row + len(r.utterances)]))
            row += len(r.utterances)
        return out

    def boot(self) -> bool:
        """Load the durable store into memory (no encoding); False if there is nothing."""
        if self._store is None:
            return False
        routes, matrix = self._store.load(self.table.dim)
        if not routes:
            return False
        self.table.adopt(routes, matrix)
        return True

    def get_utterances(self) -> list[Utterance]:
        """Every (route, utterance) held now."""
        return RouterConfig(routes=self.snapshot().live_routes()).to_utterances()

    def get_meta(self, key: str) -> Any:
        return None if self._store is None else self._store.get_meta_json(key)

    # ---- writing ---------------------------------------------------------------------------
    def persist(self, *, upserts: Iterable[RouteVectors] = (), deletes: Iterable[str] = ()) -> None:
        """Write to the durable store only (boot-time reconciliation); no-op in memory."""
        if self._store is not None:
            with self.table.lock:
                self._store.write(list(upserts), list(deletes))

    def apply(
        self,
        *,
        add: Iterable[RouteVectors] = (),
        delete: Iterable[str] = (),
        replace: bool = False,
        settings: ScoringSettings | None = None,
        extras: dict[str, object] | None = None,
        persist: bool = True,
        meta: dict[str, Any] | None = None,
    ) -> Snapshot:
        """Write to the store (if any), then publish the change in memory.

        The store write is one transaction; if it fails a ``StoreError`` reaches the caller
        and memory is unchanged, so memory and store stay equal. Validation runs first, so a
        bad call changes neither.
        """
        adds, deletes = list(add), list(delete)
        if self.centroids_only:
            adds = [(r, _centroid(v)) for r, v in adds]
        table = self.table
        with table.lock:
            table.check(add=adds, delete=deletes, replace=replace)
            if persist and self._store is not None and (adds or deletes or meta):
                self._store.write(adds, deletes, meta or {})
            return table.apply(
                add=adds, delete=deletes, replace=replace, settings=settings, extras=extras
            )


def _centroid(vecs: NDArray[np.float32]) -> NDArray[np.float32]:
    if vecs.shape[0] == 1:
        return vecs
    c = vecs.mean(axis=0, keepdims=True)
    out: NDArray[np.float32] = (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)
    return out
