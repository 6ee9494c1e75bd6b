"""Per-route digests: restarts, refreshes and verification read only the routes that changed.

Round trips are counted two ways: the routes each ``fetch`` asked for (``MemoryRemote``), and
the requests the loopback servers answered (``request_counts``)."""

from __future__ import annotations

from typing import Any

import pytest

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.schema import RouterConfig
from fingerpost.sync import _apply, _manifest, _tickets
from fingerpost.sync._hash import route_digests, utterance_digests
from tests.sync.memory_remote import MemoryRemote


def routes(n: int, per: int = 3, tag: str = "") -> list[Route]:
    return [
        Route(name=f"r{i:03d}", utterances=[f"route {i} utterance {j}{tag}" for j in range(per)])
        for i in range(n)
    ]


def changed(rs: list[Route], which: list[int]) -> list[Route]:
    return [
        r.model_copy(update={"utterances": [*r.utterances[1:], f"{r.utterances[0]} v2"]})
        if i in which
        else r
        for i, r in enumerate(rs)
    ]


def make(remote: MemoryRemote, rs: list[Route] | None = None, **kw) -> SemanticRouter:  # type: ignore[no-untyped-def]
    return SemanticRouter(routes=rs, encoder=HashEncoder(), index=remote, score_threshold=0.3, **kw)


def test_route_and_utterance_digests_agree() -> None:
    rs = [
        *routes(3),
        Route(name="x", utterances=["a", "b", "a"], description="d", metadata={"k": 1}),
    ]
    assert route_digests(rs) == utterance_digests(RouterConfig(routes=rs).to_utterances())
    assert route_digests(changed(rs, [0]))["r000"] != route_digests(rs)["r000"]


@pytest.mark.parametrize("vector_cache", [True, False])
def test_restart_with_k_changed_routes_reads_only_those_routes(
    vector_cache: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not vector_cache:
        monkeypatch.setenv("FINGERPOST_VECTOR_CACHE", "0")
    remote = MemoryRemote()
    base = routes(40)
    make(remote, base, auto_sync="local")
    assert remote.meta is not None and remote.meta.digests == route_digests(base)
    remote.fetches.clear()
    new = changed(base, [3, 17])
    b = make(remote, new, auto_sync="local")
    if vector_cache:
        # The unchanged routes' vectors come from this machine's cache directory: the boot
        # reads the two routes it lacks (with vectors; the plan reuses that read) and the
        # verification reads them again. Nothing else.
        assert remote.fetches == [("r003", "r017"), ("r003", "r017")]
    else:
        full = [f for f in remote.fetches if f is None]
        assert len(full) == 1  # the mirror's vectors, read once at boot; no plan scan, no re-read
        scoped = {n for f in remote.fetches if f is not None for n in f}
        assert scoped == {"r003", "r017"}
    assert remote.meta.digests == route_digests(new)
    remote.fetches.clear()
    assert b.is_synced() and remote.fetches == []  # one small read
    c = make(remote)  # another agent sees exactly the new content
    assert {r.name: set(r.utterances) for r in c.routes} == {r.name: set(r.utterances) for r in new}


@pytest.mark.parametrize("vector_cache", [True, False])
def test_restart_plans_from_the_boot_read_unless_the_remote_moved(
    vector_cache: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: the first sync plans from the boot's read of the remote (the changed routes
    are read once more only to verify the upload), and never from a read that another
    agent's write has made stale since."""
    if not vector_cache:
        monkeypatch.setenv("FINGERPOST_VECTOR_CACHE", "0")
    remote = MemoryRemote()
    base = routes(20)
    other = make(remote, base, auto_sync="local")
    remote.fetches.clear()
    make(remote, changed(base, [3]), auto_sync="local")
    boot = ("r003",) if vector_cache else None  # the routes this machine has no vectors of
    assert remote.fetches == [boot, ("r003",)]  # the boot's read, then the verification

    real = _apply.RemoteSync.boot_points

    def boot_then_another_write(self: _apply.RemoteSync, routes: Any = None) -> list[Any]:
        points = real(self, routes)
        other.update("r005", utterances=["written meanwhile"])
        return points

    monkeypatch.setattr(_apply.RemoteSync, "boot_points", boot_then_another_write)
    new = changed(base, [3, 7])
    make(remote, new, auto_sync="local")  # a stale plan would fail verification (SyncError)
    c = make(remote)
    assert {r.name: set(r.utterances) for r in c.routes} == {r.name: set(r.utterances) for r in new}


def test_sync_modes_over_digests_equal_the_full_path() -> None:
    for mode in ("remote", "merge", "merge-force-remote", "merge-force-local"):
        remote = MemoryRemote()
        base = routes(10)
        make(remote, base, auto_sync="local")
        b = make(
            remote,
            [*changed(base, [1])[:8], Route(name="new", utterances=["fresh one"])],
            auto_sync=mode,
        )
        full = MemoryRemote()  # the same sync against a remote without digests: the old path
        make(full, base, auto_sync="local")
        assert full.meta is not None
        full.meta = full.meta.__class__(
            **{**{f: getattr(full.meta, f) for f in full.meta.__slots__}, "digests": None}
        )
        c = make(
            full,
            [*changed(base, [1])[:8], Route(name="new", utterances=["fresh one"])],
            auto_sync=mode,
        )
        got = {r.name: set(r.utterances) for r in b.routes}
        assert got == {r.name: set(r.utterances) for r in c.routes}, mode
        assert b.is_synced() and c.is_synced()
        assert full.meta.digests == route_digests(c.routes)  # the old remote gained digests


def test_refresh_after_a_gap_in_the_change_log_reads_only_changed_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_apply, "MAX_CHANGES", 1)
    remote = MemoryRemote()
    a = make(remote, routes(30), auto_sync="local")
    b = make(remote)
    for i in (2, 5, 9):
        a.update(f"r{i:03d}", utterances=[f"now {i}"])
    remote.fetches.clear()
    assert b.refresh()
    assert remote.fetches == [("r002", "r005", "r009")]
    assert b.get("r005") is not None and b.get("r005").utterances == ["now 5"]  # type: ignore[union-attr]


