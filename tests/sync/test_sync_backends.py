"""Sync through the real clients: embedded Qdrant, the Qdrant REST test server and the
Pinecone test server (fault injection at every write, unreachable remotes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("pinecone")

from fingerpost import (
    RemoteUnavailableError,
    Route,
    SemanticRouter,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import PineconeIndex, QdrantIndex
from fingerpost.sync import plan_sync
from fingerpost.sync._hash import content_key
from tests.servers.pinecone_server import PineconeTestServer
from tests.servers.qdrant_rest import QdrantTestServer

SCHEMA = [
    {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}
]
LOCAL = [
    Route(name="politics", utterances=["vote for me", "the president"], metadata={"v": "local"}),
    Route(name="time", utterances=["what time is it"], function_schemas=SCHEMA),
]
REMOTE = [
    Route(name="politics", utterances=["the president", "tax policy"], metadata={"v": "remote"}),
    Route(name="politics extra", utterances=["senate votes"]),
]


@pytest.fixture(autouse=True)
def _no_pinecone_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _nothing(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", _nothing)


@contextmanager
def backend(kind: str, **kw) -> Iterator[tuple[object, object]]:  # type: ignore[no-untyped-def]
    """Yields (index factory, server or None)."""
    made: list[object] = []

    def keep(index):  # type: ignore[no-untyped-def]
        made.append(index)
        return index

    if kind == "qdrant-memory":
        index = QdrantIndex(index_name="routes", location=":memory:")
        yield (lambda: index), None
        index.close()
    elif kind == "qdrant-rest":
        with QdrantTestServer() as srv:
            try:
                yield (lambda: keep(QdrantIndex(index_name="routes", url=srv.url, **kw))), srv
            finally:
                for i in made:
                    i.close()  # type: ignore[attr-defined]
    else:
        with PineconeTestServer(api_key="k") as srv:
            try:
                yield (
                    (
                        lambda: keep(
                            PineconeIndex(index_name="routes", api_key="k", host=srv.url, **kw)
                        )
                    ),
                    srv,
                )
            finally:
                for i in made:
                    i.close()  # type: ignore[attr-defined]


def router(index, routes=None, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("score_threshold", 0.3)
    return SemanticRouter(routes=routes, encoder=HashEncoder(), index=index, **kw)


def contents(routes) -> set[str]:  # type: ignore[no-untyped-def]
    from fingerpost import RouterConfig

    return {content_key(u) for u in RouterConfig(routes=list(routes)).to_utterances()}


BACKENDS = ["qdrant-memory", "qdrant-rest", "pinecone"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_merge_force_local_then_synced_exactly_when_equal(kind: str) -> None:
    with backend(kind) as (make, _):
        router(make(), REMOTE, auto_sync="local")
        r = router(make(), LOCAL, auto_sync="merge-force-local")
        expected = plan_sync("merge-force-local", LOCAL, [*_utts(REMOTE)]).result
        assert contents(r.routes) == contents(expected)
        assert {content_key(u) for u in r.index.get_utterances()} == contents(expected)
        assert r.is_synced() and r.get_utterance_diff() == []
        other = router(make(), None)
        other.add(Route(name="new", utterances=["brand new"]))
        assert not r.is_synced()
        assert r.get_utterance_diff() == ["+ new: brand new"]
        r.sync("remote")
        assert r.is_synced() and r.get("new") is not None


def _utts(routes):  # type: ignore[no-untyped-def]
    from fingerpost import RouterConfig

    return RouterConfig(routes=list(routes)).to_utterances()


@pytest.mark.parametrize("kind", BACKENDS)
def test_function_schemas_odd_names_and_exact_deletes_round_trip(kind: str) -> None:
    odd = Route(
        name='pol: "itics" #1 ü',
        utterances=["x y z"],
        function_schemas=SCHEMA,
        metadata={"k": [1, 2]},
        score_threshold=0.4,
        description="d",
    )
    with backend(kind) as (make, _):
        r = router(
            make(),
            [*LOCAL, odd, Route(name="politics extra", utterances=["senate"])],
            auto_sync="local",
        )
        again = router(make(), None)
        assert again.get("time") == LOCAL[1]
        assert again.get(odd.name) == odd
        r.delete("politics")
        assert {u.route for u in r.index.get_utterances()} == {"time", odd.name, "politics extra"}
        assert (
            again.refresh()
            and again.get("politics") is None
            and again.get("politics extra") is not None
        )


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_failure_at_every_remote_write_then_rerun_converges(kind: str, when: str) -> None:
    expected = contents(plan_sync("merge", LOCAL, _utts(REMOTE)).result)
    k = 1
    while k < 40:
        with backend(kind, retries=0) as (make, srv):
            router(make(), REMOTE, auto_sync="local")
            r = router(make(), LOCAL)
            srv.faults.reset_counters()  # type: ignore[attr-defined]
            status = 500 if kind == "qdrant-rest" else 400  # pinecone's client retries 5xx itself
            srv.faults.fail_nth_write(k, status=status, when=when)  # type: ignore[attr-defined]
            try:
                r.sync("merge")
                failed = False
            except RemoteUnavailableError:
                failed = True
            srv.faults.clear()  # type: ignore[attr-defined]
            if not failed:
                break
            r.sync("merge")  # re-run converges, nothing lost
            assert contents(r.routes) == expected
            assert {content_key(u) for u in r.index.get_utterances()} == expected
            assert r.is_synced()
        k += 1
    assert k >= 3  # at least two writes were failed in turn


def test_unreachable_remote_is_typed_and_the_mirror_keeps_routing() -> None:
    with QdrantTestServer() as srv:
        url = srv.url
        index = QdrantIndex(index_name="routes", url=url, retries=1, backoff=0.01)
        r = router(index, LOCAL, auto_sync="local")
    # the server is gone now
    with pytest.raises(RemoteUnavailableError):
        r.sync("merge")
    with pytest.raises(RemoteUnavailableError):
        r.add(Route(name="food", utterances=["pizza"]))
    assert r("the president").name == "politics"  # routing never touches the network
    assert r.get("food") is None
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dead = QdrantIndex(index_name="routes", url=f"http://127.0.0.1:{port}", retries=1, backoff=0.01)
    with pytest.raises(RemoteUnavailableError):
        router(dead, LOCAL, auto_sync="local")
    dead.close()
    index.close()


async def test_async_twins_over_a_real_client() -> None:
    with backend("qdrant-rest") as (make, _):
        r = router(make(), LOCAL)
        assert not await r.async_is_synced()
        assert set(await r.aget_utterance_diff()) == {
            f"- {x}"
            for x in ["politics: vote for me", "politics: the president", "time: what time is it"]
        }
        await r.async_sync("local")
        assert await r.async_is_synced()
        assert (await r.acall("the president")).name == "politics"
        await r.aclose()
        await asyncio.sleep(0)


@pytest.mark.parametrize("kind", BACKENDS)
def test_fitted_thresholds_reach_other_agents_through_the_real_clients(kind: str) -> None:
    routes = [
        Route(name="weather", utterances=["will it rain today", "weather forecast", "is it sunny"]),
        Route(name="music", utterances=["play a song", "put on some jazz", "next track"]),
    ]
    X = [
        "rain tomorrow?",
        "sunny weekend forecast",
        "play my playlist",
        "skip this song",
        "what is the capital of peru",
        "tell me a joke",
    ]
    y = ["weather", "weather", "music", "music", None, None]
    with backend(kind) as (make, _):
        r = router(make(), routes, auto_sync="local")
        other = router(make(), None, auto_sync="remote")
        report = r.fit(X, y)
        assert report.head_weight == 0 and set(report.thresholds.values()) != {0.3}
        assert r.is_synced()
        assert {u.route: u.score_threshold for u in r.index.get_utterances()} == report.thresholds
        assert other.refresh() and other.get_thresholds() == report.thresholds


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_routes_own_target_fpr_reaches_other_agents_through_the_real_clients(
    kind: str,
) -> None:
    """Regression: ``Route.target_fpr`` was not written to the remote, so other agents (and
    the writer itself, after its next refresh) calibrated the route at the router-wide target
    and answered differently from the writer; ``is_synced()`` did not see the difference.
    It now travels like ``score_threshold``: in the payload, the hash and the diff."""
    from tests.conftest import CHITCHAT, POLITICS
    from tests.test_calibration import ORDINARY_MANY, fresh

    bg = fresh(ORDINARY_MANY, "target-fpr")
    strict = Route(name="politics", utterances=POLITICS, target_fpr=0.002)
    loose = Route(name="chitchat", utterances=CHITCHAT)

    def agent(index, **kw):  # type: ignore[no-untyped-def]
        return SemanticRouter(encoder=HashEncoder(), index=index, background=bg, **kw)

    def targets(r) -> dict[str, float | None]:  # type: ignore[no-untyped-def]
        return {route.name: route.target_fpr for route in r.to_config().routes}

    with backend(kind) as (make, _):
        writer = agent(make(), routes=[strict, loose], auto_sync="local")
        mirror, bare = agent(make()), agent(make(), mirror=False)
        want = {"politics": 0.002, "chitchat": None}
        level = writer.to_config().calibration
        default = agent(None, routes=[strict.model_copy(update={"target_fpr": None}), loose])
        assert level != default.to_config().calibration  # the target moves the gate
        for r in (mirror, bare):
            assert targets(r) == want
            assert r.to_config().calibration == level
        writer.refresh()
        assert targets(writer) == want
        assert writer.is_synced() and writer.get_utterance_diff() == []

        writer.update("politics", target_fpr=0.05)
        for r in (mirror, bare):
            r.refresh()
            assert targets(r) == {**want, "politics": 0.05}
            assert r.to_config().calibration == writer.to_config().calibration
        assert writer.to_config().calibration != level


@pytest.mark.parametrize("kind", BACKENDS)
def test_fetch_keys_reads_by_id_what_fetch_reads_by_route(kind: str) -> None:
    """A sync verifies its writes with ``fetch_keys``: it must return exactly the points a
    route read returns for those keys (missing keys and the version record left out)."""
    from fingerpost.index.base import RemoteIndex

    with backend(kind) as (make_index, _):
        rs = [
            Route(name="a", utterances=["one", "two", "three"], metadata={"k": [1]}),
            Route(name="b b", utterances=["ünï", "four"], description="d"),
        ]
        router(make_index(), rs, auto_sync="local")
        index = make_index()
        assert isinstance(index, RemoteIndex)
        keys = [("a", "one"), ("a", "three"), ("b b", "ünï"), ("a", "missing"), ("zz", "one")]
        got = index.fetch_keys(keys)
        # the generic path: read the routes, keep the keys
        assert got == RemoteIndex.fetch_keys(index, keys)
        assert [p.utterance.key for p in got] == [("a", "one"), ("a", "three"), ("b b", "ünï")]
        assert got[0].utterance.metadata == {"k": [1]} and got[2].utterance.description == "d"
        assert all(p.vector is None for p in got) and index.fetch_keys([]) == []


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_write_that_did_not_land_fails_the_verification(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verification reads the planned points by key: an upsert acknowledged but lost
    (a remote that drops it) is a SyncError, and the next sync repairs it."""
    from fingerpost import SyncError

    with backend(kind) as (make_index, _):
        base = [Route(name="a", utterances=["one", "two"]), Route(name="b", utterances=["x"])]
        router(make_index(), base, auto_sync="local")
        index = make_index()
        real = type(index).upsert
        monkeypatch.setattr(type(index), "upsert", lambda self, points: None)  # lost
        new = [Route(name="a", utterances=["one", "two", "three"]), base[1]]
        with pytest.raises(SyncError):
            router(index, new, auto_sync="local")
        monkeypatch.setattr(type(index), "upsert", real)
        again = router(make_index(), new, auto_sync="local")
        assert again.is_synced() and contents(router(make_index()).routes) == contents(new)
