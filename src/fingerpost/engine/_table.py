"""RouteTable: the in-memory matrix every turn is scored against.

Rows are utterance vectors in one growable float32 buffer; each route version owns a
contiguous run of rows called a *slot*. Writers append slots and retire old ones; readers take
an immutable :class:`Snapshot` and never lock.

Why readers are safe without a lock:

* new rows and slots are written past the end a published snapshot can see;
* retiring a slot writes ``died[slot] = new_version`` in place, and a snapshot at version ``v``
  treats a slot as alive while ``died > v`` — so old snapshots still see it, new ones do not;
* growth and compaction build new arrays; old snapshots keep the old ones.

Costs: adding a route of k utterances is amortized O(k) (capacity doubles), deleting a route is
O(1), updating one re-appends its rows (O(k)). Dead rows are compacted away once they outnumber
live rows, which keeps that amortized O(1) per row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from .._defaults import (
    DEFAULT_AGGREGATION,
    DEFAULT_CENTROID_WEIGHT,
    DEFAULT_SCORE_THRESHOLD,
    DEFAULT_TOP_K,
)
from .._exceptions import DuplicateRouteError, EncoderMismatchError, RouteNotFoundError
from ..schema import Aggregation, Route

__all__ = ["LiveRows", "RouteTable", "ScoringSettings", "Snapshot", "slot_stats"]

_ALIVE = np.iinfo(np.int64).max
_MIN_COMPACT_ROWS = 1024
_DEFAULT_AGGREGATION = Aggregation(DEFAULT_AGGREGATION)


@dataclass(frozen=True, slots=True)
class ScoringSettings:
    """Router-wide scoring knobs, published with each snapshot so a turn sees one set."""

    top_k: int = DEFAULT_TOP_K
    aggregation: Aggregation = _DEFAULT_AGGREGATION
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    centroid_weight: float = DEFAULT_CENTROID_WEIGHT
    calibrate: bool = False  # routes without a threshold of their own pass through their gate too


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent, immutable view of the table at one version."""

    version: int
    vectors: NDArray[np.float32]  # (n_rows, dim) view
    starts: NDArray[np.int64]  # (n_slots,) first row of each slot, increasing
    died: NDArray[np.int64]  # (>= n_slots,) shared; alive at this version iff died > version
    thresholds: NDArray[np.float32]  # (n_slots,) NaN = router default
    gates: Sequence[object | None]  # slot -> calibration gate or None (_calibration.Gate), shared
    centroids: NDArray[np.float32]  # (n_slots, dim) normalised mean of each slot's rows
    caps: NDArray[np.float32]  # (n_slots,) min cosine of a slot's rows to its centroid (radius)
    routes: Sequence[Route]  # slot -> route (append-only, shared)
    slots_by_name: dict[str, list[int]]  # append-only, shared
    settings: ScoringSettings
    extras: dict[str, object] = field(default_factory=dict)  # e.g. a fitted route head
    cache: dict[object, object] = field(default_factory=dict)  # per-snapshot memo (derived data)

    @property
    def n_rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def n_slots(self) -> int:
        return int(self.starts.shape[0])

    def alive(self) -> NDArray[np.bool_]:
        return self.died[: self.n_slots] > self.version

    def slot_of(self, name: str) -> int | None:
        """The live slot of route ``name`` at this version."""
        for slot in reversed(self.slots_by_name.get(name, ())):
            if slot < self.n_slots and self.died[slot] > self.version:
                return slot
        return None

    def slot_rows(self, slot: int) -> tuple[int, int]:
        end = int(self.starts[slot + 1]) if slot + 1 < self.n_slots else self.n_rows
        return int(self.starts[slot]), end

    def route(self, name: str) -> Route | None:
        slot = self.slot_of(name)
        return None if slot is None else self.routes[slot]

    def route_vectors(self, name: str) -> NDArray[np.float32] | None:
        slot = self.slot_of(name)
        if slot is None:
            return None
        start, end = self.slot_rows(slot)
        return self.vectors[start:end]

    def live_routes(self) -> list[Route]:
        """Live routes in the order they were (last) written."""
        alive = self.alive()
        return [self.routes[int(s)] for s in np.flatnonzero(alive)]

    def live_rows(self, *, canonical: bool = False) -> LiveRows:
        """The live routes as one compact table (a copy): what fitting trains and scores on.

        In write order, or with ``canonical`` in an order set by content alone: routes by
        name, a route's rows by utterance (mirrors of one remote may hold them in any order;
        a fit must not care).
        """
        slots = [int(s) for s in np.flatnonzero(self.alive())]
        if canonical:
            slots.sort(key=lambda s: self.routes[s].name)
        picks = []
        for s in slots:
            rows = np.arange(*self.slot_rows(s))
            utts = self.routes[s].utterances
            if canonical and len(utts) == rows.shape[0]:
                rows = rows[sorted(range(len(utts)), key=utts.__getitem__)]
            picks.append(rows)
        counts = np.array([p.shape[0] for p in picks], dtype=np.int64)
        return LiveRows(
            names=[self.routes[s].name for s in slots],
            routes=[self.routes[s] for s in slots],
            vectors=self.vectors[np.concatenate(picks)]
            if picks
            else np.empty((0, self.vectors.shape[1]), np.float32),
            row_route=np.repeat(np.arange(len(slots)), counts).astype(np.int64),
            starts=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            if picks
            else np.empty(0, np.int64),
            centroids=self.centroids[slots],
        )