def test_diff_reads_only_differing_routes() -> None:
    remote = MemoryRemote()
    base = routes(20)
    make(remote, base, auto_sync="local")
    b = make(remote, changed(base, [4]))
    remote.fetches.clear()
    assert not b.is_synced()
    assert sorted(b.get_utterance_diff()) == [
        "+ r004: route 4 utterance 0",
        "- r004: route 4 utterance 0 v2",
    ]
    assert all(f == ("r004",) for f in remote.fetches) and remote.fetches


def test_digests_beyond_the_record_go_to_a_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_apply, "INLINE_BYTES", 200)
    monkeypatch.setattr(_tickets, "CHUNK", 300)  # the parts' size, shared with intents
    remote = MemoryRemote()
    base = routes(30)
    a = make(remote, base, auto_sync="local")
    assert remote.meta is not None and remote.meta.digests is None and remote.meta.manifest
    parts = [t for t in remote.tickets.values() if _manifest.is_manifest(t)]
    assert len(parts) > 1 and _manifest.read_manifest(parts, remote.meta.manifest) == route_digests(
        base
    )
    a.update("r001", utterances=["other"])  # a write replaces the manifest and sweeps the old one
    ids = {t.extra["manifest"] for t in remote.tickets.values() if _manifest.is_manifest(t)}
    assert ids == {remote.meta.manifest}
    remote.fetches.clear()
    new = [
        r.model_copy(update={"utterances": ["seven"]}) if r.name == "r007" else r for r in a.routes
    ]
    b = make(remote, new, auto_sync="local")
    # r007 changed; r001 was updated by a hot write, whose vectors the cache directory does
    # not keep (boots write it), so the boot reads its vectors too. Nothing else is read.
    assert set(remote.fetches[0] or ()) == {"r001", "r007"}
    assert {n for f in remote.fetches if f is not None for n in f} == {"r001", "r007"}
    assert b.is_synced() and make(remote).is_synced() is True


def _restart_requests(kind: str, n: int, k: int) -> tuple[dict[str, int], int]:
    """Requests a restarting agent (k of n routes changed) sends, then those of is_synced()."""
    from tests.sync.test_sync_backends import backend

    with backend(kind) as (make_index, srv):
        base = routes(n, tag=f" ({n} {k})")  # texts of its own: nothing cached by another call
        SemanticRouter(routes=base, encoder=HashEncoder(), index=make_index(), auto_sync="local")
        srv.faults.reset_counters()  # type: ignore[attr-defined]
        r = SemanticRouter(
            routes=changed(base, list(range(k))),
            encoder=HashEncoder(),
            index=make_index(),
            auto_sync="local",
        )
        restart = dict(srv.faults.request_counts)  # type: ignore[attr-defined]
        srv.faults.reset_counters()  # type: ignore[attr-defined]
        assert r.is_synced()
        return restart, srv.faults.requests_total  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
