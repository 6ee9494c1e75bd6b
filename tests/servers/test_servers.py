"""The loopback servers, exercised with the REAL qdrant-client and pinecone clients."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers._http import ServerProcess
from tests.servers.pinecone_server import PineconeTestServer, matches_filter
from tests.servers.qdrant_rest import QdrantTestServer

qdrant_client = pytest.importorskip("qdrant_client")
pinecone = pytest.importorskip("pinecone")

from pinecone import AsyncPinecone, Pinecone, ServerlessSpec  # noqa: E402
from pinecone.errors.exceptions import ApiError, NotFoundError, UnauthorizedError  # noqa: E402
from qdrant_client import AsyncQdrantClient, QdrantClient, models  # noqa: E402
from qdrant_client.http.exceptions import (  # noqa: E402
    ResponseHandlingException,
    UnexpectedResponse,
)

API_KEY = "test-key"


def _points(n: int, start: int = 0) -> list[models.PointStruct]:
    return [
        models.PointStruct(
            id=i,
            vector=[1.0, float(i), 0.5],
            payload={"parity": i % 2, "name": f"p{i}", "route": "a" if i < 5 else "b"},
        )
        for i in range(start, start + n)
    ]


def _parity(v: int) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="parity", match=models.MatchValue(value=v))]
    )


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def qdrant_srv() -> Iterator[QdrantTestServer]:
    with QdrantTestServer() as srv:
        yield srv
    assert srv.live_threads() == []


@pytest.fixture
def qclient(qdrant_srv: QdrantTestServer) -> Iterator[QdrantClient]:
    client = QdrantClient(url=qdrant_srv.url, check_compatibility=False)
    yield client
    client.close()


@pytest.fixture
def pinecone_srv() -> Iterator[PineconeTestServer]:
    with PineconeTestServer(api_key=API_KEY) as srv:
        yield srv
    assert srv.live_threads() == []


@pytest.fixture
def pc(pinecone_srv: PineconeTestServer) -> Iterator[Pinecone]:
    client = Pinecone(api_key=API_KEY, host=pinecone_srv.url)
    yield client
    client.close()


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """pinecone retries 408/429/5xx and connection errors with backoff: skip the sleeps."""

    async def _no_async_sleep(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", _no_async_sleep)


# ---------------------------------------------------------------------------------------------
# Qdrant
# ---------------------------------------------------------------------------------------------


def test_qdrant_sync_roundtrip(qdrant_srv: QdrantTestServer, qclient: QdrantClient) -> None:
    c = qclient
    assert c.get_collections().collections == []
    assert c.create_collection(
        "t", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
    )
    assert c.collection_exists("t") and not c.collection_exists("nope")
    assert [d.name for d in c.get_collections().collections] == ["t"]

    res = c.upsert("t", points=_points(10), wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert c.count("t").count == 10
    assert c.count("t", count_filter=_parity(1)).count == 5
    assert c.get_collection("t").points_count == 10

    hits = c.query_points(
        "t", query=[1.0, 2.0, 0.5], limit=3, query_filter=_parity(0), with_payload=True
    ).points
    assert [h.id for h in hits] == [2, 4, 6]
    assert hits[0].payload == {"parity": 0, "name": "p2", "route": "a"}
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    bare = c.query_points("t", query=[1.0, 2.0, 0.5], limit=1, with_payload=False).points
    assert bare[0].payload is None

    # scroll pagination
    seen: list[int] = []
    offset = None
    while True:
        page, offset = c.scroll("t", limit=4, offset=offset, with_payload=False, with_vectors=True)
        seen.extend(int(p.id) for p in page)
        assert all(p.vector is not None and p.payload is None for p in page)
        if offset is None:
            break
    assert seen == list(range(10))
    page, _ = c.scroll("t", scroll_filter=_parity(1), limit=100)
    assert [p.id for p in page] == [1, 3, 5, 7, 9]

    # retrieve + set payload
    c.set_payload("t", payload={"extra": True}, points=[2, 3])
    recs = {r.id: r for r in c.retrieve("t", ids=[2, 3, 99])}
    assert set(recs) == {2, 3} and recs[2].payload["extra"] is True
    c.set_payload("t", payload={"tag": "x"}, points=_parity(1))
    assert (
        c.count(
            "t",
            count_filter=models.Filter(
                must=[models.FieldCondition(key="tag", match=models.MatchValue(value="x"))]
            ),
        ).count
        == 5
    )

    # payload index is acknowledged
    assert (
        c.create_payload_index("t", "parity", models.PayloadSchemaType.INTEGER).status is not None
    )

    # delete by filter, then by ids
    c.delete("t", points_selector=models.FilterSelector(filter=_parity(1)))
    assert c.count("t").count == 5
    c.delete("t", points_selector=models.PointIdsList(points=[0, 2]))
    assert sorted(int(r.id) for r in c.scroll("t", limit=100)[0]) == [4, 6, 8]

    # uuid ids and errors
    uid = str(uuid.uuid4())
    c.upsert("t", points=[models.PointStruct(id=uid, vector=[0.1, 0.2, 0.3], payload={"u": 1})])
    assert c.retrieve("t", ids=[uid])[0].payload == {"u": 1}
    with pytest.raises(UnexpectedResponse) as ei:
        c.get_collection("missing")
    assert ei.value.status_code == 404
    assert "doesn't exist" in ei.value.structured()["status"]["error"]
    with pytest.raises(UnexpectedResponse) as ei:
        c.upsert("t", points=[models.PointStruct(id=1, vector=[1.0, 2.0], payload={})])
    assert ei.value.status_code == 400
    with pytest.raises(UnexpectedResponse) as ei:
        c.create_collection(
            "t", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
        )
    assert ei.value.status_code == 409

    assert c.delete_collection("t")
    assert not c.collection_exists("t")
    assert qdrant_srv.faults.write_counts["upsert"] == 3


def test_qdrant_raw_http_envelope(qdrant_srv: QdrantTestServer) -> None:
    with httpx.Client(base_url=qdrant_srv.url) as h:
        root = h.get("/").json()
        assert root["version"] == qdrant_srv.version
        r = h.get("/collections/none")
        assert r.status_code == 404 and r.json()["status"]["error"].startswith("Not found")
        body = h.get("/collections").json()
        assert body["status"] == "ok" and body["result"] == {"collections": []} and "time" in body
        assert (
            h.put("/collections/c", json={"vectors": {"size": 2, "distance": "Dot"}}).json()[
                "result"
            ]
            is True
        )
        r = h.put("/collections/c/points?wait=true", json={"points": [{"id": 1, "vector": [1, 2]}]})
        assert r.json()["result"]["status"] == "completed"
        r = h.post("/collections/c/points/search", json={"vector": [1.0, 0.0], "limit": 1})
        assert r.json()["result"][0]["id"] == 1
        assert h.get("/collections/c/points/1").json()["result"]["vector"] == [1.0, 2.0]
        assert h.get("/collections/c/points/2").status_code == 404
        assert h.post("/collections/c/points/query", content=b"{bad").status_code == 400
        assert h.get("/no/such/path").status_code == 404


def test_qdrant_version_check_does_not_warn(qdrant_srv: QdrantTestServer) -> None:
    client = QdrantClient(url=qdrant_srv.url)  # check_compatibility=True: GET / in a thread
    try:
        deadline = time.monotonic() + 5
        while ("GET", "/", 200) not in qdrant_srv.faults.request_log:
            assert time.monotonic() < deadline, "version check never reached the server"
            time.sleep(0.01)
        for t in threading.enumerate():
            if t.name.endswith("(_check_compatibility)"):
                t.join(5)
        assert client.info().version == qdrant_srv.version
    finally:
        client.close()


async def test_qdrant_async_client(qdrant_srv: QdrantTestServer) -> None:
    c = AsyncQdrantClient(url=qdrant_srv.url, check_compatibility=False)
    try:
        await c.create_collection(
            "a", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
        )
        assert await c.collection_exists("a")
        await c.upsert("a", points=_points(6), wait=True)
        assert (await c.count("a")).count == 6
        hits = (await c.query_points("a", query=[0.0, 1.0, 0.0], limit=2)).points
        assert [h.id for h in hits] == [5, 4]
        page, nxt = await c.scroll("a", limit=4)
        assert len(page) == 4 and nxt == 4
        await c.delete("a", points_selector=models.FilterSelector(filter=_parity(0)))
        await c.delete("a", points_selector=[1])
        assert sorted(int(p.id) for p in (await c.scroll("a", limit=10))[0]) == [3, 5]
        await c.set_payload("a", payload={"z": 1}, points=[3])
        assert (await c.retrieve("a", ids=[3]))[0].payload["z"] == 1
        with pytest.raises(UnexpectedResponse):
            await c.count("missing")
    finally:
        await c.close()


def test_qdrant_fault_injection(qdrant_srv: QdrantTestServer, qclient: QdrantClient) -> None:
    c, f = qclient, qdrant_srv.faults
    c.create_collection(
        "t", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
    )
    f.reset_counters()

    f.fail_nth_write(2)  # 2nd write from now fails with 500, before being applied
    c.upsert("t", points=_points(1, 0))
    with pytest.raises(UnexpectedResponse) as ei:
        c.upsert("t", points=_points(1, 1))
    assert ei.value.status_code == 500
    c.upsert("t", points=_points(1, 2))
    assert sorted(int(p.id) for p in c.scroll("t")[0]) == [0, 2]
    assert f.write_counts == {"upsert": 3} and f.failed_counts == {"upsert": 1} and f.exhausted

    f.fail_writes(count=1, drop=True)  # connection closed without a response
    with pytest.raises(ResponseHandlingException):
        c.upsert("t", points=_points(1, 3))
    assert c.count("t").count == 2

    f.fail_writes(count=1, when="after")  # applied, but the acknowledgement is lost
    with pytest.raises(UnexpectedResponse):
        c.delete("t", points_selector=[0])
    assert c.count("t").count == 1

    f.fail_writes_after(1, kinds={"set_payload"})  # only set_payload writes are considered
    c.upsert("t", points=_points(1, 5))
    c.set_payload("t", payload={"a": 1}, points=[2])
    for _ in range(2):
        with pytest.raises(UnexpectedResponse):
            c.set_payload("t", payload={"a": 2}, points=[2])
    assert c.retrieve("t", ids=[2])[0].payload["a"] == 1
    f.clear()
    c.set_payload("t", payload={"a": 3}, points=[2])
    assert c.retrieve("t", ids=[2])[0].payload["a"] == 3


def test_qdrant_fail_every_write_in_turn(
    qdrant_srv: QdrantTestServer, qclient: QdrantClient
) -> None:
    c, f = qclient, qdrant_srv.faults

    def scenario() -> None:
        c.create_collection(
            "s", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
        )
        c.upsert("s", points=_points(4))
        c.delete("s", points_selector=[1])

    def reset() -> None:
        if c.collection_exists("s"):
            c.delete_collection("s")
        f.clear()
        f.reset_counters()

    scenario()
    n = f.writes_total
    assert n == 3
    for i in range(1, n + 1):
        reset()
        f.fail_nth_write(i)
        with pytest.raises(UnexpectedResponse):
            scenario()
        assert f.failed_counts.total() == 1 and f.writes_total == i


def test_qdrant_latency_knob(qdrant_srv: QdrantTestServer, qclient: QdrantClient) -> None:
    qdrant_srv.faults.set_latency(0.15)
    t0 = time.perf_counter()
    qclient.get_collections()
    assert time.perf_counter() - t0 >= 0.15
    qdrant_srv.faults.set_latency(0.0)
    qdrant_srv.faults.set_latency(0.15, writes_only=True)
    t0 = time.perf_counter()
    qclient.get_collections()
    assert time.perf_counter() - t0 < 0.15


def test_qdrant_persistent_path_in_thread(tmp_path: Path) -> None:
    with QdrantTestServer(path=tmp_path / "q") as srv:
        c = QdrantClient(url=srv.url, check_compatibility=False)
        c.create_collection(
            "p", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
        )
        c.upsert("p", points=_points(3))
        c.close()
    with QdrantTestServer(path=tmp_path / "q") as srv:
        c = QdrantClient(url=srv.url, check_compatibility=False)
        assert c.count("p").count == 3
        c.close()


def test_server_stop_with_open_keepalive_connection() -> None:
    srv = QdrantTestServer().start()
    h = httpx.Client(base_url=srv.url)
    try:
        assert h.get("/collections").status_code == 200  # leaves a pooled keep-alive connection
        names = sorted(t.name[len(srv.thread_tag) + 1 :].split(":")[0] for t in srv.live_threads())
        assert names == ["conn", "embedded_0", "serve"]
        t0 = time.perf_counter()
        srv.stop()
        assert time.perf_counter() - t0 < 2
        assert srv.live_threads() == []
        with pytest.raises(httpx.TransportError):
            h.get("/collections")
    finally:
        h.close()
        srv.stop()


def test_qdrant_process_mode(tmp_path: Path) -> None:
    path = str(tmp_path / "qp")
    with ServerProcess("tests.servers.qdrant_rest", ["--path", path]) as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        c = QdrantClient(url=proc.url, check_compatibility=False)
        try:
            c.create_collection(
                "x", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
            )
            c.upsert("x", points=_points(5))
            proc.fail_writes(after=0, count=1)
            with pytest.raises(UnexpectedResponse):
                c.upsert("x", points=_points(1, 10))
            stats = proc.stats()
            assert stats["write_counts"] == {"create_collection": 1, "upsert": 2}
            assert stats["failed_counts"] == {"upsert": 1}
        finally:
            c.close()
    assert proc.proc is None
    # a second process reopens the same storage after the first released it
    with ServerProcess("tests.servers.qdrant_rest", ["--path", path]) as proc:
        c = QdrantClient(url=proc.url, check_compatibility=False)
        try:
            assert c.count("x").count == 5
        finally:
            c.close()


# ---------------------------------------------------------------------------------------------
# Pinecone
# ---------------------------------------------------------------------------------------------


def _vectors(n: int, start: int = 0) -> list[tuple[str, list[float], dict[str, object]]]:
    return [
        (
            f"r{i:02d}",
            [1.0, float(i), 0.5],
            {
                "route": "a" if i < 5 else "b",
                "n": i,
                "tags": ["even" if i % 2 == 0 else "odd", "all"],
            },
        )
        for i in range(start, start + n)
    ]


def test_pinecone_control_plane(pinecone_srv: PineconeTestServer, pc: Pinecone) -> None:
    m = pc.create_index(
        name="idx",
        dimension=3,
        metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
    )
    assert m.host == pinecone_srv.index_host("idx")
    assert m.status.ready and m.dimension == 3 and m.metric == "cosine"
    m2 = pc.indexes.create(
        name="idx2",
        schema={
            "fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "euclidean"}}
        },
        deployment={"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
    )
    assert m2.dimension == 4 and m2.metric == "euclidean"
    assert sorted(i.name for i in pc.list_indexes()) == ["idx", "idx2"]
    assert pc.has_index("idx") and not pc.has_index("nope")
    assert pc.describe_index("idx2").host == pinecone_srv.index_host("idx2")
    with pytest.raises(NotFoundError):
        pc.describe_index("nope")
    with pytest.raises(ApiError) as ei:
        pc.create_index(
            name="idx", dimension=3, spec=ServerlessSpec(cloud="aws", region="us-east-1")
        )
    assert ei.value.status_code == 409
    pc.delete_index("idx2")
    assert [i.name for i in pc.list_indexes()] == ["idx"]
    assert pinecone_srv.api_versions_seen  # the client sent X-Pinecone-Api-Version


def test_pinecone_requires_api_key(pinecone_srv: PineconeTestServer) -> None:
    with httpx.Client(base_url=pinecone_srv.url) as h:
        assert h.get("/indexes").status_code == 401
        assert h.get("/indexes", headers={"Api-Key": API_KEY}).status_code == 200
    with Pinecone(api_key="wrong", host=pinecone_srv.url) as bad, pytest.raises(UnauthorizedError):
        bad.list_indexes()


def test_pinecone_data_plane(pinecone_srv: PineconeTestServer, pc: Pinecone) -> None:
    pc.create_index(
        name="idx",
        dimension=3,
        metric="cosine",
        spec=ServerlessSpec(cloud="aws", region="us-east-1"),
    )
    with pc.Index("idx") as idx:  # resolves the host via describe_index
        assert idx.upsert(vectors=_vectors(10), namespace="ns").upserted_count == 10
        idx.upsert(vectors=[{"id": "d0", "values": [0.3, 0.2, 0.1]}])  # default namespace

        r = idx.query(vector=[1.0, 2.0, 0.5], top_k=3, namespace="ns", include_metadata=True)
        assert [m.id for m in r.matches] == ["r02", "r03", "r04"]
        assert r.matches[0].score == pytest.approx(1.0) and r.matches[0].metadata["n"] == 2
        assert r.matches[0].values == []
        r = idx.query(
            vector=[1.0, 2.0, 0.5],
            top_k=10,
            namespace="ns",
            filter={"$and": [{"route": "b"}, {"n": {"$lt": 8}}]},
            include_values=True,
        )
        assert sorted(m.id for m in r.matches) == ["r05", "r06", "r07"]
        assert r.matches[0].values and r.matches[0].metadata is None
        r = idx.query(id="r04", top_k=2, namespace="ns", filter={"tags": {"$in": ["even"]}})
        assert [m.id for m in r.matches] == ["r04", "r06"]
        assert idx.query(vector=[1.0, 0.0, 0.0], top_k=5).matches[0].id == "d0"

        f = idx.fetch(ids=["r01", "r02", "zz"], namespace="ns")
        assert set(f.vectors) == {"r01", "r02"}
        assert (
            f.vectors["r01"].values == [1.0, 1.0, 0.5] and f.vectors["r01"].metadata["route"] == "a"
        )

        pages = list(idx.list(namespace="ns", limit=4))
        assert [[v.id for v in p.vectors] for p in pages] == [
            ["r00", "r01", "r02", "r03"],
            ["r04", "r05", "r06", "r07"],
            ["r08", "r09"],
        ]
        page = idx.list_paginated(namespace="ns", prefix="r0", limit=3)
        assert [v.id for v in page.vectors] == ["r00", "r01", "r02"] and page.pagination is not None
        page = idx.list_paginated(
            namespace="ns", prefix="r0", limit=3, pagination_token=page.pagination.next
        )
        assert page.vectors[0].id == "r03"

        stats = idx.describe_index_stats()
        assert stats.total_vector_count == 11 and stats.dimension == 3
        assert (
            stats.namespaces["ns"].vector_count == 10
            and stats.namespaces["__default__"].vector_count == 1
        )
        assert sorted(n.name for n in idx.list_namespaces_paginated().namespaces) == [
            "__default__",
            "ns",
        ]

        idx.update(id="r01", set_metadata={"route": "z", "new": True}, namespace="ns")
        md = idx.fetch(ids=["r01"], namespace="ns").vectors["r01"].metadata
        assert md["route"] == "z" and md["new"] is True and md["n"] == 1
        idx.update(id="r01", values=[0.0, 0.0, 1.0], namespace="ns")
        assert idx.fetch(ids=["r01"], namespace="ns").vectors["r01"].values == [0.0, 0.0, 1.0]

        idx.delete(filter={"route": {"$eq": "b"}}, namespace="ns")
        idx.delete(ids=["r00", "missing"], namespace="ns")
        assert sorted(v.id for p in idx.list(namespace="ns") for v in p.vectors) == [
            "r01",
            "r02",
            "r03",
            "r04",
        ]
        idx.delete(delete_all=True, namespace="ns")
        assert "ns" not in idx.describe_index_stats().namespaces

        with pytest.raises(ApiError) as ei:
            idx.upsert(vectors=[("bad", [1.0, 2.0])])
        assert ei.value.status_code == 400 and "dimension" in str(ei.value)
        with pytest.raises(ApiError):
            idx.query(vector=[1.0, 2.0, 3.0], top_k=1, filter={"n": {"$regex": "x"}})

    # explicit host (scheme included) and the root fallback while only one index exists
    with (
        pc.Index(host=pinecone_srv.index_host("idx")) as idx,
        pc.Index(host=pinecone_srv.url) as root,
    ):
        assert idx.describe_index_stats().total_vector_count == 1
        assert root.describe_index_stats().total_vector_count == 1


def test_pinecone_fetch_by_metadata_pages(pc: Pinecone) -> None:
    """``fetch_by_metadata`` (API 2025-10+): one page of the matching vectors, ids ascending,
    a token while more remain; an empty filter is refused."""
    pc.create_index(
        name="idx", dimension=3, metric="cosine", spec=ServerlessSpec(cloud="aws", region="x")
    )
    with pc.Index("idx") as idx:
        idx.upsert(vectors=_vectors(10), namespace="ns")
        page = idx.fetch_by_metadata(filter={"n": {"$gte": 3}}, namespace="ns", limit=4)
        assert sorted(page.vectors) == ["r03", "r04", "r05", "r06"]
        assert page.vectors["r03"].values == [1.0, 3.0, 0.5]
        assert page.vectors["r03"].metadata["route"] == "a" and page.pagination is not None
        rest = idx.fetch_by_metadata(
            filter={"n": {"$gte": 3}},
            namespace="ns",
            limit=4,
            pagination_token=page.pagination.next,
        )
        assert sorted(rest.vectors) == ["r07", "r08", "r09"] and rest.pagination is None
        assert not idx.fetch_by_metadata(filter={"route": "nope"}, namespace="ns").vectors
        with pytest.raises(ApiError) as ei:
            idx._http.post("/vectors/fetch_by_metadata", json={"filter": {}, "namespace": "ns"})
        assert ei.value.status_code == 400


def test_pinecone_euclidean_and_dotproduct(pc: Pinecone) -> None:
    for metric, expected in (
        ("euclidean", ["near", "mid", "far"]),
        ("dotproduct", ["far", "mid", "near"]),
    ):
        pc.create_index(
            name=metric,
            dimension=2,
            metric=metric,
            spec=ServerlessSpec(cloud="aws", region="us-east-1"),
        )
        with pc.Index(metric) as idx:
            idx.upsert(vectors=[("near", [1.0, 1.0]), ("mid", [2.0, 2.0]), ("far", [5.0, 5.0])])
            r = idx.query(vector=[1.0, 1.0], top_k=3)
            assert [m.id for m in r.matches] == expected
            if metric == "euclidean":
                assert [m.score for m in r.matches] == [0.0, 2.0, 32.0]  # squared distance


def test_pinecone_filter_semantics() -> None:
    md = {"genre": "drama", "year": 2020, "tags": ["a", "b"], "flag": True}
    yes = [
        {"genre": "drama"},
        {"genre": {"$eq": "drama"}},
        {"genre": {"$ne": "comedy"}},
        {"year": {"$gt": 2019, "$lte": 2020}},
        {"year": {"$gte": 2020.0}},
        {"year": {"$lt": 2021}},
        {"genre": {"$in": ["drama", "x"]}},
        {"genre": {"$nin": ["comedy"]}},
        {"tags": "a"},
        {"tags": {"$in": ["b", "z"]}},
        {"tags": {"$nin": ["z"]}},
        {"tags": {"$ne": "z"}},
        {"flag": True},
        {"missing": {"$exists": False}},
        {"year": {"$exists": True}},
        {"missing": {"$ne": 1}},
        {"missing": {"$nin": [1]}},
        {"$or": [{"genre": "x"}, {"year": 2020}]},
        {"$and": [{"genre": "drama"}, {"tags": "b"}]},
        {},
    ]
    no = [
        {"genre": "comedy"},
        {"year": {"$gt": 2020}},
        {"genre": {"$nin": ["drama"]}},
        {"tags": {"$nin": ["a"]}},
        {"tags": {"$ne": "a"}},
        {"flag": 1},
        {"year": True},
        {"missing": {"$exists": True}},
        {"missing": "x"},
        {"missing": {"$gt": 1}},
        {"genre": {"$gt": 1}},
        {"$or": [{"genre": "x"}, {"year": 1}]},
        {"$and": [{"genre": "drama"}, {"tags": "z"}]},
    ]
    for flt in yes:
        assert matches_filter(md, flt), flt
    for flt in no:
        assert not matches_filter(md, flt), flt
    for bad in (
        {"x": {"$regex": "a"}},
        {"x": {"$in": "a"}},
        {"$or": {}},
        {"x": {"$gt": "a"}},
        {"$not": {}},
    ):
        with pytest.raises(ValueError):
            matches_filter(md, bad)


async def test_pinecone_async_clients(pinecone_srv: PineconeTestServer, pc: Pinecone) -> None:
    async with AsyncPinecone(api_key=API_KEY, host=pinecone_srv.url) as apc:
        await apc.indexes.create(
            name="aidx",
            schema={
                "fields": {"_values": {"type": "dense_vector", "dimension": 3, "metric": "cosine"}}
            },
            deployment={"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
        )
        assert [i.name async for i in apc.indexes.list()] == ["aidx"]
        idx = await apc.index(name="aidx")
        async with idx:
            await idx.upsert(vectors=_vectors(6), namespace="n")
            r = await idx.query(
                vector=[1.0, 5.0, 0.5], top_k=2, namespace="n", filter={"route": "a"}
            )
            assert [m.id for m in r.matches] == ["r04", "r03"]
            assert set((await idx.fetch(ids=["r00"], namespace="n")).vectors) == {"r00"}
            ids = [v.id for v in (await idx.list_paginated(namespace="n", limit=100)).vectors]
            assert ids == [f"r{i:02d}" for i in range(6)]
            await idx.delete(ids=["r00"], namespace="n")
            assert (await idx.describe_index_stats()).total_vector_count == 5
    legacy = pc.IndexAsyncio(host=pinecone_srv.index_host("aidx"))
    async with legacy:
        assert (await legacy.describe_index_stats()).namespaces["n"].vector_count == 5


def test_pinecone_fault_injection(
    pinecone_srv: PineconeTestServer, pc: Pinecone, no_retry_sleep: None
) -> None:
    f = pinecone_srv.faults
    pc.create_index(name="idx", dimension=3, spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    with pc.Index(host=pinecone_srv.index_host("idx")) as idx:
        f.reset_counters()
        # a non-retryable status surfaces at once
        f.fail_nth_write(1, status=400)
        with pytest.raises(ApiError) as ei:
            idx.upsert(vectors=_vectors(2))
        assert ei.value.status_code == 400
        assert (
            f.write_counts == {"upsert": 1} and idx.describe_index_stats().total_vector_count == 0
        )
        # the client retries a single 500 by itself: the write lands on the 2nd attempt
        f.fail_nth_write(1, status=500)
        assert idx.upsert(vectors=_vectors(2)).upserted_count == 2
        assert f.write_counts == {"upsert": 3} and f.failed_counts == {"upsert": 2}
        # a persistent failure exhausts the retries
        f.fail_writes_after(0, status=503, kinds={"delete"})
        with pytest.raises(ApiError) as ei:
            idx.delete(ids=["r00"])
        assert ei.value.status_code == 503 and f.write_counts["delete"] == 4
        f.clear()
        idx.delete(ids=["r00"])
        assert idx.describe_index_stats().total_vector_count == 1


def test_pinecone_process_mode() -> None:
    with ServerProcess("tests.servers.pinecone_server", ["--api-key", API_KEY]) as proc:
        with Pinecone(api_key=API_KEY, host=proc.url) as client:
            client.create_index(
                name="p", dimension=3, spec=ServerlessSpec(cloud="aws", region="us-east-1")
            )
            with client.Index("p") as idx:
                idx.upsert(vectors=_vectors(3))
                assert idx.query(vector=[1.0, 2.0, 0.5], top_k=1).matches[0].id == "r02"
                proc.fail_writes(after=0, count=1, status=400)
                with pytest.raises(ApiError):
                    idx.upsert(vectors=_vectors(1, 5))
                assert proc.stats()["failed_counts"] == {"upsert": 1}
                proc.clear_faults()
                idx.upsert(vectors=_vectors(1, 5))
                assert idx.describe_index_stats().total_vector_count == 4
        # the admin endpoints need no key; the API does
        with (
            pytest.raises(urllib.error.HTTPError) as ei,
            urllib.request.urlopen(proc.url + "/indexes", timeout=5),
        ):
            pass
        assert ei.value.code == 401
        ei.value.close()


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_qdrant_api_key() -> None:
    with QdrantTestServer(api_key="qk") as srv:
        with httpx.Client(base_url=srv.url) as h:
            assert h.get("/collections").status_code == 401
        good = QdrantClient(url=srv.url, api_key="qk", check_compatibility=False)
        bad = QdrantClient(url=srv.url, api_key="nope", check_compatibility=False)
        try:
            assert good.get_collections().collections == []
            with pytest.raises(UnexpectedResponse) as ei:
                bad.get_collections()
            assert ei.value.status_code == 401
        finally:
            good.close()
            bad.close()


def test_concurrent_clients(qdrant_srv: QdrantTestServer, pinecone_srv: PineconeTestServer) -> None:
    qc = QdrantClient(url=qdrant_srv.url, check_compatibility=False)
    pc = Pinecone(api_key=API_KEY, host=pinecone_srv.url)
    try:
        qc.create_collection(
            "c", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
        )
        pc.create_index(name="c", dimension=3, spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        idx = pc.Index("c")
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for j in range(5):
                    qc.upsert("c", points=_points(2, start=k * 100 + j * 2))
                    idx.upsert(vectors=_vectors(2, start=k * 100 + j * 2))
                    qc.count("c")
                    idx.query(vector=[1.0, 1.0, 1.0], top_k=3)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert qc.count("c").count == 60
        assert idx.describe_index_stats().total_vector_count == 60
        idx.close()
    finally:
        qc.close()
        pc.close()
    from tests.servers import FaultInjector
    from tests.servers import QdrantTestServer as Lazy

    assert Lazy is QdrantTestServer and FaultInjector is not None
