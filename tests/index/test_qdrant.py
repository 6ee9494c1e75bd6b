"""QdrantIndex: the remote contract on embedded (memory, disk) and REST Qdrant, plus layout,
constructor, native-async and retry-helper specifics."""

from __future__ import annotations

import asyncio
import gc
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

qdrant_client = pytest.importorskip("qdrant_client")

from qdrant_client import AsyncQdrantClient, QdrantClient, models  # noqa: E402
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse  # noqa: E402

from fingerpost import (  # noqa: E402
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    RemoteUnavailableError,
    SyncConflictError,
)
from fingerpost.index._records import record_uuid, utterance_uuid  # noqa: E402
from fingerpost.index._retry import RetryPolicy, acall_with_retry, call_with_retry  # noqa: E402
from fingerpost.index.base import LeaseTicket, RemoteMeta, encode_payload  # noqa: E402
from fingerpost.index.qdrant import QdrantIndex, _transient  # noqa: E402
from tests.index.remote_contract import (  # noqa: E402
    CHITCHAT,
    DIM,
    ENC,
    ENCODER,
    POLITICS,
    Backend,
    RemoteIndexContract,
    Sleeps,
    closed_port,
    points,
)
from tests.servers.qdrant_rest import QdrantTestServer  # noqa: E402


class _Made:
    """Adapters a backend made, closed at teardown (an unclosed client leaks sockets)."""

    def __init__(self, exclusive: bool = False) -> None:
        self.exclusive = exclusive  # close earlier adapters first (embedded on-disk storage)
        self.items: list[QdrantIndex] = []

    def add(self, idx: QdrantIndex) -> QdrantIndex:
        self.items.append(idx)
        return idx

    def close_all(self) -> None:
        for idx in self.items:
            idx.close()


# ---- the contract, per backend ---------------------------------------------------------------