def test_restart_round_trips_grow_with_the_changed_routes_only(kind: str) -> None:
    pytest.importorskip("qdrant_client" if kind == "qdrant-rest" else "pinecone")
    one, synced = _restart_requests(kind, 40, 1)
    four, _ = _restart_requests(kind, 40, 4)
    more_routes, _ = _restart_requests(kind, 80, 1)
    assert synced == 1  # already synced: the version record, nothing else
    total = sum(one.values())
    # two scans: the boot's read of the changed routes' vectors (those of the others are in
    # this machine's cache directory; the plan reuses the read) and the lease listing; the
    # verification reads the planned and deleted points by id. Never a plan scan nor a full
    # read (Pinecone: fetch_by_metadata, no listing)
    scans = (
        "POST /collections/routes/points/scroll"
        if kind == "qdrant-rest"
        else "POST /data/routes/vectors/fetch_by_metadata"
    )
    assert one.get(scans) == 2
    assert sum(four.values()) == sum(more_routes.values()) == total


def test_manifest_round_trips_through_the_pinecone_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Manifest parts are tickets: the real client stores and lists them; the lease ignores them."""
    pytest.importorskip("pinecone")
    from tests.sync.test_sync_backends import backend

    monkeypatch.setattr(_apply, "INLINE_BYTES", 100)
    with backend("pinecone") as (make_index, srv):
        base = routes(12)

        def make(rs: list[Route], **kw: Any) -> SemanticRouter:
            return SemanticRouter(
                routes=rs, encoder=HashEncoder(), index=make_index(), score_threshold=0.3, **kw
            )

        make(base, auto_sync="local")
        b = make(changed(base, [5]), auto_sync="local")  # takes the lease past the manifest parts
        meta = b._remote.read_meta()  # type: ignore[union-attr]
        assert meta.digests is None and meta.manifest
        assert b._remote.remote_digests(meta) == route_digests(b.routes)  # type: ignore[union-attr]
        srv.faults.reset_counters()  # type: ignore[attr-defined]
        assert make(None).is_synced() is True


@pytest.mark.parametrize(
    ("description", "schemas", "metadata", "threshold"),
    [
        (None, None, {}, None),
        ('desc ü "q"', [{"name": "f", "b": [1, 2.5, None]}], {"z": 1, "a": {"y": "é"}}, 0.3),
        ("x", None, {"k": True, "n": None}, 1.0),
    ],
)
def test_route_item_keys_equal_the_per_utterance_keys(
    description: Any, schemas: Any, metadata: Any, threshold: Any
) -> None:
    """The hash encodes a route's fields once (route_item_keys); it must give exactly the
    keys the diff builds per utterance, or hash and diff would disagree."""
    from fingerpost._content import content_key, fields_key, route_item_keys

    texts = ['a "quoted" \\ back', "ünïcödé 中文 \n\t", "plain", "\u2028 sep", "emoji 😀", "</x>"]
    name = 'röute "x"'
    got = route_item_keys(name, texts, description, schemas, metadata, threshold)
    assert got == [fields_key(name, t, description, schemas, metadata, threshold) for t in texts]
    route = Route(
        name=name,
        utterances=texts,
        description=description,
        function_schemas=schemas,
        metadata=metadata,
        score_threshold=threshold,
    )
    assert got == [content_key(u) for u in RouterConfig(routes=[route]).to_utterances()]


def test_decoding_many_points_validates_each_route_once_and_equals_one_by_one() -> None:
    from fingerpost.index.base import decode_payload, encode_payload

    route = Route(
        name="r",
        utterances=["a", "b", "c"],
        description="d",
        metadata={"k": [1, 2]},
        function_schemas=[{"name": "f"}],
        score_threshold=0.4,
    )
    other = Route(name="s", utterances=["a", "z"])
    utts = RouterConfig(routes=[route, other]).to_utterances()
    memo: dict[Any, Any] = {}
    decoded = [decode_payload(encode_payload(u), memo) for u in utts]
    assert decoded == [decode_payload(encode_payload(u)) for u in utts] == utts
    assert len(memo) == 2  # one validated template per route
    # a payload with an unhashable field (not written by fingerpost) still decodes or fails typed
    odd = {**encode_payload(utts[0]), "description": ["not", "a", "string"]}
    from fingerpost import InvalidInputError

    with pytest.raises(InvalidInputError):
        decode_payload(odd, memo)
