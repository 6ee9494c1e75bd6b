"""A collection or index that semantic-router 0.1.x wrote never opens as an empty fingerpost
remote (regression: it used to read as ``[]`` with ``is_synced() == True``, and a
``sync("local")`` overwrote it); ``layout="semantic-router"`` reads it, read-only."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fingerpost import ForeignLayoutError, Route, SemanticRouter, SyncError
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index._sr_layout import classify
from tests.index.sr_writers import pinecone_records, qdrant_write, sr_rows, texts

DIM = 16
ENCODER = HashEncoder(dim=DIM)
LOCAL = [Route(name="mine", utterances=["only mine", "all mine"])]


def test_classify_is_pure_and_prefers_semantic_router() -> None:
    assert classify([]) is None
    assert classify([{"kind": "utterance", "route": "r", "utterance": "u"}]) is None
    assert classify([{"kind": "meta"}, {"sr_route": "r", "sr_utterance": "u"}]) == "semantic-router"
    assert classify([{"field": "sr_hash", "scope": "x", "value": "h"}]) == "semantic-router"
    assert classify([{"title": "someone else's"}]) == "unknown"


def test_foreign_layout_error_is_exported_and_typed() -> None:
    import fingerpost

    assert "ForeignLayoutError" in fingerpost.__all__
    assert issubclass(ForeignLayoutError, SyncError)
    assert ForeignLayoutError("x", layout="semantic-router").layout == "semantic-router"


# ---- Qdrant ----------------------------------------------------------------------------------

qdrant_client = pytest.importorskip("qdrant_client")
from fingerpost.index.qdrant import QdrantIndex  # noqa: E402


@pytest.fixture
def qclient() -> Iterator[object]:
    client = qdrant_client.QdrantClient(location=":memory:")
    yield client
    client.close()


def _sr_qdrant(client: object, name: str = "semantic-router-index") -> None:
    rows = sr_rows()
    qdrant_write(client, name, rows, ENCODER(list(texts(rows))))


def test_qdrant_semantic_router_collection_is_refused_not_empty(qclient: object) -> None:
    _sr_qdrant(qclient)
    before = qclient.count("semantic-router-index").count  # type: ignore[attr-defined]
    with QdrantIndex("semantic-router-index", client=qclient) as idx:  # type: ignore[arg-type]
        with pytest.raises(ForeignLayoutError, match='layout="semantic-router"') as info:
            idx.bind(ENCODER.name, DIM)
        assert info.value.layout == "semantic-router" and "migrate" in str(info.value)
    # neither is_synced() nor sync("local") can write over it
    with QdrantIndex("semantic-router-index", client=qclient) as idx:  # type: ignore[arg-type]
        router = SemanticRouter(routes=LOCAL, encoder=ENCODER, index=idx)
        with pytest.raises(ForeignLayoutError):
            router.is_synced()
        with pytest.raises(ForeignLayoutError):
            router.sync("local")
        router.close()
    with (
        QdrantIndex("semantic-router-index", client=qclient) as idx,
        pytest.raises(ForeignLayoutError),
    ):  # type: ignore[arg-type]
        SemanticRouter(routes=LOCAL, encoder=ENCODER, index=idx, auto_sync="local")
    records, _ = qclient.scroll("semantic-router-index", limit=100)  # type: ignore[attr-defined]
    assert len(records) == before == len(sr_rows())
    assert all("kind" not in (r.payload or {}) for r in records)  # no fingerpost record added


def test_qdrant_sr_config_and_unknown_collections_are_refused(qclient: object) -> None:
    _sr_qdrant(qclient)
    with QdrantIndex("sr_config", client=qclient) as idx:  # type: ignore[arg-type]
        with pytest.raises(ForeignLayoutError) as info:
            idx.bind(ENCODER.name, 1)
        assert info.value.layout == "semantic-router"
    models = qdrant_client.models
    qclient.create_collection(  # type: ignore[attr-defined]
        "theirs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    qclient.upsert("theirs", [models.PointStruct(id=1, vector=[1.0] * DIM, payload={"a": 1})])  # type: ignore[attr-defined]
    with QdrantIndex("theirs", client=qclient) as idx:  # type: ignore[arg-type]
        with pytest.raises(ForeignLayoutError) as info:
            idx.bind(ENCODER.name, DIM)
        assert info.value.layout == "unknown"


def test_qdrant_layout_semantic_router_reads_it(qclient: object) -> None:
    _sr_qdrant(qclient)
    rows = sr_rows()
    with QdrantIndex("semantic-router-index", client=qclient, layout="semantic-router") as idx:  # type: ignore[arg-type]
        assert type(idx).__name__ == "SemanticRouterQdrantIndex" and isinstance(idx, QdrantIndex)
        meta = idx.bind(ENCODER.name, DIM)
        assert meta.count == len(rows)
        points = idx.fetch()
        got = {p.utterance.key: p for p in points}
        assert set(got) == {(r, u) for r, u, _, _ in rows}
        assert got[("weather", "forecast")].utterance.metadata == {"team": "ops"}
        assert got[("weather", "forecast")].utterance.function_schemas is None  # not kept in Qdrant
        want = ENCODER(["forecast"])[0]
        assert np.allclose(got[("weather", "forecast")].vector, want, atol=1e-6)
        assert [p.utterance.route for p in idx.fetch(["chitchat"])] == ["chitchat", "chitchat"]
        hits = idx.query(want, 1)
        assert (hits[0].route, hits[0].utterance) == ("weather", "forecast")
        # grouped and batched queries must not fall through to fingerpost's own layout
        assert idx.query_groups(want, 1, None, 2) is None
        assert idx.query_batch([(want, 1, None), (want, 2, ["chitchat"])]) == [
            hits,
            idx.query(want, 2, ["chitchat"]),
        ]
        with pytest.raises(ForeignLayoutError, match="read-only"):
            idx.upsert(points)
        with pytest.raises(ForeignLayoutError, match="read-only"):
            idx.delete([("weather", "forecast")])
    # a router can route from it (pulling its routes); it cannot write to it
    with QdrantIndex("semantic-router-index", client=qclient, layout="semantic-router") as idx:  # type: ignore[arg-type]
        router = SemanticRouter(encoder=ENCODER, index=idx, score_threshold=0.0)
        assert sorted(r.name for r in router.routes) == ["chitchat", "weather"]
        assert router("forecast").name == "weather"
        with pytest.raises(ForeignLayoutError):
            router.add(Route(name="new", utterances=["x y"]))
        router.close()


# ---- Pinecone --------------------------------------------------------------------------------

pinecone = pytest.importorskip("pinecone")
from fingerpost.index.pinecone import PineconeIndex  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402

KEY = "k"


@pytest.fixture
def psrv() -> Iterator[PineconeTestServer]:
    with PineconeTestServer(api_key=KEY) as server:
        yield server


def _sr_pinecone(srv: PineconeTestServer, name: str) -> None:
    rows = sr_rows()
    records, config = pinecone_records(rows, ENCODER(list(texts(rows))), DIM)
    with pinecone.Pinecone(api_key=KEY, host=srv.url) as pc:
        pc.create_index(
            name=name,
            dimension=DIM,
            metric="dotproduct",  # semantic-router's default
            spec=pinecone.ServerlessSpec(cloud="aws", region="us-east-1"),
        )
        with pc.index(host=srv.index_host(name)) as raw:
            raw.upsert(vectors=records, namespace="")
            raw.upsert(vectors=[config], namespace="sr_config")


def test_pinecone_semantic_router_index_is_refused_not_empty(psrv: PineconeTestServer) -> None:
    name = "semantic-router--routes"
    _sr_pinecone(psrv, name)
    before = psrv.faults.writes_total
    with PineconeIndex(name, api_key=KEY, host=psrv.url) as idx:
        with pytest.raises(ForeignLayoutError, match='layout="semantic-router"') as info:
            idx.bind(ENCODER.name, DIM)
        assert info.value.layout == "semantic-router"
    with PineconeIndex(name, api_key=KEY, host=psrv.url) as idx:
        router = SemanticRouter(routes=LOCAL, encoder=ENCODER, index=idx)
        with pytest.raises(ForeignLayoutError):
            router.is_synced()
        with pytest.raises(ForeignLayoutError):
            router.sync("local")
        router.close()
    assert psrv.faults.writes_total == before  # nothing written


def test_pinecone_layout_semantic_router_reads_it(psrv: PineconeTestServer) -> None:
    name = "semantic-router--routes"
    _sr_pinecone(psrv, name)
    rows = sr_rows()
    with PineconeIndex(name, api_key=KEY, host=psrv.url, layout="semantic-router") as idx:
        assert idx.bind(ENCODER.name, DIM).count == len(rows)
        got = {p.utterance.key: p for p in idx.fetch()}
        assert set(got) == {(r, u) for r, u, _, _ in rows}
        weather = got[("weather", "forecast")].utterance
        assert weather.metadata == {"team": "ops"}
        assert weather.function_schemas == [rows[0][2]]
        assert got[("chitchat", "hello there")].utterance.function_schemas is None
        want = ENCODER(["forecast"])[0]
        assert np.allclose(got[("weather", "forecast")].vector, want, atol=1e-6)
        hits = idx.query(want, 2, routes=["weather"])
        assert [h.route for h in hits] == ["weather", "weather"] and hits[0].utterance == "forecast"
        with pytest.raises(ForeignLayoutError, match="read-only"):
            idx.write_meta(idx.read_meta())  # type: ignore[arg-type]