@dataclass(frozen=True)
class LiveRows:
    """Live routes (ordered as :meth:`Snapshot.live_rows` was asked), their rows back to back:
    ``row_route[i]`` is the index (in ``names``) of row i's route, ``starts[j]`` route j's
    first row."""

    names: list[str]
    routes: list[Route]
    vectors: NDArray[np.float32]
    row_route: NDArray[np.int64]
    starts: NDArray[np.int64]
    centroids: NDArray[np.float32]


def slot_stats(
    matrix: NDArray[np.float32], counts: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Each run of rows' normalised centroid and radius (min cosine of a row to it), for
    consecutive runs of ``counts`` rows: what :meth:`RouteTable.adopt` derives from a
    matrix, so a cache of the matrix can keep them too."""
    s = counts.shape[0]
    ends = np.cumsum(counts)
    starts = ends - counts
    cent = np.zeros((s, matrix.shape[1]), dtype=np.float32)
    for slot in range(s):  # per-slot sums: ~50x faster than add.reduceat on axis 0
        cent[slot] = matrix[starts[slot] : ends[slot]].sum(axis=0)
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    caps = np.full(s, -1.0, dtype=np.float32)
    for slot in range(s):
        caps[slot] = float((matrix[starts[slot] : ends[slot]] @ cent[slot]).min())
    return cent, caps


class RouteTable:
    """The growable matrix plus its slot bookkeeping. Writes are serialised by one lock."""

    def __init__(
        self,
        dim: int,
        encoder_name: str,
        settings: ScoringSettings | None = None,
        *,
        centroids_only: bool = False,
    ) -> None:
        self.dim = dim
        self.centroids_only = centroids_only  # one row per route: its centroid (mirror=False)
        self.encoder_name = encoder_name
        self._lock = threading.RLock()
        self._buf = np.empty((0, dim), dtype=np.float32)
        self._n_rows = 0
        self._starts = np.empty(0, dtype=np.int64)
        self._died = np.empty(0, dtype=np.int64)
        self._thr = np.empty(0, dtype=np.float32)
        self._gates: list[object | None] = []
        self._cent = np.empty((0, dim), dtype=np.float32)
        self._cap = np.empty(0, dtype=np.float32)
        self._n_slots = 0
        self._routes: list[Route] = []
        self._by_name: dict[str, list[int]] = {}
        self._dead_rows = 0
        self._snap = Snapshot(
            version=0,
            vectors=self._buf[:0],
            starts=self._starts[:0],
            died=self._died,
            thresholds=self._thr[:0],
            gates=self._gates,
            centroids=self._cent[:0],
            caps=self._cap[:0],
            routes=self._routes,
            slots_by_name=self._by_name,
            settings=settings or ScoringSettings(),
        )

    # ---- reading ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current snapshot: one attribute read, no lock."""
        return self._snap

    @property
    def lock(self) -> threading.RLock:
        """Held by writers; callers that must keep a store and the table equal hold it too."""
        return self._lock

    # ---- writing ---------------------------------------------------------------------------
    def apply(
        self,
        *,
        add: Iterable[tuple[Route, NDArray[np.float32]]] = (),
        delete: Iterable[str] = (),
        replace: bool = False,
        settings: ScoringSettings | None = None,
        extras: dict[str, object] | None = None,
        calibrated: Mapping[str, object] | None = None,
    ) -> Snapshot:
        """Apply one atomic change and publish it.

        Args:
            add: Routes with their unit vectors, one row per utterance, in utterance order.
            delete: Names of routes to retire.
            replace: Let ``add`` replace an existing route of the same name (an update);
                otherwise a name that exists raises ``DuplicateRouteError``.
            settings: New scoring settings, or ``None`` to keep them.
            extras: New extras (fitted head, ...), or ``None`` to keep them.
            calibrated: Calibration gates of routes in ``add`` (by name); others get none.

        Everything is validated before anything is written, so a failing call changes nothing.
        """
        adds = list(add)
        deletes = list(dict.fromkeys(delete))
        with self._lock:
            snap = self._snap
            version = snap.version + 1
            retire = self.check(add=adds, delete=deletes, replace=replace)
            # -- validated: from here on nothing raises except MemoryError --
            for slot in set(retire):
                self._died[slot] = version
                start, end = snap.slot_rows(slot)
                self._dead_rows += end - start
            self._reserve(sum(v.shape[0] for _, v in adds))
            for route, vecs in adds:
                self._append_slot(route, vecs, version, (calibrated or {}).get(route.name))
            live_rows = self._n_rows - self._dead_rows
            if self._dead_rows > max(_MIN_COMPACT_ROWS, live_rows):
                self._compact(version)
            self._snap = Snapshot(
                version=version,
                vectors=self._buf[: self._n_rows],
                starts=self._starts[: self._n_slots],
                died=self._died,
                thresholds=self._thr[: self._n_slots],
                gates=self._gates,
                centroids=self._cent[: self._n_slots],
                caps=self._cap[: self._n_slots],
                routes=self._routes,
                slots_by_name=self._by_name,
                settings=settings or snap.settings,
                extras=snap.extras if extras is None else extras,
            )
            return self._snap

    def adopt(
        self,
        routes: Sequence[Route],
        matrix: NDArray[np.float32],
        calibrated: Mapping[str, object] | None = None,
        stats: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None,
    ) -> Snapshot:
        """Fill an EMPTY table from one matrix without copying it (cold boot).

        ``matrix`` holds each route's rows contiguously, in ``routes`` order; it becomes the
        table's buffer, so the next add grows it (one amortized copy). ``stats`` are
        :func:`slot_stats` of it, when a cache kept them (else computed here).
        """
        counts = np.fromiter((len(r.utterances) for r in routes), dtype=np.int64, count=len(routes))
        if matrix.shape != (int(counts.sum()), self.dim) or matrix.dtype != np.float32:
            raise EncoderMismatchError(
                f"matrix {matrix.shape} does not fit routes x dim {self.dim}"
            )
        with self._lock:
            if self._n_slots:
                raise RuntimeError("adopt() needs an empty table")
            names = [r.name for r in routes]
            if len(set(names)) != len(names):
                raise DuplicateRouteError("duplicate route names in stored routes")
            n, s = matrix.shape[0], len(routes)
            starts = np.zeros(max(16, s), dtype=np.int64)
            starts[1:s] = np.cumsum(counts)[:-1]
            cent = np.zeros((starts.shape[0], self.dim), dtype=np.float32)
            caps = np.full(starts.shape[0], -1.0, dtype=np.float32)
            if stats is None or stats[0].shape != (s, self.dim) or stats[1].shape != (s,):
                stats = slot_stats(matrix, counts)
            cent[:s], caps[:s] = stats
            thr = np.full(starts.shape[0], np.nan, dtype=np.float32)
            thr[:s] = [np.nan if r.score_threshold is None else r.score_threshold for r in routes]
            self._buf, self._n_rows = matrix, n
            self._starts, self._thr, self._cent, self._cap = starts, thr, cent, caps
            self._gates.extend((calibrated or {}).get(r.name) for r in routes)
            self._died = np.full(starts.shape[0], _ALIVE, dtype=np.int64)
            self._routes.extend(routes)
            for slot, name in enumerate(names):
                self._by_name.setdefault(name, []).append(slot)
            self._n_slots = s
            return self.apply()

    def check(
        self,
        *,
        add: Sequence[tuple[Route, NDArray[np.float32]]] = (),
        delete: Sequence[str] = (),
        replace: bool = False,
    ) -> list[int]:
        """Validate a change against the current snapshot; return the slots it would retire."""
        snap = self._snap
        deletes = list(dict.fromkeys(delete))
        names_in_add: set[str] = set()
        for route, vecs in add:
            if route.name in names_in_add:
                raise DuplicateRouteError(f"route {route.name!r} given twice")
            names_in_add.add(route.name)
            rows = 1 if self.centroids_only else len(route.utterances)
            if vecs.shape != (rows, self.dim) or vecs.dtype != np.float32:
                raise EncoderMismatchError(
                    f"route {route.name!r}: vectors of shape {vecs.shape} {vecs.dtype}, "
                    f"expected {(rows, self.dim)} float32"
                )
            exists = snap.slot_of(route.name) is not None
            if exists and not replace and route.name not in deletes:
                raise DuplicateRouteError(f"route {route.name!r} already exists")
        missing = [n for n in deletes if snap.slot_of(n) is None]
        if missing:
            raise RouteNotFoundError(f"no route named {missing[0]!r}")
        retire = [s for s in (snap.slot_of(n) for n in deletes) if s is not None]
        if replace:
            retire += [s for s in (snap.slot_of(r.name) for r, _ in add) if s is not None]
        return retire

    def _reserve(self, extra_rows: int) -> None:
        if self._n_rows + extra_rows > self._buf.shape[0]:
            cap = max(64, self._buf.shape[0] * 2, self._n_rows + extra_rows)
            buf = np.empty((cap, self.dim), dtype=np.float32)
            buf[: self._n_rows] = self._buf[: self._n_rows]
            self._buf = buf

    def _append_slot(
        self,
        route: Route,
        vecs: NDArray[np.float32],
        version: int,
        calibrated: object | None = None,
    ) -> None:
        k = vecs.shape[0]
        self._reserve(k)
        if self._n_slots == self._starts.shape[0]:
            cap = max(16, self._n_slots * 2)
            self._starts = _grow(self._starts, cap, 0)
            self._died = _grow(self._died, cap, _ALIVE)
            self._thr = _grow(self._thr, cap, np.nan)
            self._cap = _grow(self._cap, cap, -1.0)
            cent = np.zeros((cap, self.dim), dtype=np.float32)
            cent[: self._n_slots] = self._cent[: self._n_slots]
            self._cent = cent
        self._buf[self._n_rows : self._n_rows + k] = vecs
        slot = self._n_slots
        self._starts[slot] = self._n_rows
        self._died[slot] = _ALIVE
        self._thr[slot] = np.nan if route.score_threshold is None else route.score_threshold
        self._gates.append(calibrated)
        centroid = vecs.mean(axis=0)
        self._cent[slot] = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        self._cap[slot] = float((vecs @ self._cent[slot]).min())
        self._routes.append(route)
        self._by_name.setdefault(route.name, []).append(slot)
        self._n_slots += 1
        self._n_rows += k

    def _compact(self, version: int) -> None:
        """Rebuild into fresh arrays holding live slots only (old snapshots keep the old ones)."""
        alive = [s for s in range(self._n_slots) if self._died[s] > version]
        old_buf, old_starts, n_rows, n_slots = self._buf, self._starts, self._n_rows, self._n_slots
        old_routes, old_gates = self._routes, self._gates
        rows = sum(
            (int(old_starts[s + 1]) if s + 1 < n_slots else n_rows) - int(old_starts[s])
            for s in alive
        )
        self._buf = np.empty((max(64, rows * 2), self.dim), dtype=np.float32)
        self._starts = np.empty(max(16, len(alive) * 2), dtype=np.int64)
        self._died = np.full(self._starts.shape[0], _ALIVE, dtype=np.int64)
        self._thr = np.full(self._starts.shape[0], np.nan, dtype=np.float32)
        self._gates = []
        self._cent = np.zeros((self._starts.shape[0], self.dim), dtype=np.float32)
        self._cap = np.full(self._starts.shape[0], -1.0, dtype=np.float32)
        self._routes, self._by_name = [], {}
        self._n_rows = self._n_slots = self._dead_rows = 0
        for s in alive:
            end = int(old_starts[s + 1]) if s + 1 < n_slots else n_rows
            self._append_slot(
                old_routes[s], old_buf[int(old_starts[s]) : end], version, old_gates[s]
            )


_G = TypeVar("_G", bound=np.generic)


def _grow(arr: NDArray[_G], cap: int, fill: float) -> NDArray[_G]:
    out = np.full(cap, fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out
