"""mirror=False through a native async client (issue 13): ``acall``/``abatch`` encode on the
worker thread and await the remote's queries on the event loop; answers and request counts
equal the sync path's exactly, on the Qdrant REST and Pinecone loopback servers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

pinecone = pytest.importorskip("pinecone")
pytest.importorskip("qdrant_client")

from pinecone import AsyncIndex  # noqa: E402
from qdrant_client import AsyncQdrantClient  # noqa: E402

from fingerpost import (  # noqa: E402
    RemoteUnavailableError,
    RouteNotFoundError,
    SemanticRouter,
)
from fingerpost.encoders.testing import HashEncoder  # noqa: E402
from fingerpost.index import PineconeIndex, QdrantIndex  # noqa: E402
from fingerpost.index.base import RemoteIndex  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402
from tests.servers.qdrant_rest import QdrantTestServer  # noqa: E402
from tests.sync.test_no_mirror import clinc_routes  # noqa: E402


@pytest.fixture(autouse=True)
def _no_pinecone_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _nothing(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", _nothing)
    pinecone._internal.http_client.get_budget_registry()._reset()


@asynccontextmanager
async def native(
    kind: str, *, key: str = "k"
) -> AsyncIterator[tuple[Callable[..., RemoteIndex], Any]]:
    """Yields (index factory, server); the factory's ``native=True`` adds the async client."""
    made: list[RemoteIndex] = []

    def keep(index: RemoteIndex) -> RemoteIndex:
        made.append(index)
        return index

    if kind == "qdrant-rest":
        with QdrantTestServer() as srv:
            aclient = AsyncQdrantClient(url=srv.url, check_compatibility=False)
            try:
                yield (
                    lambda native=False: keep(
                        QdrantIndex(url=srv.url, aclient=aclient if native else None)
                    ),
                    srv,
                )
            finally:
                for i in made:
                    i.close()
                await aclient.close()
    else:
        with PineconeTestServer(api_key="k") as srv:
            async with AsyncIndex(host=srv.index_host("routes"), api_key=key) as aindex:
                try:
                    yield (
                        lambda native=False: keep(
                            PineconeIndex(
                                api_key="k", host=srv.url, aclient=aindex if native else None
                            )
                        ),
                        srv,
                    )
                finally:
                    for i in made:
                        i.close()


def _same(got: list[Any], want: list[Any], exact: bool) -> None:
    """Equal answers: the same routes, and the same scores exactly or within 1e-6.

    Exactly: a turn scored by the same plan as the sync answer, on Pinecone's server. The
    Qdrant REST server's embedded engine scores one request differently from call to call in
    the last float32 digit (two sync calls differ as well), and a turn scored inside a batch
    of turns takes its centroid similarities from a matrix product (as the sync ``batch``
    does), one float32 digit away from the single turn's.
    """
    if exact:
        assert got == want
        return
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g_list, w_list = (g, w) if isinstance(w, list) else ([g], [w])
        assert [c.name for c in g_list] == [c.name for c in w_list]
        assert [c.similarity_score for c in g_list] == pytest.approx(
            [c.similarity_score for c in w_list], rel=0, abs=1e-6
        )


