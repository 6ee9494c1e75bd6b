"""acall/abatch: micro-batched, same rules as the sync path, robust under load."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import numpy as np
import pytest

from fingerpost import (
    EncoderError,
    FingerpostError,
    QueueFullError,
    Route,
    RouteChoice,
    RouteNotFoundError,
    SemanticRouter,
)
from fingerpost.encoders import DenseEncoder
from fingerpost.encoders.testing import HashEncoder

TURNS = [
    f"{w} {i}" for i in range(25) for w in ("the president", "lovely weather", "zzz", "vote now")
]


class SlowEncoder(DenseEncoder):
    """HashEncoder vectors, a GIL-releasing cost per call, counts calls, can fail or block."""

    def __init__(self) -> None:
        self.inner = HashEncoder()
        self.name, self.dim = self.inner.name, self.inner.dim
        self.calls = 0
        self.sizes: list[int] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.sizes.append(len(texts))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if any("boom" in t for t in texts):
            raise EncoderError("encoder exploded")
        time.sleep(0.002)
        return self.inner.encode(texts)


def make(seed_routes, encoder, **kw):  # type: ignore[no-untyped-def]
    return SemanticRouter(routes=seed_routes, encoder=encoder, score_threshold=0.3, **kw)


async def test_acall_applies_exactly_the_rules_of_call(seed_routes) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, HashEncoder())
    for kw in ({}, {"limit": None}, {"limit": 2}, {"route_filter": ["chitchat"]}):
        sync = [router(t, **kw) for t in TURNS[:20]]
        async_ = [await router.acall(t, **kw) for t in TURNS[:20]]
        assert _names(async_) == _names(sync)
        assert _names(await router.abatch(TURNS[:20], **kw)) == _names(sync)
    await router.aclose()


def _names(results):  # type: ignore[no-untyped-def]
    return [[c.name for c in r] if isinstance(r, list) else r.name for r in results]


async def test_concurrent_turns_share_encoder_calls_and_equal_sequential(seed_routes) -> None:  # type: ignore[no-untyped-def]
    enc = SlowEncoder()
    router = make(seed_routes, enc)
    expected = _names([router(t) for t in TURNS * 10])
    enc.calls = 0
    async with router:
        got = await asyncio.gather(*(router.acall(t) for t in TURNS * 10))
    assert _names(got) == expected
    assert enc.calls < len(expected) / 4  # 1,000 turns in far fewer encoder calls
    assert max(enc.sizes) <= 64


async def test_event_loop_stays_responsive_with_1000_turns_in_flight(seed_routes) -> None:  # type: ignore[no-untyped-def]
    """While a batch sits in the encoder the loop keeps running: proved without timing, by
    holding the encoder until code on the loop releases it (a blocked loop never would)."""
    enc = SlowEncoder()
    router = make(seed_routes, enc, max_batch=16)
    enc.entered.clear()  # building the router encoded its routes
    enc.gate = threading.Event()
    calls = asyncio.gather(*(router.acall(t) for t in TURNS * 10))
    assert await asyncio.to_thread(enc.entered.wait, 10)  # a batch is inside the encoder now
    ticks = 0
    for _ in range(3):  # the loop runs other work meanwhile
        await asyncio.sleep(0)
        ticks += 1
    enc.gate.set()
    results = await calls
    await router.aclose()
    assert ticks == 3 and len(results) == len(TURNS) * 10
    assert max(enc.sizes[1:]) <= 16


async def test_encoder_error_fails_only_its_batch(seed_routes) -> None:  # type: ignore[no-untyped-def]
    enc = SlowEncoder()
    router = make(seed_routes, enc)
    enc.gate = threading.Event()
    first = asyncio.create_task(router.acall("the president"))  # batch 1 blocks in the encoder
    await asyncio.to_thread(enc.entered.wait, 10)
    bad = asyncio.create_task(router.acall("boom"))  # batch 2 (queued behind batch 1)
    await asyncio.sleep(0)
    enc.gate.set()
    assert (await first).name == "politics"
    with pytest.raises(EncoderError):
        await bad
    assert (await router.acall("lovely weather")).name == "chitchat"  # the router goes on
    await router.aclose()


async def test_bad_route_filter_fails_only_its_caller(seed_routes) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, HashEncoder())
    ok, bad = await asyncio.gather(
        router.acall("the president"),
        router.acall("the president", route_filter=["nope"]),
        return_exceptions=True,
    )
    assert isinstance(ok, RouteChoice) and ok.name == "politics"
    assert isinstance(bad, RouteNotFoundError)
    await router.aclose()


async def test_cancelled_caller_does_not_disturb_others(seed_routes) -> None:  # type: ignore[no-untyped-def]
    enc = SlowEncoder()
    router = make(seed_routes, enc)
    enc.gate = threading.Event()
    blocker = asyncio.create_task(router.acall("zzz"))
    await asyncio.to_thread(enc.entered.wait, 10)
    victim = asyncio.create_task(router.acall("the president"))
    other = asyncio.create_task(router.acall("lovely weather"))
    await asyncio.sleep(0)
    victim.cancel()
    enc.gate.set()
    assert (await other).name == "chitchat"
    await blocker
    with pytest.raises(asyncio.CancelledError):
        await victim
    await router.aclose()


async def test_bounded_queue_pushes_back(seed_routes) -> None:  # type: ignore[no-untyped-def]
    enc = SlowEncoder()
    router = make(seed_routes, enc, max_queue=8, max_batch=4)
    enc.gate = threading.Event()
    first = asyncio.create_task(router.acall("zzz"))
    await asyncio.to_thread(enc.entered.wait, 10)
    queued = [asyncio.create_task(router.acall(f"t {i}")) for i in range(8)]
    await asyncio.sleep(0)
    with pytest.raises(QueueFullError):
        await router.acall("one too many")
    enc.gate.set()
    assert all(isinstance(r, RouteChoice) for r in await asyncio.gather(first, *queued))
    await router.aclose()


async def test_close_drains_and_router_can_start_again(seed_routes) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, SlowEncoder())
    pending = [asyncio.create_task(router.acall(t)) for t in TURNS[:30]]
    await asyncio.sleep(0)
    await router.aclose()
    assert all(p.done() and not p.cancelled() for p in pending)
    await router.start()
    assert (await router.acall("the president")).name == "politics"
    await router.aclose()


def test_router_works_across_event_loops(seed_routes) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, HashEncoder())
    assert asyncio.run(router.acall("the president")).name == "politics"
    assert asyncio.run(router.acall("lovely weather")).name == "chitchat"


async def test_hot_updates_under_10000_concurrent_turns(encoder) -> None:  # type: ignore[no-untyped-def]
    a = Route(name="x", utterances=["alpha beta gamma"], metadata={"v": "a"})
    b = Route(name="x", utterances=["alpha beta gamma", "delta"], metadata={"v": "b"})
    router = SemanticRouter(
        routes=[a, Route(name="other", utterances=["zeta eta"])],
        encoder=encoder,
        score_threshold=0.3,
        max_queue=20_000,
    )
    allowed = {_key(router("alpha beta gamma"))}
    router.update("x", utterances=b.utterances, metadata=b.metadata)
    allowed.add(_key(router("alpha beta gamma")))
    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        i = 0
        while not stop.is_set():
            r = a if i % 2 else b
            router.update("x", utterances=r.utterances, metadata=r.metadata)
            router.add(Route(name=f"tmp{i}", utterances=[f"tmp {i}"]))
            router.delete(f"tmp{i}")
            i += 1
            writes += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        results = await asyncio.gather(*(router.acall("alpha beta gamma") for _ in range(10_000)))
    finally:
        stop.set()
        t.join()
    await router.aclose()
    assert writes > 0
    assert {_key(r) for r in results} <= allowed


def _key(c: RouteChoice) -> tuple[object, ...]:
    return (c.name, round(c.similarity_score or 0, 5), str(c.metadata))


def test_sync_and_async_twins_match() -> None:
    pairs = [
        ("__call__", "acall"),
        ("batch", "abatch"),
        ("sync", "async_sync"),
        ("is_synced", "async_is_synced"),
        ("get_utterance_diff", "aget_utterance_diff"),
        ("refresh", "arefresh"),
        ("close", "aclose"),
        ("__enter__", "__aenter__"),
    ]
    for sync_name, async_name in pairs:
        s, a = getattr(SemanticRouter, sync_name), getattr(SemanticRouter, async_name)
        assert inspect.iscoroutinefunction(a) and not inspect.iscoroutinefunction(s)
        sp = [p for p in inspect.signature(s).parameters if p != "self"]
        ap = [p for p in inspect.signature(a).parameters if p != "self"]
        if sync_name not in ("close", "__enter__"):
            assert sp == ap, (sync_name, sp, ap)


async def test_async_with_closes_batcher_and_store(seed_routes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: ``async with router`` used to stop only the batcher, leaving the store open."""
    from fingerpost.index import LocalIndex

    router = make(seed_routes, HashEncoder(), index=LocalIndex(path=tmp_path / "r.db"))
    assert router.index.is_durable  # type: ignore[union-attr]
    async with router:
        assert (await router.acall("the president")).name == "politics"
    assert router._batcher.state == "closed"
    assert not router.index.is_durable  # type: ignore[union-attr]


