"""``async_is_synced`` through a native async client (issue 13): the already-synced check is
one small read awaited on the event loop, counted on the loopback servers; otherwise it
answers as ``is_synced`` does."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

pinecone = pytest.importorskip("pinecone")
pytest.importorskip("qdrant_client")

from fingerpost import Route, SemanticRouter  # noqa: E402
from fingerpost.encoders.testing import HashEncoder  # noqa: E402
from fingerpost.index.base import RemoteIndex  # noqa: E402
from tests.sync.test_no_mirror_async import native  # noqa: E402

ROUTES = [
    Route(name="politics", utterances=["vote for me", "the president"]),
    Route(name="time", utterances=["what time is it", "is it late"]),
]
META_READ = {
    "qdrant-rest": {"POST /collections/routes/points": 1},  # retrieve by id
    "pinecone": {"GET /data/routes/vectors/fetch": 1},  # fetch by id
}


@pytest.fixture(autouse=True)
def _no_pinecone_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _nothing(delay: float) -> None:
        return None

    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)
    monkeypatch.setattr("pinecone._internal.http_client._async_retry_sleep", _nothing)
    pinecone._internal.http_client.get_budget_registry()._reset()


def _refuse_sync_meta(index: RemoteIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> Any:
        raise AssertionError("the sync read_meta ran")

    monkeypatch.setattr(index, "read_meta", refuse)


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
async def test_synced_check_is_one_native_read(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with native(kind) as (make, srv):
        index = make(native=True)
        r = SemanticRouter(
            routes=ROUTES,
            index=index,
            encoder=HashEncoder(),
            auto_sync="local",
            score_threshold=0.3,
        )
        assert r.is_synced()
        _refuse_sync_meta(index, monkeypatch)
        srv.faults.reset_counters()
        assert await r.async_is_synced()
        assert dict(srv.faults.request_counts) == META_READ[kind]
        monkeypatch.undo()
        # Another agent adds a route: not synced, by the diff, as the sync path says.
        other = SemanticRouter(index=make(), encoder=HashEncoder(), score_threshold=0.3)
        other.add(Route(name="food", utterances=["order a pizza"]))
        assert not r.is_synced()
        assert not await r.async_is_synced()
        r.refresh()
        assert r.is_synced() and await r.async_is_synced()
        await r.aclose()


async def test_a_mirror_busy_or_moving_falls_back_to_the_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event loop never waits on the mirror lock: held by a writer, the fast check is
    undecided (None) and ``async_is_synced`` asks ``is_synced`` on a thread instead."""
    async with native("pinecone") as (make, _):
        r = SemanticRouter(
            routes=ROUTES,
            index=make(native=True),
            encoder=HashEncoder(),
            auto_sync="local",
            score_threshold=0.3,
        )
        remote = r._remote
        assert remote is not None
        assert await remote.ais_synced_fast() is True
        held, release = threading.Event(), threading.Event()

        def writer() -> None:
            with remote._mirror_lock:
                held.set()
                release.wait(10)

        t = threading.Thread(target=writer)
        t.start()
        try:
            assert held.wait(10)
            assert await remote.ais_synced_fast() is None
        finally:
            release.set()
            t.join(10)
        assert await r.async_is_synced()
        r.add(Route(name="food", utterances=["order a pizza"]))  # synced by the write
        assert await remote.ais_synced_fast() is True
        index = remote.remote
        read = index.aread_meta

        async def moving() -> Any:  # a write lands while the record is read
            meta = await read()
            await asyncio.to_thread(r.add, Route(name="tea", utterances=["a cup of tea"]))
            return meta

        monkeypatch.setattr(index, "aread_meta", moving)
        assert await remote.ais_synced_fast() is None
        monkeypatch.undo()
        assert await r.async_is_synced() and r.get("tea") is not None
        await r.aclose()
