"""Native async twins (issue 13): ``PineconeIndex(aclient=AsyncIndex)`` and
``QdrantIndex(aclient=AsyncQdrantClient)`` answer as their sync methods do, through the
async client only, with the same retries and error mapping; counted on the loopback servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

pinecone = pytest.importorskip("pinecone")
pytest.importorskip("qdrant_client")

from pinecone import AsyncIndex, PineconeConnectionError  # noqa: E402
from qdrant_client import AsyncQdrantClient  # noqa: E402

from fingerpost import InvalidInputError, RemoteUnavailableError  # noqa: E402
from fingerpost.index import PineconeIndex, QdrantIndex  # noqa: E402
from fingerpost.index.base import RemoteMeta  # noqa: E402
from tests.index.remote_contract import (  # noqa: E402
    CHITCHAT,
    DIM,
    ENC,
    ENCODER,
    EXTRA,
    POLITICS,
    closed_port,
    points,
)
from tests.servers._http import HTTPError  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402
from tests.servers.qdrant_rest import QdrantTestServer  # noqa: E402

KEY = "test-key"
ALL = POLITICS + EXTRA + CHITCHAT


@pytest.fixture(autouse=True)
def fast_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pinecone data-plane clients retry 5xx and dropped connections themselves, with real
    sleeps and a process-wide retry budget: skip the sleeps, start with a full budget."""

    async def no_async_sleep(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", no_async_sleep)
    pinecone._internal.http_client.get_budget_registry()._reset()


class _ASleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def srv() -> Iterator[PineconeTestServer]:
    with PineconeTestServer(api_key=KEY) as server:
        yield server


@pytest.fixture
async def aindex(srv: PineconeTestServer) -> AsyncIterator[AsyncIndex]:
    async with AsyncIndex(host=srv.index_host("routes"), api_key=KEY) as client:
        yield client


def _no_sync_data_plane(idx: PineconeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sync data-plane call goes through ``_index_or_raise``: make it fail."""

    def refuse() -> Any:
        raise AssertionError("the sync data-plane client was used")

    monkeypatch.setattr(idx, "_index_or_raise", refuse)


def _vectors_equal(a: list[Any], b: list[Any]) -> None:
    assert [p.utterance for p in a] == [p.utterance for p in b]
    for pa, pb in zip(a, b, strict=True):
        if pb.vector is None:
            assert pa.vector is None
        else:
            np.testing.assert_array_equal(pa.vector, pb.vector)


# ---- Pinecone --------------------------------------------------------------------------------


async def test_pinecone_native_twins_equal_sync_through_the_async_client(
    srv: PineconeTestServer, aindex: AsyncIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PineconeIndex(api_key=KEY, host=srv.url, aclient=aindex) as idx:
        assert idx.native_async
        assert await idx.aread_meta() is None  # no index yet: like read_meta
        idx.bind(ENC, DIM)
        idx.upsert(points(ALL))
        meta = RemoteMeta(encoder_name=ENC, encoder_dim=DIM, version=3, content_hash="h")
        idx.write_meta(meta)
        vec = ENCODER(["do you love the president"])[0]
        other = ENCODER(["lovely weather"])[0]
        requests = [(vec, 4, None), (other, 3, ["chitchat"]), (vec, 2, []), (other, 5, ["nope"])]
        want = {
            "utterances": idx.get_utterances(),
            "all": idx.fetch(),
            "politics": idx.fetch(["politics", "politics extra"]),
            "none": idx.fetch([]),
            "bare": idx.fetch(with_vectors=False),
            "query": idx.query(vec, 4),
            "filtered": idx.query(vec, 4, ["chitchat"]),
            "batch": idx.query_batch(requests),
            "meta": idx.read_meta(),
        }
        _no_sync_data_plane(idx, monkeypatch)
        srv.faults.reset_counters()
        assert await idx.aget_utterances() == want["utterances"]
        _vectors_equal(await idx.afetch(), want["all"])
        _vectors_equal(await idx.afetch(["politics", "politics extra"]), want["politics"])
        assert await idx.afetch([]) == want["none"] == []
        _vectors_equal(await idx.afetch(with_vectors=False), want["bare"])
        assert await idx.aquery(vec, 4) == want["query"]
        assert await idx.aquery(vec, 4, ["chitchat"]) == want["filtered"]
        assert await idx.aquery_batch(requests) == want["batch"]
        assert await idx.aread_meta() == want["meta"] == meta
        counts = dict(srv.faults.request_counts)
        data = "/data/routes"
        # fetches: utterances, all, politics, bare; one query each (the empty list asks
        # nothing); meta by id: every request went to the data plane, none to the control plane
        assert counts == {
            f"POST {data}/vectors/fetch_by_metadata": 4,
            f"POST {data}/query": 2 + 3,
            f"GET {data}/vectors/fetch": 1,
        }, counts
        assert await idx.aquery_groups(vec, 2, None, 3) is None  # Pinecone cannot group


class _NoFilterFetch(PineconeTestServer):
    """Serves ``fetch_by_metadata`` until ``refuse`` is set (then: an older API, 404)."""

    refuse = False

    def _fetch_by_metadata(self, req: Any) -> Any:
        if self.refuse:
            raise HTTPError(404, {"code": 5, "message": "Not Found", "details": []})
        return super()._fetch_by_metadata(req)


async def test_pinecone_async_fetch_falls_back_to_listing() -> None:
    """A server without fetch_by_metadata (404): list ids by route prefix, then fetch them,
    as the sync path does."""
    with _NoFilterFetch(api_key=KEY) as old:
        async with AsyncIndex(host=old.index_host("routes"), api_key=KEY) as aindex:
            with PineconeIndex(api_key=KEY, host=old.url, aclient=aindex) as idx:
                idx.bind(ENC, DIM)
                idx.upsert(points(ALL))
                want_all, want_one = idx.fetch(), idx.fetch(["chitchat"])
                old.refuse = True
                old.faults.reset_counters()
                _vectors_equal(await idx.afetch(), want_all)
                assert not idx._filter_fetch  # asked once, then lists
                _vectors_equal(await idx.afetch(["chitchat"]), want_one)
                counts = old.faults.request_counts
                assert counts["POST /data/routes/vectors/fetch_by_metadata"] == 1
                assert counts["GET /data/routes/vectors/list"] == 2


async def test_pinecone_async_errors_map_like_sync(srv: PineconeTestServer) -> None:
    """A refused key: RemoteUnavailableError with the same cause as the sync path, no retry.
    A dead host: retried ``retries`` times with the async sleep, then the same error."""
    sleeps = _ASleeps()
    async with AsyncIndex(host=srv.index_host("routes"), api_key="wrong") as wrong:
        with PineconeIndex(api_key=KEY, host=srv.url, aclient=wrong, asleep=sleeps) as idx:
            idx.bind(ENC, DIM)
            with (
                PineconeIndex(api_key="wrong", host=srv.url) as sync_wrong,
                pytest.raises(RemoteUnavailableError, match="401") as sync_err,
            ):
                sync_wrong.read_meta()
            with pytest.raises(RemoteUnavailableError, match="401") as async_err:
                await idx.aread_meta()
            assert type(async_err.value.__cause__) is type(sync_err.value.__cause__)
            with pytest.raises(RemoteUnavailableError, match="401"):
                await idx.aquery_batch([(ENCODER(["x"])[0], 2, None)] * 3)
            assert sleeps.delays == []
    dead_host = f"http://127.0.0.1:{closed_port()}/data/routes"
    async with AsyncIndex(host=dead_host, api_key=KEY) as dead:
        with PineconeIndex(
            api_key=KEY, host=srv.url, aclient=dead, retries=2, asleep=sleeps
        ) as idx:
            idx.bind(ENC, DIM)
            idx._ahost_checked = True  # a host that stopped answering after the check
            with pytest.raises(RemoteUnavailableError, match="3 attempts") as ei:
                await idx.aquery(ENCODER(["x"])[0], 1)
            assert isinstance(ei.value.__cause__, PineconeConnectionError)
            assert len(sleeps.delays) == 2


async def test_pinecone_aclient_is_checked(srv: PineconeTestServer, aindex: AsyncIndex) -> None:
    with pytest.raises(InvalidInputError, match="AsyncIndex"):
        PineconeIndex(api_key=KEY, host=srv.url, aclient=object())  # type: ignore[arg-type]
    async with AsyncIndex(host=srv.index_host("elsewhere"), api_key=KEY) as elsewhere:
        with PineconeIndex(api_key=KEY, host=srv.url, aclient=elsewhere) as idx:
            idx.bind(ENC, DIM)
            with pytest.raises(InvalidInputError, match="served at"):
                await idx.aquery(ENCODER(["x"])[0], 1)
    idx = PineconeIndex(api_key=KEY, host=srv.url, aclient=aindex)
    assert not PineconeIndex(api_key=KEY, host=srv.url).native_async
    idx.close()
    with pytest.raises(RemoteUnavailableError, match="closed"):
        await idx.aread_meta()
    assert await aindex.describe_index_stats() is not None  # the caller's client stays open


# ---- Qdrant ----------------------------------------------------------------------------------


async def test_qdrant_native_batch_and_groups_equal_sync() -> None:
    with QdrantTestServer() as qsrv:
        aclient = AsyncQdrantClient(url=qsrv.url, check_compatibility=False)
        try:
            with QdrantIndex(url=qsrv.url, aclient=aclient) as idx:
                assert idx.native_async
                idx.bind(ENC, DIM)
                idx.upsert(points(ALL))
                vec, other = ENCODER(["do you love the president", "lovely weather"])
                requests = [(vec, 4, None), (other, 3, ["chitchat"]), (vec, 2, [])] * 3
                want_batch = idx.query_batch(requests)
                want_groups = idx.query_groups(vec, 2, ["politics", "chitchat"], 2)
                want_all_groups = idx.query_groups(other, 1, None, 3)
                qsrv.faults.reset_counters()
                assert await idx.aquery_batch(requests) == want_batch
                assert await idx.aquery_groups(vec, 2, ["politics", "chitchat"], 2) == want_groups
                assert await idx.aquery_groups(other, 1, None, 3) == want_all_groups
                assert await idx.aquery_groups(vec, 2, [], 2) == []
                assert dict(qsrv.faults.request_counts) == {
                    "POST /collections/routes/points/query/batch": 1,
                    "POST /collections/routes/points/query/groups": 2,
                }
                assert want_groups and {h.route for h in want_groups} == {"politics", "chitchat"}
            with QdrantIndex(url=qsrv.url, aclient=aclient, group_by_route=False) as plain:
                plain.bind(ENC, DIM)
                assert await plain.aquery_groups(vec, 2, None, 3) is None
        finally:
            await aclient.close()


async def test_thread_defaults_without_an_async_client() -> None:
    """No async client: the twins run the sync methods on a thread, with equal answers."""
    with QdrantIndex(location=":memory:") as idx:
        assert not idx.native_async
        idx.bind(ENC, DIM)
        idx.upsert(points(ALL))
        vec = ENCODER(["lovely weather"])[0]
        requests = [(vec, 3, None), (vec, 2, ["politics"])]
        assert await idx.aquery_batch(requests) == idx.query_batch(requests)
        assert await idx.aquery_groups(vec, 2, None, 3) is None  # embedded: grouping off