class TestQdrantMemory(RemoteIndexContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        client = QdrantClient(location=":memory:")  # shared: every adapter sees one store
        made = _Made()
        yield Backend(make=lambda **kw: made.add(QdrantIndex(client=client, **kw)))
        made.close_all()
        client.close()


class TestQdrantPath(RemoteIndexContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        made = _Made()

        def make(**kw: Any) -> QdrantIndex:
            made.close_all()  # the on-disk storage admits one client at a time
            kw.setdefault("page_size", 8)  # many pages from few points
            return made.add(QdrantIndex(path=str(tmp_path / "qdrant"), **kw))

        # The embedded on-disk engine commits (fsyncs) every point: ~20 ms each, so the
        # pagination test uses fewer points here and smaller pages instead.
        yield Backend(make=make, bulk=60)
        made.close_all()


def _unreachable(made: _Made) -> Any:
    return lambda **kw: made.add(QdrantIndex(url=f"http://127.0.0.1:{closed_port()}", **kw))


class TestQdrantServer(RemoteIndexContract):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        with QdrantTestServer() as srv:
            made = _Made()
            yield Backend(
                make=lambda **kw: made.add(QdrantIndex(url=srv.url, **kw)),
                faults=srv.faults,
                unreachable=_unreachable(made),
            )
            made.close_all()
        assert srv.live_threads() == []


class TestQdrantService(RemoteIndexContract):
    """The contract against a real Qdrant (extra; runs only with ``QDRANT_URL`` set)."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        url = os.environ.get("QDRANT_URL")
        if not url:
            pytest.skip("QDRANT_URL is not set: no real Qdrant to run the contract against")
        api_key = os.environ.get("QDRANT_API_KEY")
        name = f"fingerpost-test-{uuid.uuid4().hex[:12]}"
        made = _Made()
        yield Backend(
            make=lambda **kw: made.add(QdrantIndex(name, url=url, api_key=api_key, **kw)),
            unreachable=_unreachable(made),
        )
        made.close_all()
        admin = QdrantClient(url=url, api_key=api_key, check_compatibility=False)
        try:
            admin.delete_collection(name)
        finally:
            admin.close()


# ---- layout ----------------------------------------------------------------------------------


@pytest.fixture
def memory_client() -> Iterator[QdrantClient]:
    client = QdrantClient(location=":memory:")
    yield client
    client.close()


def test_point_layout(memory_client: QdrantClient) -> None:
    with QdrantIndex("fp", client=memory_client) as idx:
        idx.bind(ENC, DIM)
        idx.upsert(points(POLITICS[:1]))
        idx.put_ticket(LeaseTicket("tok", "me", 1.0, 2.0, {"k": "v"}))
    info = memory_client.get_collection("fp").config.params.vectors
    assert isinstance(info, models.VectorParams)
    assert (info.size, info.distance) == (DIM, models.Distance.COSINE)
    records = {str(r.id): r for r in memory_client.scroll("fp", limit=10, with_vectors=True)[0]}
    u = POLITICS[0]
    assert set(records) == {utterance_uuid(*u.key), record_uuid("meta"), record_uuid("lease:tok")}
    assert records[utterance_uuid(*u.key)].payload == encode_payload(u)
    assert str(uuid.UUID(utterance_uuid(*u.key))) == utterance_uuid(*u.key)  # a real UUID (v5)
    assert uuid.UUID(utterance_uuid(*u.key)).version == 5
    meta = records[record_uuid("meta")]
    assert meta.payload is not None and meta.payload["kind"] == "meta"
    assert RemoteMeta.from_json(meta.payload["meta"]) == RemoteMeta(ENC, DIM)
    assert meta.vector == [1.0] + [0.0] * (DIM - 1)
    lease = records[record_uuid("lease:tok")].payload
    assert lease == {
        "kind": "lease",
        "token": "tok",
        "owner": "me",
        "created_at": 1.0,
        "expires_at": 2.0,
        "extra": '{"k": "v"}',
    }


def test_ids_are_exact_pairs() -> None:
    assert utterance_uuid("politics", "a") != utterance_uuid("politics extra", "a")
    assert utterance_uuid("a b", "c") != utterance_uuid("a", "b c")
    assert utterance_uuid("r", "u") == utterance_uuid("r", "u")
    assert record_uuid("meta") not in {utterance_uuid("meta", ""), utterance_uuid("", "meta")}


def test_existing_collections_checked(memory_client: QdrantClient) -> None:
    memory_client.create_collection(
        "dot", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT)
    )
    memory_client.create_collection(
        "wide", vectors_config=models.VectorParams(size=DIM * 2, distance=models.Distance.COSINE)
    )
    memory_client.create_collection(
        "named",
        vectors_config={"v": models.VectorParams(size=DIM, distance=models.Distance.COSINE)},
    )
    memory_client.create_collection(
        "bare", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    for name, error in (
        ("dot", InvalidInputError),
        ("wide", EncoderMismatchError),
        ("named", InvalidInputError),
    ):
        with QdrantIndex(name, client=memory_client) as idx, pytest.raises(error):
            idx.bind(ENC, DIM)
        assert memory_client.count(name).count == 0  # nothing written
    with QdrantIndex("bare", client=memory_client) as idx:  # compatible, no meta yet: gets one
        assert idx.read_meta() is None
        assert idx.bind(ENC, DIM) == RemoteMeta(ENC, DIM)


def test_user_clients_stay_open(memory_client: QdrantClient) -> None:
    idx = QdrantIndex(client=memory_client)
    idx.bind(ENC, DIM)
    idx.close()
    assert memory_client.collection_exists("routes")  # still usable


def test_server_mode_indexes_payload_fields() -> None:
    with QdrantTestServer() as srv, QdrantIndex(url=srv.url) as idx:
        idx.bind(ENC, DIM)
        assert srv.faults.write_counts["create_collection"] == 1
        assert srv.faults.write_counts["create_index"] == 2  # kind, route
        idx.bind(ENC, DIM)
        assert srv.faults.write_counts["create_index"] == 2


def test_concurrent_creation_race_uses_the_existing_collection() -> None:
    with QdrantTestServer() as srv, QdrantIndex(url=srv.url, sleep=Sleeps()) as idx:
        srv.faults.fail_nth_write(1, status=409, when="after", kinds={"create_collection"})
        assert idx.bind(ENC, DIM) == RemoteMeta(ENC, DIM)  # "already exists": someone else won
        assert srv.faults.exhausted and idx.count() == 0


# qdrant-client leaves its lock file open when the storage is taken (its bug, not ours).
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_embedded_storage_in_use_is_unavailable(tmp_path: Path) -> None:
    holder = QdrantClient(path=str(tmp_path))
    try:
        with (
            QdrantIndex(path=str(tmp_path)) as idx,
            pytest.raises(RemoteUnavailableError, match="cannot open"),
        ):
            idx.bind(ENC, DIM)
    finally:
        holder.close()
    gc.collect()  # let the leaked file go here, under this test's warning filters


# ---- constructor -----------------------------------------------------------------------------


def test_constructor_does_no_io() -> None:
    with QdrantTestServer() as srv:
        idx = QdrantIndex(url=srv.url)
        assert list(srv.faults.request_log) == []
        idx.close()
    QdrantIndex(url=f"http://127.0.0.1:{closed_port()}").close()  # nothing to reach yet
    QdrantIndex(path="/nonexistent/dir/never/created").close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"location": ":memory:", "url": "http://x"},
        {"path": "p", "client": "c"},
        {"client": "not a client"},
        {"aclient": "not a client"},
        {"index_name": ""},
        {"index_name": "a/b"},
        {"retries": -1},
        {"retries": 1.5},
        {"backoff": math.nan},
        {"max_retry_time": -1},
        {"batch_size": 0},
        {"page_size": 2.5},
        {"timeout": 0},
        {"location": ":memory:", "api_key": "k"},
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        QdrantIndex(**kwargs)


async def test_aclient_must_share_a_server(memory_client: QdrantClient) -> None:
    embedded = AsyncQdrantClient(location=":memory:")
    remote = AsyncQdrantClient(url="http://127.0.0.1:1", check_compatibility=False)
    try:
        for kwargs in (
            {"aclient": embedded},
            {"aclient": remote, "location": ":memory:"},
            {"aclient": remote, "client": memory_client},
        ):
            with pytest.raises(InvalidInputError):
                QdrantIndex(**kwargs)
        with pytest.raises(InvalidInputError):
            QdrantIndex(client=memory_client, client_kwargs={"timeout": 1})
    finally:
        await embedded.close()
        await remote.close()


# ---- native async ----------------------------------------------------------------------------


async def test_native_async_twins_equal_sync() -> None:
    with QdrantTestServer() as srv:
        aclient = AsyncQdrantClient(url=srv.url, check_compatibility=False)
        try:
            with QdrantIndex(url=srv.url, aclient=aclient) as idx:
                assert await idx.aread_meta() is None
                idx.bind(ENC, DIM)
                idx.upsert(points(POLITICS + CHITCHAT))
                before = len(srv.faults.request_log)
                assert await idx.aget_utterances() == idx.get_utterances()
                afetched, fetched = await idx.afetch(["politics"]), idx.fetch(["politics"])
                assert [p.utterance for p in afetched] == [p.utterance for p in fetched]
                np.testing.assert_array_equal(afetched[0].vector, fetched[0].vector)  # type: ignore[arg-type]
                vec = ENCODER(["weather"])[0]
                assert await idx.aquery(vec, 3, ["chitchat"]) == idx.query(vec, 3, ["chitchat"])
                assert await idx.aread_meta() == idx.read_meta() == RemoteMeta(ENC, DIM)
                assert await idx.afetch([]) == []
                assert len(srv.faults.request_log) > before
            assert (await aclient.get_collections()).collections  # the caller's client stays open
        finally:
            await aclient.close()


async def test_native_async_retries_then_maps_errors() -> None:
    dead = AsyncQdrantClient(url=f"http://127.0.0.1:{closed_port()}", check_compatibility=False)
    delays: list[float] = []

    async def asleep(delay: float) -> None:
        delays.append(delay)

    try:
        with (
            QdrantTestServer() as srv,
            QdrantIndex(url=srv.url, aclient=dead, retries=2, asleep=asleep) as idx,
        ):
            idx.bind(ENC, DIM)
            with pytest.raises(RemoteUnavailableError, match="3 attempts") as ei:
                await idx.aget_utterances()
            assert isinstance(ei.value.__cause__, ResponseHandlingException)
            assert len(delays) == 2
            with pytest.raises(RemoteUnavailableError):
                await idx.aquery(ENCODER(["x"])[0], 1)
    finally:
        await dead.close()


async def test_aclient_alone_yields_the_sync_client() -> None:
    with QdrantTestServer() as srv:
        aclient = AsyncQdrantClient(url=srv.url, check_compatibility=False)
        try:
            with QdrantIndex(aclient=aclient) as idx:
                idx.bind(ENC, DIM)
                idx.upsert(points(CHITCHAT))
                assert len(await idx.aget_utterances()) == len(CHITCHAT)
            assert (await aclient.count("routes")).count == len(CHITCHAT) + 1  # + meta
        finally:
            await aclient.close()


# ---- the shared retry helper (fingerpost.index._retry) ---------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, delay: float) -> None:
        self.now += delay


def test_retry_policy_validates() -> None:
    for kwargs in (
        {"retries": -1},
        {"retries": True},
        {"backoff": -0.1},
        {"max_retry_time": math.inf},
    ):
        with pytest.raises(InvalidInputError):
            RetryPolicy(**kwargs)


def test_retry_delays_double_with_jitter_and_cap() -> None:
    p = RetryPolicy(backoff=0.2, max_backoff=1.0)
    for attempt, full in ((0, 0.2), (1, 0.4), (2, 0.8), (3, 1.0), (10, 1.0)):
        for _ in range(20):
            assert full / 2 <= p.delay(attempt) <= full


def test_retry_stops_at_max_retry_time() -> None:
    clock = _Clock()
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise ConnectionError("down")

    p = RetryPolicy(
        retries=100,
        backoff=1.0,
        max_backoff=1.0,
        max_retry_time=3.0,
        sleep=clock.sleep,
        clock=clock,
    )
    with pytest.raises(RemoteUnavailableError) as ei:
        call_with_retry(p, "op", failing, lambda exc: True)
    assert clock.now <= 3.0 and 4 <= len(calls) <= 7  # bounded by time, not by retries
    assert isinstance(ei.value.__cause__, ConnectionError)


def test_retry_passes_fingerpost_errors_and_recovers() -> None:
    p = RetryPolicy(sleep=lambda d: None)

    def conflict() -> None:
        raise SyncConflictError("ours")

    with pytest.raises(SyncConflictError):
        call_with_retry(p, "op", conflict, lambda exc: True)
    outcomes = iter([ConnectionError("1"), ConnectionError("2"), "ok"])

    def flaky() -> str:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert call_with_retry(p, "op", flaky, lambda exc: True) == "ok"


async def test_async_retry_twin() -> None:
    delays: list[float] = []

    async def asleep(d: float) -> None:
        delays.append(d)

    attempts = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        raise TimeoutError("slow")

    p = RetryPolicy(retries=2, asleep=asleep)
    with pytest.raises(RemoteUnavailableError, match="3 attempts"):
        await acall_with_retry(p, "op", failing, lambda exc: True)
    assert attempts == 3 and len(delays) == 2
    with pytest.raises(RemoteUnavailableError, match="1 attempt"):
        await acall_with_retry(p, "op", failing, lambda exc: False)
    assert isinstance(RemoteUnavailableError("x"), FingerpostError)
    await asyncio.sleep(0)


def test_qdrant_transient_classification() -> None:
    def response(status: int) -> UnexpectedResponse:
        return UnexpectedResponse(status, "x", b"{}", httpx.Headers())

    assert _transient(response(503)) and _transient(response(429)) and _transient(response(408))
    assert (
        not _transient(response(400))
        and not _transient(response(404))
        and not _transient(response(401))
    )
    assert _transient(ResponseHandlingException(httpx.ConnectError("refused")))
    assert _transient(httpx.ReadTimeout("slow")) and not _transient(
        ValueError("Collection x not found")
    )
