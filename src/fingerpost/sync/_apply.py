"""Applying plans and writes to a remote index and the local mirror: the only code that
touches a remote on the sync path.

Every write follows the same steps, all under the lease:

1. read the version record; if it is marked ``pending`` (a writer died mid-write), finish
   that write from its intent (``_intent``) and commit it as a change;
2. bring the mirror up to the remote's version (every change not seen, whoever made it),
   and re-read the routes being written, so a read-modify-write starts from the current
   routes and cannot undo another agent's acknowledged change;
3. compute the change, check every point (``RemoteIndex.validate``) before any upload;
4. record the intent, mark the version record pending, upload (only what differs), commit
   the version record (version + 1, the touched routes as a change), drop the intent;
5. apply the change to the mirror.

The version record also carries a content digest per route (``_hash.route_digests``; a
manifest of records when too many, ``_manifest``). Every commit rewrites the digests of the
routes it touched, so a restarting or lagging agent compares digests and reads only the
routes that differ, and a sync verifies the routes it wrote by their digests instead of
re-reading the whole remote. A remote without digests (written before them) takes the full
path once; its commit records them.

Readers never see half a write: ``refresh`` keeps its copy of pending routes (a fresh mirror
lacks them) until the commit lists them, and ``is_synced``'s fast path distrusts a pending
record's hash. A failure at any step leaves a state from which running any write (or a
sync) again converges.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from .._exceptions import (
    DuplicateRouteError,
    FingerpostError,
    RouteNotFoundError,
    SyncConflictError,
    SyncError,
)
from .._types import Vectors as Vector
from ..engine._table import Snapshot
from ..index.base import ChangeEntry, LeaseTicket, RemoteIndex, RemoteMeta, RemotePoint
from ..index.local import LocalIndex
from ..schema import Route, RouterConfig, Utterance, UtteranceDiff
from ._hash import (
    content_hash,
    content_key,
    route_digests,
    routes_hash,
    update_hash,
    utterance_digests,
)
from ._intent import Intent, intent_tickets, read_intent
from ._lease import Lease
from ._manifest import INLINE_BYTES, manifest_tickets, read_manifest
from ._plan import SyncPlan, check_mode, group_routes, plan_sync, same_route

__all__ = ["RemoteSync"]

log = logging.getLogger("fingerpost.sync")

Encode = Callable[[Sequence[str]], NDArray[np.float32]]
# A read-modify-write: from the mirror's snapshot (the routes re-read under the lease), the
# routes to upsert with their vectors and the names to delete.
Change = Callable[[Snapshot], tuple[Sequence[tuple[Route, Vector]], Sequence[str]]]
MAX_CHANGES = 256
MAX_ENTRY_ROUTES = 64  # a change touching more routes is logged as "full": readers pull all
# The change log rides in the version record, which Pinecone caps at 40 KB of metadata: the
# oldest entries go first (a reader that needs them sees a gap and pulls everything).
MAX_CHANGE_BYTES = 24_000
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
    """Keeps a router's local mirror and a shared remote index in step.

    Locks, always taken in this order: ``_writer`` (this process's writers queue here rather
    than on the remote lease), the remote lease, ``_mirror_lock`` (the mirror and
    ``local_version`` change together; refresh takes only this one).
    """

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
        encode: Encode | None = None,
    ) -> None:
        self.remote, self.local = remote, local
        self.encoder_name, self.encoder_dim = encoder_name, encoder_dim
        self.lease = Lease(remote, owner=owner, ttl=lease_ttl, wait=lease_wait)
        self.local_version: int | None = None  # remote version the mirror reflects
        self.encode = encode  # replays another writer's unfinished write (vectors it never sent)
        self._bound: RemoteMeta | None = None
        self._writer = threading.RLock()
        self._mirror_lock = threading.RLock()
        self._intent_tokens: dict[str, list[str]] = {}
        # The boot's read of the whole remote and the version it reflects, for the first
        # sync to plan from while the remote is still at that version (``boot_points``).
        # (its routes; None: all of them)
        self._seen: tuple[int, str, list[RemotePoint], frozenset[str] | None] | None = None
        self.encoded = 0  # texts encoded by syncs (incremental syncs encode only what is missing)

    # ---- reading ---------------------------------------------------------------------------
    def bind(self) -> RemoteMeta:
        if self._bound is None:
            self._bound = self.remote.bind(self.encoder_name, self.encoder_dim)
        return self._bound

    def boot_points(self, routes: Sequence[str] | None = None) -> list[RemotePoint]:
        """The remote's points with their vectors (of ``routes``; every route when ``None``):
        a booting router reuses them instead of encoding. The version record is read first,
        so while the remote stays at that version (no write started or committed since; a
        write marks the record pending before its first upload) the first sync plans from
        these points instead of reading those routes again."""
        meta = self.bind() if self._bound is None else self.read_meta()
        self._seen = None
        if routes is not None and not routes:
            return []
        points = self.remote.fetch(routes, with_vectors=True)
        # No content hash: a record that cannot tell versions apart (semantic-router's
        # stand-in is always version 0), so nothing is kept.
        if meta.content_hash and not meta.pending:
            names = None if routes is None else frozenset(routes)
            self._seen = (meta.version, meta.content_hash, points, names)
        return points

    def _reader(
        self, meta: RemoteMeta
    ) -> Callable[[Sequence[str] | None, bool], list[RemotePoint]]:
        """Reads routes from the boot's points while ``meta`` is the version they reflect,
        else from the remote (used once: the boot's points are dropped)."""
        seen, self._seen = self._seen, None
        if seen is None or meta.pending or seen[:2] != (meta.version, meta.content_hash):
            return lambda names, vectors: self.remote.fetch(names, with_vectors=vectors)
        points, covered = seen[2], seen[3]

        def read(names: Sequence[str] | None, vectors: bool) -> list[RemotePoint]:
            if names is None:
                if covered is None:
                    return list(points)
                return self.remote.fetch(None, with_vectors=vectors)
            wanted = set(names)
            rest = [] if covered is None else sorted(wanted - covered)
            have = [p for p in points if p.utterance.route in wanted]
            if not rest:
                return have
            more = self.remote.fetch(rest, with_vectors=vectors)
            return sorted([*have, *more], key=lambda p: p.utterance.key)

        return read

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

    def local_digests(self) -> dict[str, str]:
        """Per-route content digests of the mirror, computed once per snapshot."""
        snap = self.local.snapshot()
        cached = snap.cache.get("route_digests")
        if not isinstance(cached, dict):
            cached = route_digests(snap.live_routes())
            snap.cache["route_digests"] = cached
        return {str(k): str(v) for k, v in cached.items()}

    def remote_digests(
        self, meta: RemoteMeta, tickets: Sequence[LeaseTicket] | None = None
    ) -> dict[str, str] | None:
        """The committed per-route digests of ``meta`` (``None``: unknown, read everything).

        A manifest is read from ``tickets`` when given (the lease's listing), else with one
        listing of the tickets.
        """
        if meta.digests is not None:
            return dict(meta.digests)
        if meta.manifest:
            listed = self.remote.list_tickets() if tickets is None else tickets
            return read_manifest(listed, meta.manifest)
        if meta.version == 0 and meta.count == 0 and not meta.content_hash:
            return {}  # a fresh remote: nothing in it
        return None

    def changed_routes(
        self, meta: RemoteMeta, tickets: Sequence[LeaseTicket] | None = None
    ) -> list[str] | None:
        """Routes whose remote digest differs from the mirror's (``None``: unknown)."""
        remote = self.remote_digests(meta, tickets)
        if remote is None:
            return None
        mine = self.local_digests()
        return sorted(n for n in set(mine) | set(remote) if mine.get(n) != remote.get(n))

    def read_meta(self) -> RemoteMeta:
        self.bind()
        meta = self.remote.read_meta()
        return meta or RemoteMeta(self.encoder_name, self.encoder_dim)

    def diff(self) -> UtteranceDiff:
        """Local vs remote; only the routes whose digests differ are read when they are known."""
        meta = self.read_meta()
        scope = None if meta.pending else self.changed_routes(meta)
        if scope is None:
            remote = self.remote.get_utterances()
            local = self.local_utterances()
        else:
            remote = (
                [p.utterance for p in self.remote.fetch(scope, with_vectors=False)] if scope else []
            )
            wanted = set(scope)
            routes = [r for r in self.local.snapshot().live_routes() if r.name in wanted]
            local = RouterConfig(routes=routes).to_utterances()
        return UtteranceDiff.from_utterances(local_utterances=local, remote_utterances=remote)

    def is_synced_fast(self) -> bool:
        """The version record's content hash equals the mirror's (one small read).

        An unfinished write (``pending``) makes the record's hash untrustworthy: False, so
        :meth:`is_synced` falls back to the diff.
        """
        with self._mirror_lock:
            meta = self.read_meta()
            if meta.pending or meta.content_hash != self.local_hash():
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
        with self._writer, self.lease.held(), self._mirror_lock:
            meta = self._recover(self.read_meta(), encode)
            read = self._reader(meta)
            local_routes = self.local.snapshot().live_routes()
            # Plan from the routes whose digests differ (all of them when digests are
            # unknown), read without vectors; fetch vectors only for the routes whose
            # utterances this side lacks. Routes with equal digests are equal on both sides.
            remote_d = self.remote_digests(meta, self.lease.manifests)
            scope = (
                self.changed_routes(meta, self.lease.manifests) if remote_d is not None else None
            )
            if scope is None:
                points = read(None, False)
                plan = plan_sync(mode, local_routes, [p.utterance for p in points])
            else:
                points = read(scope, False) if scope else []
                wanted = set(scope)
                plan = plan_sync(
                    mode,
                    [r for r in local_routes if r.name in wanted],
                    [p.utterance for p in points],
                )
                same = tuple(r for r in local_routes if r.name not in wanted)
                plan = replace(plan, result=same + plan.result)
            txn = ""
            if not plan.is_noop:
                vectors = self._local_vectors()
                need = sorted(
                    {
                        r.name
                        for r in plan.local_upsert
                        for t in r.utterances
                        if vectors.get(r.name, t) is None
                    }
                    | {
                        u.route
                        for u in plan.remote_upsert
                        if vectors.get(u.route, u.utterance) is None
                    }
                )
                if need:
                    vectors.add_points(read(need, True))
                ups = self._prepare(plan, vectors, encode)
                intent = _remote_intent(plan)
                if intent.names:
                    txn = self._begin(meta, intent)
                self._apply(plan, ups, vectors)
            got, count, digests = self._verify(meta, plan, scope, remote_d, points)
            version = meta.version + (0 if plan.is_noop else 1)
            if (
                plan.is_noop
                and meta.content_hash == got
                and meta.count == count
                and remote_d == digests
            ):
                self.local_version = meta.version
                return plan
            self._commit(
                meta,
                version,
                got,
                count,
                plan.touched,
                txn,
                full=len(plan.touched) > 64,
                digests=digests,
            )
            self.local_version = version
            return plan

    def _verify(
        self,
        meta: RemoteMeta,
        plan: SyncPlan,
        scope: Sequence[str] | None,
        before_digests: dict[str, str] | None,
        before: Sequence[RemotePoint],
    ) -> tuple[str, int, dict[str, str]]:
        """Check the remote holds the planned result; its hash, count and digests.

        With digests, only the routes the sync planned over are checked: the points it wrote
        and deleted there are read by key (the plan read those routes whole under the lease,
        the others were equal on both sides, and nobody else writes under the lease; a
        writer outside fingerpost is caught only where it touched these points). Without
        digests, everything is re-read.
        """
        if scope is None or before_digests is None:
            remote_utts = self.remote.get_utterances()
            got = content_hash(remote_utts, self.encoder_name, self.encoder_dim)
            want = content_hash(
                RouterConfig(routes=list(plan.result)).to_utterances(),
                self.encoder_name,
                self.encoder_dim,
            )
            ok = got == want
            count, digests = len(remote_utts), utterance_digests(remote_utts)
        else:
            wanted = set(scope)
            planned = [r for r in plan.result if r.name in wanted]
            if plan.is_noop or not scope:
                after = [p.utterance for p in before]
                new = utterance_digests(after)
                ok = new == route_digests(planned)
            else:
                # The plan read every point of these routes under the lease, so after the
                # writes they hold what it read, less what it deleted, plus what it wrote:
                # read exactly the written and deleted points, by id (no scan).
                ups = [u for u in plan.remote_upsert if u.route in wanted]
                gone = [k for k in plan.remote_delete if k[0] in wanted]
                found = self.remote.fetch_keys([u.key for u in ups] + gone)
                ok = {content_key(p.utterance) for p in found} == {content_key(u) for u in ups}
                planned_utts = RouterConfig(routes=planned).to_utterances()
                after = list({u.key: u for u in planned_utts}.values())  # a point per key
                new = route_digests(planned)
            base = meta.content_hash or content_hash([], self.encoder_name, self.encoder_dim)
            got = update_hash(base, [p.utterance for p in before], after)
            count = meta.count - len(before) + len(after)
            digests = {n: d for n, d in before_digests.items() if n not in wanted} | new
        if not ok:
            raise SyncError(
                "remote content after the sync differs from the planned result (a concurrent "
                "writer outside fingerpost?); run the sync again"
            )
        return got, count, digests

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

    def _prepare(self, plan: SyncPlan, vec: _Vectors, encode: Encode) -> list[RemotePoint]:
        """Encode what no side has and check every point before anything is written."""
        wanted = [(u.route, u.utterance) for u in plan.remote_upsert]
        wanted += [(r.name, t) for r in plan.local_upsert for t in r.utterances]
        self.encoded += vec.fill(wanted, encode)
        ups = [RemotePoint(u, vec.get(u.route, u.utterance)) for u in plan.remote_upsert]
        self.remote.validate(ups)
        return ups

    def _apply(self, plan: SyncPlan, ups: Sequence[RemotePoint], vec: _Vectors) -> None:
        self._upload(ups, plan.remote_delete)
        adds = [(r, _stack(vec, r)) for r in plan.local_upsert]
        self.local.apply(add=adds, delete=list(plan.local_delete), replace=True)

    def _upload(self, ups: Sequence[RemotePoint], stale: Sequence[tuple[str, str]]) -> None:
        for i in range(0, len(ups), UPSERT_CHUNK):
            self.remote.upsert(ups[i : i + UPSERT_CHUNK])
        if stale:
            self.remote.delete(list(stale))

    # ---- the write protocol: intent -> pending marker -> uploads -> commit ------------------
    def _begin(self, meta: RemoteMeta, intent: Intent) -> str:
        """Record what this write makes, then mark the version record pending (no upload yet)."""
        txn = uuid.uuid4().hex
        tickets = intent_tickets(txn, intent, time.time())
        self._intent_tokens[txn] = [t.token for t in tickets]
        for ticket in tickets:
            self.remote.put_ticket(ticket)
        self.remote.write_meta(replace(meta, pending=txn, pending_routes=intent.names))
        return txn

    def _commit(
        self,
        meta: RemoteMeta,
        version: int,
        content: str,
        count: int,
        routes: Sequence[str],
        txn: str,
        *,
        full: bool = False,
        digests: dict[str, str] | None = None,
    ) -> None:
        """Write the version record (clearing ``pending``), then drop the intent."""
        if txn:
            now = self.remote.read_meta()
            if now is None or now.pending != txn:
                raise SyncConflictError(
                    "this write outlived its lease and another agent has finished it since; "
                    "refresh to see the result"
                )
        self._write_meta(meta, version, content, count, routes, full, digests)
        if txn:
            with suppress(FingerpostError):  # a leftover intent is swept by the next writer
                for token in self._intent_tokens.pop(txn, []):
                    self.remote.delete_ticket(token)

    def _recover(self, meta: RemoteMeta, encode: Encode | None) -> RemoteMeta:
        """Finish a write whose writer died after marking the version record (lease held).

        The dead writer's intent says what its routes were becoming: upload what it did not
        (encoding only texts no point carries), delete what it did not, and commit with the
        pending routes as a change, so every mirror pulls them whole. Without a readable
        intent the routes are kept as the remote holds them, made consistent.
        """
        intents = self.lease.intents
        if not meta.pending:
            for t in intents:  # a writer died before marking, or after committing
                with suppress(FingerpostError):
                    self.remote.delete_ticket(t.token)
            return meta
        intent = read_intent(intents, meta.pending)
        names = list(dict.fromkeys([*meta.pending_routes, *(intent.names if intent else ())]))
        current = self.remote.fetch(names, with_vectors=True)
        targets = list(intent.upserts) if intent else group_routes(p.utterance for p in current)
        vec = _Vectors({}, {})
        vec.add_points(current)
        wanted = [(r.name, t) for r in targets for t in r.utterances]
        if encode is None and any(vec.get(r, t) is None for r, t in wanted):
            raise SyncError("an unfinished write needs replaying and this agent has no encoder")
        if encode is not None:
            self.encoded += vec.fill(wanted, encode)
        utts = RouterConfig(routes=targets).to_utterances()
        have = {p.utterance.key: content_key(p.utterance) for p in current}
        keep = {u.key for u in utts}
        ups = [
            RemotePoint(u, vec.get(u.route, u.utterance))
            for u in utts
            if have.get(u.key) != content_key(u)
        ]
        self.remote.validate(ups)
        self._upload(ups, [k for k in have if k not in keep])
        log.warning(
            "repaired an unfinished write of %d route(s) on %r", len(names), self.remote.index_name
        )
        everything = self.remote.get_utterances()
        version = meta.version + 1
        content = content_hash(everything, self.encoder_name, self.encoder_dim)
        new = self._write_meta(
            meta, version, content, len(everything), names, False, utterance_digests(everything)
        )
        for t in intents:
            with suppress(FingerpostError):
                self.remote.delete_ticket(t.token)
        return new

    def _write_meta(
        self,
        meta: RemoteMeta,
        version: int,
        content: str,
        count: int,
        routes: Sequence[str],
        full: bool,
        digests: dict[str, str] | None,
    ) -> RemoteMeta:
        """Write the version record; digests too large for it go to a fresh manifest first,
        and the manifest it replaces is removed after (a leftover is swept next time)."""
        entry = ChangeEntry(
            version,
            () if full or len(routes) > MAX_ENTRY_ROUTES else tuple(routes),
            full or len(routes) > MAX_ENTRY_ROUTES,
        )
        changes = _bounded((*meta.changes, entry)) if version != meta.version else meta.changes
        new = RemoteMeta(
            encoder_name=self.encoder_name,
            encoder_dim=self.encoder_dim,
            version=version,
            content_hash=content,
            count=count,
            changes=changes,
            updated_at=time.time(),
        )
        if digests is not None and len(json.dumps(digests)) > INLINE_BYTES:
            mid = uuid.uuid4().hex
            for ticket in manifest_tickets(mid, digests, time.time()):
                self.remote.put_ticket(ticket)
            new = replace(new, manifest=mid)
        else:
            new = replace(new, digests=digests)
        self.remote.write_meta(new)
        self._sweep_manifests(keep=new.manifest)
        return new

    def _sweep_manifests(self, keep: str) -> None:
        """Remove manifest parts other than ``keep`` (lease held; best effort)."""
        stale = [t for t in self.lease.manifests if t.extra.get("manifest") != keep]
        with suppress(FingerpostError):
            for t in stale:
                self.remote.delete_ticket(t.token)
        self.lease.manifests = [t for t in self.lease.manifests if t not in stale]

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
        self.write(
            names,
            lambda _snap: (upserts, deletes),
            must_exist=must_exist,
            must_not_exist=must_not_exist,
            expect_version=expect_version,
        )

    def write(
        self,
        names: Sequence[str],
        change: Change,
        *,
        must_exist: bool = False,
        must_not_exist: bool = False,
        expect_version: int | None = None,
    ) -> None:
        """A read-modify-write of the routes ``names``, safe against other agents.

        Under the lease: repair an unfinished write, bring the mirror up to the remote's
        version, re-read ``names`` from the remote into the mirror, and only then call
        ``change(snapshot)`` for the routes to upsert (with vectors) and the names to delete.
        So the change is computed from the current routes: an utterance another agent added,
        or a route it deleted, cannot be undone by a write computed from a stale mirror.
        """
        with self._writer, self.lease.held(), self._mirror_lock:
            meta = self.read_meta()
            if expect_version is not None and meta.version != expect_version:
                raise SyncConflictError(
                    f"the remote changed while this was computed (version {expect_version} -> "
                    f"{meta.version}): refresh and run it again"
                )
            meta = self._recover(meta, self.encode)
            synced = self.local_version is not None
            if synced:
                self._pull(meta)
            current = self.remote.fetch(list(names), with_vectors=True)
            present = {p.utterance.route for p in current}
            self._adopt(names, current, drop_missing=synced)
            for n in names:
                if must_not_exist and n in present:
                    raise DuplicateRouteError(f"route {n!r} already exists in the remote index")
                if must_exist and n not in present:
                    raise RouteNotFoundError(f"no route named {n!r} in the remote index")
            upserts, deletes = change(self.local.snapshot())
            touched = [r.name for r, _ in upserts] + list(deletes)
            if not set(touched) <= set(names):  # pragma: no cover - a caller's bug
                raise SyncError(f"a write of {list(names)} changed {touched}")
            local_names = {r.name for r in self.local.snapshot().live_routes()}
            for n in deletes:
                if n not in present and n not in local_names:
                    raise RouteNotFoundError(f"no route named {n!r}")
            new_utts = RouterConfig(routes=[r for r, _ in upserts]).to_utterances()
            points = [
                RemotePoint(u, v[i])
                for r, v in upserts
                for i, u in enumerate(RouterConfig(routes=[r]).to_utterances())
            ]
            self.remote.validate(points)
            mine = {p.utterance.route for p in current}.intersection(touched)
            now = [p for p in current if p.utterance.route in mine]
            have = {p.utterance.key: content_key(p.utterance) for p in now}
            new_keys = {u.key for u in new_utts}
            ups = [p for p in points if have.get(p.utterance.key) != content_key(p.utterance)]
            stale = [k for k in have if k not in new_keys]
            gone = [n for n in deletes if n in local_names]
            if ups or stale:
                txn = self._begin(meta, Intent(tuple(r for r, _ in upserts), tuple(deletes)))
                self._upload(ups, stale)
                removed = [p.utterance for p in now]
                content = update_hash(
                    meta.content_hash or content_hash([], self.encoder_name, self.encoder_dim),
                    removed,
                    new_utts,
                )
                count = meta.count - len(removed) + len(new_utts)
                digests = self.remote_digests(meta, self.lease.manifests)
                if digests is not None:  # the touched routes are now exactly the upserts
                    digests = {n: d for n, d in digests.items() if n not in set(touched)}
                    digests |= route_digests(r for r, _ in upserts)
                self._commit(meta, meta.version + 1, content, count, touched, txn, digests=digests)
                version = meta.version + 1
            else:
                version = meta.version
            self.local.apply(add=list(upserts), delete=gone, replace=True)
            if synced:
                self.local_version = version

    def _adopt(
        self, names: Sequence[str], points: Sequence[RemotePoint], *, drop_missing: bool
    ) -> None:
        """Make the mirror hold ``names`` as ``points`` (the remote's) do, where it differs."""
        snap = self.local.snapshot()
        routes = group_routes(p.utterance for p in points)
        mine = {r.name: snap.route(r.name) for r in routes}
        by_key = {p.utterance.key: p.vector for p in points}
        adds = [
            (r, np.stack([np.asarray(by_key[(r.name, t)], dtype=np.float32) for t in r.utterances]))
            for r in routes
            if (old := mine[r.name]) is None or not same_route(old, r)
        ]
        present = {r.name for r in routes}
        drop = [
            n
            for n in dict.fromkeys(names)
            if drop_missing and n not in present and snap.route(n) is not None
        ]
        if adds or drop:
            self.local.apply(add=adds, delete=drop, replace=True)

    # ---- refresh ---------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Pull every change the mirror has not seen, whoever made it. True if anything
        changed."""
        with self._mirror_lock:
            meta = self.read_meta()
            if self.local_version is not None and meta.version == self.local_version:
                return False
            self._pull(meta)
            return True

    def _pull(self, meta: RemoteMeta) -> None:
        """Bring the mirror from ``local_version`` to ``meta.version`` (mirror lock held).

        Only the routes the change log names when it covers every version since; otherwise
        everything. Routes of an unfinished write stay as the mirror has them (a fresh mirror
        lacks them): its commit, by the writer or whoever repairs it, lists them as a change.
        """
        since = self.local_version
        if since is not None and since == meta.version:
            return
        hidden = set(meta.pending_routes) if meta.pending else set()
        newer = [c for c in meta.changes if since is not None and c.version > since]
        complete = (
            since is not None
            and since < meta.version
            and [c.version for c in newer] == list(range(since + 1, meta.version + 1))
            and not any(c.full for c in newer)
        )
        changed = None if complete else self.changed_routes(meta)
        if complete:
            names: list[str] | None = sorted({n for c in newer for n in c.routes} - hidden)
            points = self.remote.fetch(names, with_vectors=True) if names else []
        elif changed is not None:  # a gap in the log: the digests say which routes differ
            names = sorted(set(changed) - hidden)
            points = self.remote.fetch(names, with_vectors=True) if names else []
        else:
            names = None
            points = self.remote.fetch(None, with_vectors=True)
        points = [p for p in points if p.utterance.route not in hidden]
        routes = group_routes(p.utterance for p in points)
        by_key = {p.utterance.key: p.vector for p in points}
        adds = [
            (r, np.stack([np.asarray(by_key[(r.name, t)], dtype=np.float32) for t in r.utterances]))
            for r in routes
        ]
        live = {r.name for r in self.local.snapshot().live_routes()}
        scope = (live if names is None else live & set(names)) - hidden
        present = {r.name for r in routes}
        self.local.apply(add=adds, delete=[n for n in scope if n not in present], replace=True)
        self.local_version = meta.version

    # ---- async reads (native where the remote has an async client) ------------------------
    async def ais_synced_fast(self) -> bool | None:
        """Async :meth:`is_synced_fast`: the version record comes from the remote's
        ``aread_meta`` (a native coroutine with an async client), the compare is local.

        ``None``: undecided, because the mirror changed during the read or a writer holds
        it; the caller then asks :meth:`is_synced` on a thread. The event loop never waits
        on the mirror lock (it is only tried) or on hashing the mirror (done on a thread).
        """
        if self._bound is None:
            await asyncio.to_thread(self.bind)
        snap, version = self.local.snapshot(), self.local_version
        if "content_hash" not in snap.cache:
            await asyncio.to_thread(self.local_hash)
        meta = await self.remote.aread_meta() or RemoteMeta(self.encoder_name, self.encoder_dim)
        if not self._mirror_lock.acquire(blocking=False):
            return None
        try:
            if self.local.snapshot() is not snap or self.local_version != version:
                return None
            if meta.pending or meta.content_hash != self.local_hash():
                return False
            self.local_version = meta.version
            return True
        finally:
            self._mirror_lock.release()


def _bounded(changes: tuple[ChangeEntry, ...]) -> tuple[ChangeEntry, ...]:
    """The newest entries within MAX_CHANGES and MAX_CHANGE_BYTES (at least the last one)."""
    changes = changes[-MAX_CHANGES:]
    sizes = [len(json.dumps([c.version, list(c.routes), c.full])) + 1 for c in changes]
    total, start = sum(sizes), 0
    while total > MAX_CHANGE_BYTES and start < len(changes) - 1:
        total -= sizes[start]
        start += 1
    kept = changes[start:]
    if total > MAX_CHANGE_BYTES:  # one entry naming very long routes
        kept = (ChangeEntry(kept[-1].version, (), True),)
    return kept


def _remote_intent(plan: SyncPlan) -> Intent:
    """The routes a sync rewrites remotely, as they must end up (or deleted)."""
    names = {u.route for u in plan.remote_upsert} | {k[0] for k in plan.remote_delete}
    result = {r.name: r for r in plan.result}
    return Intent(
        tuple(result[n] for n in sorted(names) if n in result),
        tuple(n for n in sorted(names) if n not in result),
    )


def _stack(vec: _Vectors, route: Route) -> Vector:
    rows = []
    for t in route.utterances:
        v = vec.get(route.name, t)
        if v is None:  # pragma: no cover - fill() guarantees it
            raise SyncError(f"no vector for {route.name!r}: {t!r}")
        rows.append(v)
    return np.stack(rows).astype(np.float32, copy=False)