def _watch(index: RemoteIndex, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Refuse the sync queries; record the thread each async query runs on."""
    threads: list[int] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a sync query ran")

    for name in ("query", "query_batch", "query_groups"):
        monkeypatch.setattr(index, name, refuse)
    for name in ("aquery", "aquery_batch", "aquery_groups"):
        original = getattr(index, name)

        async def recorded(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return await _original(*args, **kwargs)

        monkeypatch.setattr(index, name, recorded)
    return threads


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
@pytest.mark.parametrize(("aggregation", "top_k"), [("max", 5), ("mean", 3)])
async def test_async_turns_await_the_native_client_and_equal_sync(
    kind: str, aggregation: str, top_k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes, turns = clinc_routes(12, 8)
    turns = turns[:24]
    kw: dict[str, Any] = dict(
        encoder=HashEncoder(),
        score_threshold=0.25,
        aggregation=aggregation,
        top_k=top_k,
        centroid_weight=0.7,
    )
    filters = [None, [routes[0].name, routes[3].name]]
    async with native(kind) as (make, srv):
        mirrored = SemanticRouter(routes=routes, index=make(), auto_sync="local", **kw)
        index = make(native=True)
        remote = SemanticRouter(index=index, mirror=False, **kw)
        want = {str(rf): [remote(t, limit=None, route_filter=rf) for t in turns] for rf in filters}
        srv.faults.reset_counters()
        want_batch = remote.batch(turns, limit=None)
        sync_requests = srv.faults.requests_total
        vec = HashEncoder()([turns[0]])
        want_vector = remote(vector=vec[0], limit=None)
        threads = _watch(index, monkeypatch)
        try:
            for rf in filters:
                one_by_one = [await remote.acall(t, limit=None, route_filter=rf) for t in turns]
                _same(one_by_one, want[str(rf)], exact=kind == "pinecone")
                together = await asyncio.gather(
                    *(remote.acall(t, limit=None, route_filter=rf) for t in turns)
                )
                _same(together, want[str(rf)], exact=False)  # micro-batched: the batch plan
            srv.faults.reset_counters()
            _same(await remote.abatch(turns, limit=None), want_batch, exact=kind == "pinecone")
            assert srv.faults.requests_total == sync_requests  # the very same requests
            got = await remote.acall(vector=vec[0], limit=None)
            _same([got], [want_vector], exact=kind == "pinecone")
        finally:
            await remote.aclose()
        assert threads and set(threads) == {threading.get_ident()}  # awaited on the loop
        for a, b in zip(mirrored.batch(turns, limit=None), want_batch, strict=True):
            assert [c.name for c in b] == [c.name for c in a]
            assert [c.similarity_score for c in b] == pytest.approx(
                [c.similarity_score for c in a], abs=1e-4
            )
        assert sum(bool(c) and bool(c[0].name) for c in want_batch) > 3  # real matches compared


async def test_async_turn_errors_are_the_sync_errors() -> None:
    """A bad filter fails its own turns only; a remote that refuses the async client's key
    fails the turn with ``RemoteUnavailableError``, like the sync path with that key."""
    routes, turns = clinc_routes(6, 5)
    kw: dict[str, Any] = dict(encoder=HashEncoder(), score_threshold=0.25)
    async with native("pinecone", key="wrong") as (make, srv):
        SemanticRouter(routes=routes, index=make(), auto_sync="local", **kw)
        remote = SemanticRouter(index=make(native=True), mirror=False, **kw)
        with pytest.raises(RouteNotFoundError):
            remote(turns[0], route_filter=["nope"])
        try:
            bad, refused = await asyncio.gather(
                remote.acall(turns[0], route_filter=["nope"]),
                remote.acall(turns[1]),
                return_exceptions=True,
            )
            assert isinstance(bad, RouteNotFoundError)
            assert isinstance(refused, RemoteUnavailableError) and "401" in str(refused)
            with pytest.raises(RemoteUnavailableError, match="401"):
                await remote.acall(vector=HashEncoder()([turns[0]])[0])
        finally:
            await remote.aclose()
        with (
            PineconeIndex(api_key="wrong", host=srv.url) as wrong,
            pytest.raises(RemoteUnavailableError, match="401"),
        ):
            wrong.query(HashEncoder()([turns[0]])[0], 3)


async def test_without_an_async_client_turns_keep_to_the_worker_thread() -> None:
    """No async client: the remote scoring stays on the worker thread (never the loop), and
    a precomputed vector is scored off the loop too."""
    routes, turns = clinc_routes(6, 5)
    kw: dict[str, Any] = dict(encoder=HashEncoder(), score_threshold=0.25)
    async with native("qdrant-rest") as (make, _):
        SemanticRouter(routes=routes, index=make(), auto_sync="local", **kw)
        index = make()
        remote = SemanticRouter(index=index, mirror=False, **kw)
        want = [remote(t, limit=None) for t in turns[:6]]
        loop_thread = threading.get_ident()
        seen: list[int] = []
        query_groups = index.query_groups

        def recorded(*args: Any) -> Any:
            seen.append(threading.get_ident())
            return query_groups(*args)

        index.query_groups = recorded  # type: ignore[method-assign]
        try:
            _same([await remote.acall(t, limit=None) for t in turns[:6]], want, exact=False)
            vec = HashEncoder()([turns[0]])[0]
            _same([await remote.acall(vector=vec, limit=None)], want[:1], exact=False)
        finally:
            await remote.aclose()
        assert len(seen) == 7 and loop_thread not in seen
