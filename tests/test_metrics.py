"""fingerpost.metrics without the server: registries are private, the async path is observed,
events carry their outcome, and a failing observer never fails a batch."""

from __future__ import annotations

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter, SyncConflictError
from fingerpost.encoders.testing import HashEncoder
from fingerpost.metrics import RouterMetrics, TimedEncoder

from .conftest import CHITCHAT, POLITICS


def _router() -> SemanticRouter:
    return SemanticRouter(
        routes=[
            Route(name="politics", utterances=POLITICS),
            Route(name="chitchat", utterances=CHITCHAT),
        ],
        encoder=HashEncoder(dim=128),
    )


def test_two_instances_never_collide() -> None:
    a, b = RouterMetrics(), RouterMetrics()
    a.turns.labels("x").inc()
    assert a.value("fingerpost_turns_total", {"route": "x"}) == 1.0
    assert b.value("fingerpost_turns_total", {"route": "x"}) is None
    assert b"fingerpost_turns_total" in b.exposition()


async def test_async_turns_batches_and_latency_are_observed() -> None:
    router, metrics = _router(), RouterMetrics()
    metrics.instrument(router)
    turns = [
        "don't you just love the president",
        "lovely weather today",
        "quantum chromodynamics lecture",
    ]
    want = [c.name or "none" for c in router.batch(turns)]
    async with router:
        got = await router.abatch(turns)
        await router.acall(turns[0], limit=None)
    assert [c.name or "none" for c in got] == want
    assert "none" in want
    for name in set(want):
        expected = want.count(name) + (name == want[0])
        assert metrics.value("fingerpost_turns_total", {"route": name}) == expected
    assert metrics.value("fingerpost_micro_batch_size_count") == 2
    assert metrics.value("fingerpost_micro_batch_size_sum") == 4
    assert metrics.value("fingerpost_latency_seconds_count", {"stage": "score"}) == 2
    assert (
        metrics.value("fingerpost_latency_seconds_count", {"stage": "encode"}) == 3
    )  # one sync batch too
    assert metrics.value("fingerpost_queue_depth") == 0


def test_instrument_keeps_vectors_and_does_not_stack() -> None:
    router = _router()
    inner = router.encoder
    before = router("lovely weather today")
    RouterMetrics().instrument(router)
    second = RouterMetrics()
    second.instrument(router)
    assert isinstance(router.encoder, TimedEncoder) and router.encoder.inner is inner
    assert router.encoder.metrics is second and router.encoder.name == inner.name
    assert router("lovely weather today") == before
    assert second.value("fingerpost_latency_seconds_count", {"stage": "encode"}) == 1
    texts = [*POLITICS, *CHITCHAT]
    assert np.array_equal(router.encoder(texts), inner(texts))  # bit for bit: validated once


def test_events_carry_their_outcome() -> None:
    metrics = RouterMetrics()
    with metrics.track_sync("merge"):
        pass
    with pytest.raises(SyncConflictError), metrics.track_sync("error"):
        raise SyncConflictError("differs")
    with pytest.raises(RuntimeError), metrics.track("fit"):
        raise RuntimeError("boom")
    with metrics.track("calibration"):
        pass
    assert metrics.value("fingerpost_sync_runs_total", {"mode": "merge", "outcome": "ok"}) == 1
    assert (
        metrics.value(
            "fingerpost_sync_runs_total", {"mode": "error", "outcome": "SyncConflictError"}
        )
        == 1
    )
    assert (
        metrics.value("fingerpost_quality_events_total", {"kind": "fit", "outcome": "error"}) == 1
    )
    assert (
        metrics.value("fingerpost_quality_events_total", {"kind": "calibration", "outcome": "ok"})
        == 1
    )


async def test_a_failing_observer_never_fails_a_batch(caplog: pytest.LogCaptureFixture) -> None:
    router = _router()

    def broken(items: object, results: object, seconds: float) -> None:
        raise RuntimeError("observer bug")

    router._batcher.observe(broken)
    async with router:
        choice = await router.acall("lovely weather today")
    assert choice == router("lovely weather today")
    assert "batch observer failed" in caplog.text
    router._batcher.observe(None)  # unhooked: the original process function again
    async with router:
        assert await router.acall("lovely weather today") == choice
