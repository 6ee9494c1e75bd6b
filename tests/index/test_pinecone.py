"""PineconeIndex: the remote contract on the loopback Pinecone server, plus id layout,
index creation, batching and constructor specifics."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pinecone = pytest.importorskip("pinecone")

from pinecone import ApiError, Pinecone, ServerlessSpec  # noqa: E402

from fingerpost import (  # noqa: E402
    EncoderMismatchError,
    InvalidInputError,
    RemoteUnavailableError,
    Utterance,
)
from fingerpost.index._records import utterance_uuid  # noqa: E402
from fingerpost.index.base import LeaseTicket, RemoteMeta, RemotePoint, encode_payload  # noqa: E402
from fingerpost.index.pinecone import (  # noqa: E402
    LEASE_PREFIX,
    META_ID,
    PineconeIndex,
    _transient,
    route_key,
    vector_id,
)
from tests.index.remote_contract import (  # noqa: E402
    CHITCHAT,
    DIM,
    ENC,
    EXTRA,
    ODD_NAMES,
    POLITICS,
    Backend,
    RemoteIndexContract,
    Sleeps,
    closed_port,
    points,
    random_points,
)
from tests.servers._http import HTTPError  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402

KEY = "test-key"


@pytest.fixture(autouse=True)
def fast_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data-plane client retries 5xx and dropped connections itself, with real sleeps and a
    process-wide per-host retry budget: skip the sleeps and start every test with a full budget."""

    async def no_async_sleep(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", no_async_sleep)
    pinecone._internal.http_client.get_budget_registry()._reset()


class _Made:
    def __init__(self) -> None:
        self.items: list[PineconeIndex] = []

    def add(self, idx: PineconeIndex) -> PineconeIndex:
        self.items.append(idx)
        return idx

    def close_all(self) -> None:
        for idx in self.items:
            idx.close()


@pytest.fixture
def srv() -> Iterator[PineconeTestServer]:
    with PineconeTestServer(api_key=KEY) as server:
        yield server
    assert server.live_threads() == []


@pytest.fixture
def made() -> Iterator[_Made]:
    m = _Made()
    yield m
    m.close_all()


def _unreachable(made: _Made) -> Any:
    return lambda **kw: made.add(
        PineconeIndex(api_key=KEY, host=f"http://127.0.0.1:{closed_port()}", **kw)
    )


# ---- the contract ----------------------------------------------------------------------------


class TestPineconeServer(RemoteIndexContract):
    @pytest.fixture
    def backend(self, srv: PineconeTestServer, made: _Made) -> Backend:
        return Backend(
            make=lambda **kw: made.add(PineconeIndex(api_key=KEY, host=srv.url, **kw)),
            faults=srv.faults,
            unreachable=_unreachable(made),
            attempts_per_try=4,  # the client's own 3 retries inside each of ours
        )


class TestPineconeService(RemoteIndexContract):
    """The contract against real Pinecone (extra; runs only with ``PINECONE_API_KEY`` set).

    One serverless index (``FINGERPOST_TEST_PINECONE_INDEX``, default ``fingerpost-contract``,
    created on first use) and a fresh namespace per test. Pinecone is eventually consistent,
    hence the pause after writes.
    """

    @pytest.fixture
    def backend(self, made: _Made) -> Iterator[Backend]:
        if not os.environ.get("PINECONE_API_KEY"):
            pytest.skip("PINECONE_API_KEY is not set: no real Pinecone to run the contract against")
        name = os.environ.get("FINGERPOST_TEST_PINECONE_INDEX", "fingerpost-contract")
        namespace = f"t-{uuid.uuid4().hex[:12]}"
        yield Backend(
            make=lambda **kw: made.add(PineconeIndex(name, namespace=namespace, **kw)),
            unreachable=_unreachable(made),
            settle=lambda: time.sleep(
                float(os.environ.get("FINGERPOST_TEST_PINECONE_SETTLE", "8"))
            ),
            bulk=2_100,
        )
        with Pinecone() as pc, pc.index(name=name) as idx, contextlib.suppress(ApiError):
            idx.delete_namespace(name=namespace)


# ---- layout ----------------------------------------------------------------------------------


def test_id_and_metadata_layout(srv: PineconeTestServer) -> None:
    with PineconeIndex(api_key=KEY, host=srv.url, namespace="ns") as idx:
        idx.bind(ENC, DIM)
        idx.upsert(points(POLITICS + EXTRA))
        idx.put_ticket(LeaseTicket("tok", "me", 1.0, 2.0, {"k": "v"}))
    space = srv.indexes["routes"].namespaces["ns"]
    u = POLITICS[0]
    vid = vector_id(*u.key)
    assert vid == f"{route_key('politics')}#{utterance_uuid(*u.key)}" and len(route_key("x")) == 16
    assert set(space) == {vector_id(*x.key) for x in POLITICS + EXTRA} | {
        META_ID,
        LEASE_PREFIX + "tok",
    }
    assert space[vid].metadata == encode_payload(u)
    assert all(isinstance(v, (str, float, int)) for v in space[vid].metadata.values())  # flat
    assert RemoteMeta.from_json(space[META_ID].metadata["meta"]) == RemoteMeta(ENC, DIM)
    assert space[META_ID].values == [1.0] + [0.0] * (DIM - 1)
    assert space[LEASE_PREFIX + "tok"].metadata["kind"] == "lease"
    with Pinecone(api_key=KEY, host=srv.url) as pc, pc.index(host=srv.index_host("routes")) as raw:
        listed = [
            v.id
            for v in raw.list_paginated(prefix=route_key("politics") + "#", namespace="ns").vectors
        ]
    assert sorted(listed) == sorted(vector_id(*x.key) for x in POLITICS)  # one route by prefix


def test_route_keys_are_stable_and_distinct() -> None:
    assert route_key("politics") == route_key("politics")
    names = ["politics", "politics extra", "Politics", *ODD_NAMES]
    assert len({route_key(n) for n in names}) == len(names)
    assert all(route_key(n).isascii() for n in names)


def test_bind_creates_a_serverless_cosine_index(srv: PineconeTestServer) -> None:
    with PineconeIndex(
        "my-routes", api_key=KEY, host=srv.url, cloud="gcp", region="europe-west4"
    ) as idx:
        assert idx.bind(ENC, DIM) == RemoteMeta(ENC, DIM)
    ix = srv.indexes["my-routes"]
    assert (ix.dimension, ix.metric, ix.vector_type) == (DIM, "cosine", "dense")
    assert ix.deployment["cloud"] == "gcp" and ix.deployment["region"] == "europe-west4"
    assert srv.faults.write_counts["create_index"] == 1


def test_existing_index_checked(srv: PineconeTestServer) -> None:
    with Pinecone(api_key=KEY, host=srv.url) as pc:
        pc.create_index(
            name="dot",
            dimension=DIM,
            metric="dotproduct",
            spec=ServerlessSpec(cloud="aws", region="us-east-1"),
        )
    before = srv.faults.writes_total
    with (
        PineconeIndex("dot", api_key=KEY, host=srv.url) as idx,
        pytest.raises(InvalidInputError, match="cosine"),
    ):
        idx.bind(ENC, DIM)
    with (
        PineconeIndex(api_key=KEY, host=srv.url, dimensions=DIM * 2) as idx,
        pytest.raises(EncoderMismatchError),
    ):
        idx.bind(ENC, DIM)
    assert srv.faults.writes_total == before


def test_namespaces_are_separate_remotes(srv: PineconeTestServer) -> None:
    with (
        PineconeIndex(api_key=KEY, host=srv.url, namespace="a") as a,
        PineconeIndex(api_key=KEY, host=srv.url, namespace="b") as b,
    ):
        a.bind(ENC, DIM)
        b.bind(ENC, DIM)
        a.upsert(points(CHITCHAT))
        assert a.count() == len(CHITCHAT) and b.count() == 0 and b.get_utterances() == []
        b.write_meta(RemoteMeta(ENC, DIM, version=5))
        assert a.read_meta() == RemoteMeta(ENC, DIM) and b.read_meta() == RemoteMeta(
            ENC, DIM, version=5
        )


def test_foreign_vectors_in_the_namespace_are_ignored(srv: PineconeTestServer) -> None:
    with PineconeIndex(api_key=KEY, host=srv.url) as idx:
        idx.bind(ENC, DIM)
        idx.upsert(points(CHITCHAT))
        with (
            Pinecone(api_key=KEY, host=srv.url) as pc,
            pc.index(host=srv.index_host("routes")) as raw,
        ):
            raw.upsert(
                vectors=[("someone-else", [0.5] * DIM, {"route": "chitchat", "utterance": "x"})]
            )
        assert idx.count() == len(CHITCHAT) and len(idx.get_utterances()) == len(CHITCHAT)
        assert all(h.utterance != "x" for h in idx.query(np.full(DIM, 0.5, dtype=np.float32), 10))


# ---- batching --------------------------------------------------------------------------------


def test_upserts_are_batched_by_count_and_size(srv: PineconeTestServer) -> None:
    with PineconeIndex("wide", api_key=KEY, host=srv.url) as idx:
        idx.bind("wide-encoder", 384)
        srv.faults.reset_counters()
        rng = np.random.default_rng(1)
        vecs = rng.standard_normal((450, 384)).astype(np.float32)
        idx.upsert(
            [RemotePoint(Utterance(route="r", utterance=f"u{i}"), v) for i, v in enumerate(vecs)]
        )
        assert srv.faults.write_counts["upsert"] == 3  # 200 + 200 + 50
        srv.faults.reset_counters()
        big = {"blob": "x" * 30_000}  # 30 KB of metadata per vector: the byte limit binds first
        idx.upsert(
            [
                RemotePoint(Utterance(route="big", utterance=f"b{i}", metadata=big), vecs[i])
                for i in range(120)
            ]
        )
        assert srv.faults.write_counts["upsert"] >= 3
        assert idx.count() == 570
        with pytest.raises(InvalidInputError, match="40 KB"):
            idx.upsert(
                [
                    RemotePoint(
                        Utterance(route="huge", utterance="h", metadata={"blob": "x" * 50_000}),
                        vecs[0],
                    )
                ]
            )


def test_fetch_reads_pages_by_metadata(
    srv: PineconeTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a route is read by pages of ``fetch_by_metadata`` (no listing, no fetch by
    id), and so are the lease tickets."""
    monkeypatch.setattr("fingerpost.index.pinecone._FILTER_PAGE", 100)
    with PineconeIndex(api_key=KEY, host=srv.url) as idx:
        idx.bind(ENC, DIM)
        idx.upsert(random_points(250, ["one"]) + random_points(30, ["two"]))
        srv.faults.reset_counters()
        got = idx.fetch(["one"])
        assert len(got) == 250 and {p.utterance.route for p in got} == {"one"}
        assert got[0].vector is not None and got[0].vector.shape == (DIM,)
        assert dict(srv.faults.request_counts) == {"POST /data/routes/vectors/fetch_by_metadata": 3}
        srv.faults.reset_counters()
        assert idx.list_tickets() == [] and len(idx.fetch(None)) == 280
        assert dict(srv.faults.request_counts) == {
            "POST /data/routes/vectors/fetch_by_metadata": 1 + 3
        }


class _NoFilterFetch(PineconeTestServer):
    """A server of an older API: no ``fetch_by_metadata``."""

    def _fetch_by_metadata(self, req: Any) -> Any:
        raise HTTPError(404, {"code": 5, "message": "Not Found", "details": []})


def test_fetch_lists_ids_without_fetch_by_metadata() -> None:
    with (
        _NoFilterFetch(api_key=KEY) as old,
        PineconeIndex(api_key=KEY, host=old.url) as idx,
    ):
        idx.bind(ENC, DIM)
        idx.upsert(random_points(250, ["one"]))
        assert len(idx.fetch(["one"])) == 250  # asks once, then lists
        old.faults.reset_counters()
        assert len(idx.fetch(["one"])) == 250
        assert dict(old.faults.request_counts) == {
            "GET /data/routes/vectors/list": 3,
            "GET /data/routes/vectors/fetch": 3,
        }


# ---- readiness and races ---------------------------------------------------------------------


class _SlowServer(PineconeTestServer):
    """Describes an index as initialising (no host yet) for its first ``describes`` calls."""

    def __init__(self, describes: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.describes = describes

    def _describe_index(self, req: Any) -> Any:
        response = super()._describe_index(req)
        if self.describes > 0:
            self.describes -= 1
            body = json.loads(response.body)
            body["status"] = {"ready": False, "state": "Initializing"}
            del body["host"]
            response.body = json.dumps(body).encode()
        return response


def test_bind_waits_for_a_new_index() -> None:
    sleeps = Sleeps()
    with (
        _SlowServer(3, api_key=KEY) as slow,
        PineconeIndex(api_key=KEY, host=slow.url, sleep=sleeps) as idx,
    ):
        assert idx.bind(ENC, DIM) == RemoteMeta(ENC, DIM)
        assert sleeps.delays == [0.5, 1.0, 2.0]


def test_bind_gives_up_on_an_index_that_never_gets_ready() -> None:
    sleeps = Sleeps()
    with (
        _SlowServer(10**6, api_key=KEY) as slow,
        PineconeIndex(api_key=KEY, host=slow.url, sleep=sleeps, ready_timeout=20) as idx,
        pytest.raises(RemoteUnavailableError, match="not ready after 20 s"),
    ):
        idx.bind(ENC, DIM)
    assert sum(sleeps.delays) <= 20


def test_concurrent_creation_race_uses_the_existing_index(srv: PineconeTestServer) -> None:
    srv.faults.fail_nth_write(1, status=409, when="after", kinds={"create_index"})
    with PineconeIndex(api_key=KEY, host=srv.url) as idx:
        assert idx.bind(ENC, DIM) == RemoteMeta(ENC, DIM)  # "already exists": someone else won
    assert srv.faults.exhausted


def test_reads_before_bind(srv: PineconeTestServer) -> None:
    with PineconeIndex(api_key=KEY, host=srv.url) as idx:
        assert idx.read_meta() is None  # no index yet: nothing created by reading
        with pytest.raises(RemoteUnavailableError, match="does not exist"):
            idx.get_utterances()
        with pytest.raises(InvalidInputError, match="not bound"):
            idx.write_meta(RemoteMeta(ENC, DIM))
    assert srv.indexes == {}


# ---- constructor -----------------------------------------------------------------------------


def test_constructor_does_no_io(srv: PineconeTestServer) -> None:
    PineconeIndex(api_key=KEY, host=srv.url).close()
    assert list(srv.faults.request_log) == []


def test_api_key_from_the_environment(
    srv: PineconeTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", KEY)
    with PineconeIndex(host=srv.url) as idx:
        idx.bind(ENC, DIM)
    monkeypatch.delenv("PINECONE_API_KEY")
    with pytest.raises(InvalidInputError, match="api_key"):
        PineconeIndex(host=srv.url)


def test_wrong_api_key_is_unavailable_without_retries(srv: PineconeTestServer) -> None:
    sleeps = Sleeps()
    with (
        PineconeIndex(api_key="wrong", host=srv.url, sleep=sleeps) as idx,
        pytest.raises(RemoteUnavailableError, match="401"),
    ):
        idx.bind(ENC, DIM)
    assert sleeps.delays == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index_name": "Routes"},
        {"index_name": "a_b"},
        {"index_name": "x" * 46},
        {"index_name": ""},
        {"host": ""},
        {"namespace": 3},
        {"region": ""},
        {"dimensions": 0},
        {"retries": -1},
        {"backoff": -1.0},
        {"batch_size": 1001},
        {"timeout": 0},
        {"ready_timeout": -5},
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        PineconeIndex(**{"api_key": KEY, **kwargs})


def test_pinecone_transient_classification() -> None:
    assert _transient(ApiError("x", 503)) and _transient(ApiError("x", 429))
    assert not _transient(ApiError("x", 400)) and not _transient(ApiError("x", 404))
    assert _transient(pinecone.PineconeConnectionError("refused"))
    assert _transient(pinecone.PineconeTimeoutError("slow")) and not _transient(ValueError("x"))
    assert json.loads(json.dumps(encode_payload(POLITICS[0])))  # what we send is plain JSON


@pytest.mark.parametrize(
    "host",
    ["http://[::1", "localhost:abc", "http://h:99999", "http://bad host", "ftp://x", "", "   "],
)
def test_an_unusable_host_is_a_typed_error_at_construction(host: str) -> None:
    """Issue 10: a bad host used to surface as httpx.InvalidURL at the first request."""
    with pytest.raises(InvalidInputError, match="host"):
        PineconeIndex("routes", api_key="k", host=host)


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:5080", "localhost:5080", "https://api.example.test"]
)
def test_usable_hosts_construct_without_io(host: str) -> None:
    PineconeIndex("routes", api_key="k", host=host).close()
