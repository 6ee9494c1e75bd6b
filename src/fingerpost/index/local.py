"""LocalIndex: the in-memory route table, optionally backed by a durable SQLite store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._exceptions import FingerpostError
from ..engine._table import RouteTable, ScoringSettings, Snapshot
from ..schema import Route, RouterConfig, Utterance, copy_route
from ._sidecar import open_gates_sidecar, write_gates_sidecar
from ._sqlite import SqliteStore

if TYPE_CHECKING:
    from .._calibrator import Calibrator

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

    Several processes may share one store file. Each keeps its routes in memory, so each
    checks SQLite's ``data_version`` (one pragma, no file read) before every read and inside
    every write transaction; when another process has committed, it reloads the changed
    routes (and the router-wide threshold) from the file first. So every process serves the
    routes every other process wrote, and a name added by two processes is a
    ``DuplicateRouteError`` for the second, never a silent overwrite. A fitted head is not
    reloaded this way: reopen the router to pick up another process's ``fit``.

    Routes are copied on the way in: the caller's ``Route`` objects are never shared.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        synchronous: str = "FULL",
        centroids_only: bool = False,
    ) -> None:
        if centroids_only and path is not None:
            raise FingerpostError("a centroid-only mirror is never stored")
        self.centroids_only = centroids_only
        self.path = None if path is None else Path(path)
        self._synchronous = synchronous
        self._store: SqliteStore | None = None
        self._table: RouteTable | None = None
        self._seen_version = 0  # the store's data_version our memory reflects
        self._seen_threshold: float | None = None  # the stored router threshold last applied
        self.calibrator: Calibrator | None = None  # set by a calibrating router

    def __repr__(self) -> str:
        return f"LocalIndex(path={str(self.path) if self.path else None!r})"

    # ---- lifecycle -------------------------------------------------------------------------
    def bind(
        self,
        encoder_name: str,
        dim: int,
        settings: ScoringSettings,
        *,
        stored_threshold: bool = False,
    ) -> None:
        """Attach to an encoder: open the store (if any) and check its encoder.

        With ``stored_threshold`` a router-wide threshold saved in the store (by
        ``set_threshold``) replaces the one in ``settings``.
        """
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
                self._seen_version = store.data_version()  # read before anything is loaded
                store.bind_encoder(encoder_name, dim)
                saved = _stored_threshold(store)
            except FingerpostError:
                store.close()
                raise
            self._store = store
            self._seen_threshold = saved
            if stored_threshold and saved is not None:
                settings = dataclasses.replace(settings, score_threshold=saved, calibrate=False)
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
        """Release the store; memory keeps serving. Safe while other threads route: readers
        stop consulting the store first, and a write in progress finishes before it closes."""
        store, self._store = self._store, None
        if store is None:
            return
        if self._table is None:
            store.close()
            return
        with self._table.lock:
            store.close()

    # ---- reading ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current snapshot; first reloads what another process committed to the store."""
        store = self._store
        if store is not None and store.data_version() != self._seen_version:
            with self.table.lock:
                self._reload_if_changed()
        return self.table.snapshot()

    def _reload_if_changed(self) -> None:
        """Bring memory up to another process's commits (caller holds the table lock)."""
        store = self._store
        if store is None:
            return
        version = store.data_version()
        if version == self._seen_version:
            return
        table = self.table
        routes, matrix = store.load(table.dim)
        saved = _stored_threshold(store)
        snap = table.snapshot()
        upserts: list[RouteVectors] = []
        names: set[str] = set()
        row = 0
        for r in routes:
            k = len(r.utterances)
            vecs = matrix[row : row + k]
            row += k
            names.add(r.name)
            live_vecs = snap.route_vectors(r.name)
            if snap.route(r.name) != r or live_vecs is None or not np.array_equal(live_vecs, vecs):
                upserts.append((r, vecs))
        deletes = [r.name for r in snap.live_routes() if r.name not in names]
        settings = None
        if saved is not None and saved != self._seen_threshold:
            settings = dataclasses.replace(snap.settings, score_threshold=saved, calibrate=False)
        if upserts or deletes or settings is not None:
            # the writer stored its gates with the routes: read them rather than refit
            stored = store.load_gates(r.name for r, _ in upserts)
            cal, _, _ = self._calibrate(upserts, deletes, settings or snap.settings, stored)
            table.apply(
                add=upserts, delete=deletes, replace=True, settings=settings, calibrated=cal
            )
        self._seen_version, self._seen_threshold = version, saved

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
        with self.table.lock:
            version = self._store.data_version()
            routes, matrix, stats = self._store.boot_load(self.table.dim)
            if not routes:
                return False
            calibrated: dict[str, Any] = {}
            if self.calibrator is not None and not self.centroids_only:
                calibrated = self._boot_gates(routes, matrix)
            self.table.adopt(routes, matrix, calibrated, stats)
            self._seen_version = version
        return True

    def _boot_gates(self, routes: list[Route], matrix: NDArray[np.float32]) -> dict[str, Any]:
        """The gates of a cold boot: from the gates sidecar when it was kept for these routes
        and this calibration; else from the store where their records' keys match the
        routes now (no refit, no background), the rest refitted and written back."""
        store, calibrator = self._store, self.calibrator
        if store is None or calibrator is None or self.path is None:
            return {}
        settings = self.table.snapshot().settings
        token, context = store.boot_token, calibrator.context(settings)
        if token is not None:
            kept = open_gates_sidecar(self.path, token, context, len(routes))
            if kept is not None:
                return {routes[slot].name: gate for slot, gate in kept.items()}
        calibrated, meta, gates = self._calibrate(
            _split(routes, matrix), (), settings, store.load_gates()
        )
        if meta or gates:
            store.write([], [], meta, gates)
        if token is not None:
            slots = {r.name: i for i, r in enumerate(routes)}
            write_gates_sidecar(
                self.path, token, context, {slots[n]: g for n, g in calibrated.items()}
            )
        return calibrated

    def _calibrate(
        self,
        adds: list[RouteVectors],
        deletes: Iterable[str],
        settings: ScoringSettings,
        stored: dict[str, tuple[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[str, bytes | None] | None]]:
        """Calibration gates of the routes added, and what the store keeps of them: meta
        records of what each gate was fitted from (``calibration/<name>``) and the gates
        themselves with their keys (a boot reads them instead of refitting). With ``stored``
        (the store's gates by name) only the records that changed."""
        calibrator = self.calibrator
        if calibrator is None:
            return {}, {}, {}
        cal, records = calibrator.calibrate(adds, settings, stored)
        meta: dict[str, Any] = {}
        if self._store is None:
            return cal, meta, {}
        meta = {_CAL + n: None for n in deletes}
        for name, record in records.items():
            meta[_CAL + name] = (
                None
                if record is None
                else {"key": record[0], "background": calibrator.background.id}
            )
        return cal, meta, records

    def store_meta(self) -> tuple[Any, Any] | None:
        """get(key) / put(key, value) on the store's meta table (``None`` in memory)."""
        store = self._store
        if store is None:
            return None

        def put(key: str, value: Any) -> None:
            with self.table.lock:
                if store.in_transaction:  # a reload inside a write calibrated what it loaded
                    store.write_in_transaction([], [], {key: value})
                else:
                    store.write([], [], {key: value})

        return store.get_meta_json, put

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
        # Copies: the caller's Route objects must not be the ones the router serves.
        adds = [(copy_route(r), v) for r, v in add]
        deletes = list(delete)
        full = adds  # what the gates are fitted from (a centroid-only table keeps less)
        if self.centroids_only:
            adds = [(r, _centroid(v)) for r, v in adds]
        table = self.table
        store = self._store if persist else None
        meta = dict(meta or {})
        old = table.snapshot().settings.score_threshold
        if settings is not None and store is not None and settings.score_threshold != old:
            meta["score_threshold"] = settings.score_threshold
        with table.lock:
            if store is not None and (adds or deletes or meta):
                # Calibrate first: it may cache the background's vectors in the store.
                cal, cal_meta, gates = self._calibrate(
                    full, deletes, settings or table.snapshot().settings
                )
                with store.transaction():  # other processes' writers wait from here
                    self._reload_if_changed()
                    table.check(add=adds, delete=deletes, replace=replace)
                    store.write_in_transaction(adds, deletes, {**meta, **cal_meta}, gates)
                if "score_threshold" in meta:
                    self._seen_threshold = float(meta["score_threshold"])
            else:
                table.check(add=adds, delete=deletes, replace=replace)
                cal, cal_meta, gates = self._calibrate(
                    full, deletes, settings or table.snapshot().settings
                )
                if self._store is not None and (cal_meta or gates):
                    self._store.write([], [], cal_meta, gates)
            return table.apply(
                add=adds,
                delete=deletes,
                replace=replace,
                settings=settings,
                extras=extras,
                calibrated=cal,
            )


def _stored_threshold(store: SqliteStore) -> float | None:
    value = store.get_meta_json("score_threshold")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
        from .._exceptions import StoreError

        raise StoreError(f"store {store.path} is corrupt: score_threshold {value!r}")
    return float(value)


_CAL = "calibration/"  # store meta key prefix: what a route's gate was fitted from


def _split(routes: list[Route], matrix: NDArray[np.float32]) -> list[RouteVectors]:
    out, row = [], 0
    for r in routes:
        out.append((r, matrix[row : row + len(r.utterances)]))
        row += len(r.utterances)
    return out


def _centroid(vecs: NDArray[np.float32]) -> NDArray[np.float32]:
    if vecs.shape[0] == 1:
        return vecs
    c = vecs.mean(axis=0, keepdims=True)
    out: NDArray[np.float32] = (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)
    return out