async def test_async_with_stops_the_refresher(seed_routes) -> None:  # type: ignore[no-untyped-def]
    from tests.sync.memory_remote import MemoryRemote

    router = make(
        seed_routes, HashEncoder(), index=MemoryRemote(), auto_sync="local", refresh_interval=60.0
    )
    refresher = router._refresher
    assert refresher is not None and refresher._thread.is_alive()
    async with router:
        assert (await router.acall("the president")).name == "politics"
    assert router._refresher is None
    assert not refresher._thread.is_alive()


def test_acall_from_a_second_live_loop_is_a_typed_error(seed_routes) -> None:  # type: ignore[no-untyped-def]
    """While the loop the batcher runs on still runs, another loop gets EventLoopError (a
    FingerpostError and a RuntimeError) whose message says what to do; once it is released
    there, the second loop routes normally."""
    from fingerpost import EventLoopError

    router = make(seed_routes, HashEncoder())
    first = asyncio.new_event_loop()
    thread = threading.Thread(target=first.run_forever)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(router.start(), first).result(timeout=30)
        with pytest.raises(EventLoopError, match="run_coroutine_threadsafe") as info:
            asyncio.run(router.acall("the president"))
        assert isinstance(info.value, FingerpostError) and isinstance(info.value, RuntimeError)
        with pytest.raises(EventLoopError):
            asyncio.run(router.abatch(["the president"]))
        choice = asyncio.run_coroutine_threadsafe(router.acall("the president"), first).result(
            timeout=30
        )
        assert choice.name == "politics"
        asyncio.run_coroutine_threadsafe(router.aclose(), first).result(timeout=30)

        async def reopen_and_route() -> RouteChoice:
            async with router:
                return await router.acall("lovely weather")

        assert asyncio.run(reopen_and_route()).name == "chitchat"
    finally:
        first.call_soon_threadsafe(first.stop)
        thread.join(timeout=30)
        first.close()


def test_acall_rebinds_after_the_first_loop_ended(seed_routes) -> None:  # type: ignore[no-untyped-def]
    router = make(seed_routes, HashEncoder())
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(router.acall("the president")).name == "politics"
    finally:
        loop.close()  # closed without aclose: the batcher's worker died with it
    assert asyncio.run(router.acall("lovely weather")).name == "chitchat"
    assert asyncio.run(router.abatch(["the president"]))[0].name == "politics"
