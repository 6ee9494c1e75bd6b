"""Applying plans and writes to a remote index and the local mirror: the only code that
touches a remote on the sync path.

Every write follows the same steps: take the lease -> read the current remote state -> plan
(pure) -> remote writes (idempotent, only what differs) -> local writes -> verify / update
the version record -> release the lease. A failure at any step leaves a state from which
running the same operation again converges: plans are recomputed from what is there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._exceptions import DuplicateRouteError, RouteNotFoundError, SyncConflictError, SyncError
from ..index.base import ChangeEntry, RemoteIndex, RemoteMeta, RemotePoint
from ..index.local import LocalIndex
from ..schema import Route, RouterConfig, Utterance, UtteranceDiff
from ._hash import content_hash, routes_hash, update_hash
from ._lease import Lease
from ._plan import SyncPlan, check_mode, group_routes, plan_sync

__all__ = ["RemoteSync"]

log = logging.getLogger("fingerpost.sync")

Vector = NDArray[np.float32]
Encode = Callable[[Sequence[str]], NDArray[np.float32]]
MAX_CHANGES = 256
UPSERT_CHUNK = 200


@dataclass
class _Vectors:
    """Where a vector for (route, utterance) can come from, cheapest first."""

    by_key: dict[tuple[str, str], Vector]
    by_text: dict[str, Vector]

    def add(self, route: str, text: str, vec: Vector) -> None:
        self.by_key[(route, text)] = vec
        self.by_text.setdefault(text, vec)

    def add_points(self, points: Sequence[RemotePoint]) -> None:
        """Remote vectors, used only where this side has none."""
        for p in points:
            if p.vector is not None:
                key = p.utterance.key
                self.by_key.setdefault(key, np.asarray(p.vector, dtype=np.float32))
                self.by_text.setdefault(key[1], self.by_key[key])

    def get(self, route: str, text: str) -> Vector | None:
        v = self.by_key.get((route, text))
        return v if v is not None else self.by_text.get(text)

    def fill(self, wanted: Sequence[tuple[str, str]], encode: Encode) -> int:
        """Encode (in one call) only texts no side has a vector for; returns how many."""
        missing = list(dict.fromkeys(t for r, t in wanted if self.get(r, t) is None))
        if missing:
            for text, vec in zip(missing, encode(missing), strict=True):
                self.by_text[text] = vec
        return len(missing)


class RemoteSync:
    """Keeps a router's local mirror and a shared remote index in step."""

    def __init__(
        self,
        remote: RemoteIndex,
        local: LocalIndex,
        *,
        encoder_name: str,
        encoder_dim: int,
        lease_ttl: float = 30.0,
        lease_wait: float = 10.0,
        owner: str | None = None,
    ) -> None:
        self.remote, self.local = remote, local
        self.encoder_name, self.encoder_dim = encoder_name, encoder_dim
        self.lease = Lease(remote, owner=owner, ttl=lease_ttl, wait=lease_wait)
        self.local_version: int | None = None  # remote version the mirror reflects
        self._bound: RemoteMeta | None = None
        self._refresh_lock = threading.Lock()
        self.encoded = 0  # texts encoded by syncs (incremental syncs encode only what is missing)

    # ---- reading ---------------------------------------------------------------------------
    def bind(self) -> RemoteMeta:
        if self._bound is None:
            self._bound = self.remote.bind(self.encoder_name, self.encoder_dim)
        return self._bound

    def local_utterances(self) -> list[Utterance]:
        return self.local.get_utterances()

    def local_hash(self) -> str:
        """Content hash of the mirror, computed once per snapshot."""
        snap = self.local.snapshot()
        cached = snap.cache.get("content_hash")
        if cached is None:
            cached = routes_hash(snap.live_routes(), self.encoder_name, self.encoder_dim)
            snap.cache["content_hash"] = cached
        return str(cached)

    def read_meta(self) -> RemoteMeta:
        self.bind()
        meta = self.remote.read_meta()
        return meta or RemoteMeta(self.encoder_name, self.encoder_dim)

    def diff(self) -> UtteranceDiff:
        self.bind()
        return UtteranceDiff.from_utterances(
            local_utterances=self.local_utterances(), remote_utterances=self.remote.get_utterances()
        )

    def is_synced_fast(self) -> bool:
        """The version record's content hash equals the mirror's (one small read)."""
        meta = self.read_meta()
        if meta.content_hash != self.local_hash():
            return False
        self.local_version = meta.version
        return True

    def is_synced(self) -> bool:
        """Fast path: the version record's content hash. Slow path: a full diff, which also
        decides when the record is stale."""
        return self.is_synced_fast() or not self.diff().to_utterance_str()

    # ---- sync ------------------------------------------------------------------------------
    def sync(self, mode: str, encode: Encode, *, fast: bool = True) -> SyncPlan:
        """Make both sides hold ``mode``'s result. Already synced: one small read."""
        mode = check_mode(mode)
        if fast and self.is_synced_fast():
            return SyncPlan(mode=mode, result=tuple(self.local.snapshot().live_routes()))
        with self.lease.held():
            meta = self.read_meta()
            local_routes = self.local.snapshot().live_routes()
            # Plan from a scan without vectors; fetch vectors only for the routes whose
            # utterances this side lacks.
            points = self.remote.fetch(None, with_vectors=False)
            plan = plan_sync(mode, local_routes, [p.utterance for p in points])
            if not plan.is_noop:
                vectors = self._local_vectors()
                need = sorted(
                    {r.name for r in plan.local_upsert for t in r.utterances if vectors.get(r.name, t) is None}
                    | {u.route for u in plan.remote_upsert if vectors.get(u.route, u.utterance) is None}
                )
                if need:
                    vectors.add_points(self.remote.fetch(need, with_vectors=True))
                self._apply(plan, vectors, encode)
            remote_utts = self.remote.get_utterances()
            got = content_hash(remote_utts, self.encoder_name, self.encoder_dim)
            want = content_hash(
                RouterConfig(routes=list(plan.result)).to_utterances(), self.encoder_name, self.encoder_dim
            )
            if got != want:
                raise SyncError(
                    "remote content after the sync differs from the planned result (a concurrent "
                    "writer outside fingerpost?); run the sync again"
                )
            version = meta.version + (0 if plan.is_noop else 1)
            if plan.is_noop and meta.content_hash == got and meta.count == len(remote_utts):
                self.local_version = meta.version
                return plan
            self._write_meta(meta, version, got, len(remote_utts), plan.touched, full=len(plan.touched) > 64)
            return plan

    def _local_vectors(self) -> _Vectors:
        """The mirror's vectors by (route, text) and by text (none for a centroid-only mirror)."""
        snap = self.local.snapshot()
        vec = _Vectors({}, {})
        for r in [] if self.local.centroids_only else snap.live_routes():
            rows = snap.route_vectors(r.name)
            assert rows is not None
            for text, v in zip(r.utterances, rows, strict=True):
                vec.add(r.name, text, v)
        return vec

    def _apply(self, plan: SyncPlan, vec: _Vectors, encode: Encode) -> None:
        wanted = [(u.route, u.utterance) for u in plan.remote_upsert]
        wanted += [(r.name, t) for r in plan.local_upsert for t in r.utterances]
        self.encoded += vec.fill(wanted, encode)
        ups = [RemotePoint(u, vec.get(u.route, u.utterance)) for u in plan.remote_upsert]
        for i in range(0, len(ups), UPSERT_CHUNK):
            self.remote.upsert(ups[i : i + UPSERT_CHUNK])
        if plan.remote_delete:
            self.remote.delete(list(plan.remote_delete))
        adds = [(r, _stack(vec, r)) for r in plan.local_upsert]
        self.local.apply(add=adds, delete=list(plan.local_delete), replace=True)

    def _write_meta(
        self, meta: RemoteMeta, version: int, content: str, count: int, routes: Sequence[str], full: bool
    ) -> None:
        entry = ChangeEntry(version, () if full else tuple(routes), full)
        changes = (*meta.changes, entry)[-MAX_CHANGES:] if version != meta.version else meta.changes
        new = RemoteMeta(
            encoder_name=self.encoder_name,
            encoder_dim=self.encoder_dim,
            version=version,
            content_hash=content,
            count=count,
            changes=changes,
            updated_at=time.time(),
        )
        self.remote.write_meta(new)
        self.local_version = version

    # ---- route writes ----------------------------------------------------------------------
    def write_routes(
        self,
        upserts: Sequence[tuple[Route, Vector]],
        deletes: Sequence[str] = (),
        *,
        must_exist: bool = False,
        must_not_exist: bool = False,
        expect_version: int | None = None,
    ) -> None:
        """Write whole routes to the remote (under the lease), then to the mirror.

        With ``expect_version``, ``SyncConflictError`` (nothing written) unless the remote is
        still at that version.
        """
        names = [r.name for r, _ in upserts] + list(deletes)
        with self.lease.held():
            meta = self.read_meta()
            if expect_version is not None and meta.version != expect_version:
                raise SyncConflictError(
                    f"the remote changed while this was computed (version {expect_version} -> "
                    f"{meta.version}): refresh and run it again"
                )
            current = self.remote.fetch(names, with_vectors=False)
            present = {p.utterance.route for p in current}
            for r, _ in upserts:
                if must_not_exist and r.name in present:
                    raise DuplicateRouteError(f"route {r.name!r} already exists in the remote index")
                if must_exist and r.name not in present:
                    raise RouteNotFoundError(f"no route named {r.name!r} in the remote index")
            local_names = {r.name for r in self.local.snapshot().live_routes()}
            for n in deletes:
                if n not in present and n not in local_names:
                    raise RouteNotFoundError(f"no route named {n!r}")
            new_utts = RouterConfig(routes=[r for r, _ in upserts]).to_utterances()
            new_keys = {u.key for u in new_utts}
            points = [
                RemotePoint(u, v[i])
                for r, v in upserts
                for i, u in enumerate(RouterConfig(routes=[r]).to_utterances())
            ]
            for i in range(0, len(points), UPSERT_CHUNK):
                self.remote.upsert(points[i : i + UPSERT_CHUNK])
            stale = [p.utterance.key for p in current if p.utterance.key not in new_keys]
            if stale:
                self.remote.delete(stale)
            removed = [p.utterance for p in current]
            content = update_hash(meta.content_hash or content_hash([], self.encoder_name, self.encoder_dim),
                                  removed, new_utts)
            count = meta.count - len(removed) + len(new_utts)
            gone = [n for n in deletes if n in {r.name for r in self.local.snapshot().live_routes()}]
            self.local.apply(add=list(upserts), delete=gone, replace=True)
            self._write_meta(meta, meta.version + 1, content, count, names, full=False)

    # ---- refresh ---------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Pull other agents' changes (only the routes they touched). True if anything changed."""
        with self._refresh_lock:
            meta = self.read_meta()
            if self.local_version is not None and meta.version == self.local_version:
                return False
            since = self.local_version
            newer = [c for c in meta.changes if since is not None and c.version > since]
            complete = (
                since is not None
                and bool(newer)
                and newer[0].version == since + 1
                and not any(c.full for c in newer)
            )
            if complete:
                names = sorted({n for c in newer for n in c.routes})
                points = self.remote.fetch(names, with_vectors=True)
            else:
                names = None
                points = self.remote.fetch(None, with_vectors=True)
            routes = group_routes(p.utterance for p in points)
            by_key = {p.utterance.key: p.vector for p in points}
            adds = [
                (r, np.stack([np.asarray(by_key[(r.name, t)], dtype=np.float32) for t in r.utterances]))
                for r in routes
            ]
            live = {r.name for r in self.local.snapshot().live_routes()}
            scope = live if names is None else live & set(names)
            present = {r.name for r in routes}
            self.local.apply(add=adds, delete=[n for n in scope if n not in present], replace=True)
            self.local_version = meta.version
            return True


def _stack(vec: _Vectors, route: Route) -> Vector:
    rows = []
    for t in route.utterances:
        v = vec.get(route.name, t)
        if v is None:  # pragma: no cover - fill() guarantees it
            raise SyncError(f"no vector for {route.name!r}: {t!r}")
        rows.append(v)
    return np.stack(rows).astype(np.float32, copy=False)
