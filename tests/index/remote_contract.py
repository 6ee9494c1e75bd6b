"""Behaviour every ``RemoteIndex`` adapter must show, run once per backend.

A backend's test module subclasses :class:`RemoteIndexContract` and provides a ``backend``
fixture returning a :class:`Backend`. The class name has no ``Test`` prefix, so it only
runs through its subclasses.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from fingerpost import (
    EncoderMismatchError,
    InvalidInputError,
    InvalidVectorError,
    RemoteUnavailableError,
    Utterance,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index.base import (
    ChangeEntry,
    LeaseTicket,
    RemoteIndex,
    RemoteMeta,
    RemotePoint,
)

DIM = 16
ENCODER = HashEncoder(dim=DIM)
ENC = ENCODER.name

ODD_NAMES = [
    "say \"hi\" 'there'",
    "naïve café ☕ 路线",
    "a#b",
    "ns:route",
    "  padded  ",
    "back\\slash/and/slash",
    '{"json": [1]}',
    "percent %20 & amp",
]


@dataclass
class Backend:
    """How the contract reaches one backend.

    ``make(**kwargs)`` returns a fresh adapter onto the same remote (kwargs go to the
    adapter's constructor); adapters it made earlier may be closed by it (an embedded
    on-disk Qdrant can be open once), so tests never use an adapter after making the next.
    """

    make: Callable[..., RemoteIndex]
    faults: Any = None  # the test server's FaultInjector, if there is a server
    unreachable: Callable[..., RemoteIndex] | None = None
    attempts_per_try: int = 1  # HTTP requests the client itself makes per adapter attempt on 5xx
    settle: Callable[[], None] = lambda: None  # eventual consistency (real services)
    bulk: int = 2_100  # points in the pagination test
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def writes(self) -> int | None:
        return None if self.faults is None else int(self.faults.writes_total)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def utts(route: str, texts: list[str], **fields: Any) -> list[Utterance]:
    return [Utterance(route=route, utterance=t, **fields) for t in texts]


def points(us: list[Utterance]) -> list[RemotePoint]:
    vectors = ENCODER([u.utterance for u in us])
    return [RemotePoint(u, v) for u, v in zip(us, vectors, strict=True)]


def random_points(n: int, routes: list[str], seed: int = 0) -> list[RemotePoint]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return [
        RemotePoint(Utterance(route=routes[i % len(routes)], utterance=f"utterance {i}"), v[i])
        for i in range(n)
    ]


def keys(us: list[Utterance] | list[RemotePoint]) -> set[tuple[str, str]]:
    return {(u.utterance if isinstance(u, RemotePoint) else u).key for u in us}


def same(a: list[Utterance], b: list[Utterance]) -> bool:
    """Equal as collections (utterances hold dicts, so they are not hashable)."""
    return sorted(a, key=lambda u: u.key) == sorted(b, key=lambda u: u.key)


class Sleeps:
    """Injected ``sleep``: records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


POLITICS = utts(
    "politics",
    ["isn't politics the best thing ever", "don't you just love the president"],
    function_schemas=[
        {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    metadata={"tier": 1, "tags": ["a", "b"], "nested": {"ok": True, "none": None}, "ünï": "cödé"},
    description="political talk",
    score_threshold=0.42,
)
EXTRA = utts("politics extra", ["isn't politics the best thing ever", "tell me about elections"])
CHITCHAT = utts(
    "chitchat", ["how's the weather today?", "lovely weather today", "let's go to the chippy"]
)


class RemoteIndexContract:
    """Backend-independent behaviour of :class:`~fingerpost.index.base.RemoteIndex`."""

    @pytest.fixture
    def index(self, backend: Backend) -> Iterator[RemoteIndex]:
        idx = backend.make()
        idx.bind(ENC, DIM)
        yield idx
        idx.close()

    # ---- bind ------------------------------------------------------------------------------
    def test_bind_creates_empty_meta(self, backend: Backend) -> None:
        idx = backend.make()
        assert idx.read_meta() is None  # nothing there yet
        meta = idx.bind(ENC, DIM)
        assert meta == RemoteMeta(encoder_name=ENC, encoder_dim=DIM, version=0)
        backend.settle()
        assert idx.read_meta() == meta
        assert idx.count() == 0 and idx.get_utterances() == [] and idx.list_tickets() == []
        idx.close()

    def test_bind_is_idempotent_and_reopening_keeps_data(self, backend: Backend) -> None:
        idx = backend.make()
        idx.bind(ENC, DIM)
        idx.upsert(points(POLITICS))
        written = RemoteMeta(
            encoder_name=ENC, encoder_dim=DIM, version=3, content_hash="h", count=2
        )
        idx.write_meta(written)
        backend.settle()
        assert idx.bind(ENC, DIM) == written
        idx.close()
        idx.close()  # twice is fine
        before = backend.writes()
        again = backend.make()
        assert again.bind(ENC, DIM) == written  # nothing reset
        assert backend.writes() == before  # a second bind writes nothing
        assert same(again.get_utterances(), POLITICS)
        again.close()

    def test_encoder_mismatch_refused_before_any_write(self, backend: Backend) -> None:
        idx = backend.make()
        idx.bind(ENC, DIM)
        idx.upsert(points(CHITCHAT))
        backend.settle()
        meta = idx.read_meta()
        idx.close()
        before = backend.writes()
        for name, dim in (("another-encoder", DIM), (ENC, DIM * 2)):
            other = backend.make()
            with pytest.raises(EncoderMismatchError):
                other.bind(name, dim)
            with pytest.raises(InvalidInputError):  # still unbound: no write goes out
                other.upsert(points(POLITICS))
            other.close()
        assert backend.writes() == before
        check = backend.make()
        assert check.read_meta() == meta
        assert same(check.get_utterances(), CHITCHAT)
        check.close()

    def test_bad_bind_arguments(self, backend: Backend) -> None:
        idx = backend.make()
        for name, dim in (("", DIM), (ENC, 0), (ENC, -3), (ENC, True)):
            with pytest.raises(InvalidInputError):
                idx.bind(name, dim)  # type: ignore[arg-type]
        idx.close()

    # ---- content ---------------------------------------------------------------------------
    def test_roundtrip_with_route_fields(self, backend: Backend, index: RemoteIndex) -> None:
        pts = points(POLITICS + EXTRA + CHITCHAT)
        index.upsert(pts)
        backend.settle()
        got = index.get_utterances()
        assert sorted(got, key=lambda u: u.key) == sorted(
            POLITICS + EXTRA + CHITCHAT, key=lambda u: u.key
        )
        politics = next(u for u in got if u.route == "politics")
        assert politics.function_schemas == POLITICS[0].function_schemas
        assert politics.metadata == {
            "tier": 1,
            "tags": ["a", "b"],
            "nested": {"ok": True, "none": None},
            "ünï": "cödé",
        }
        assert (
            politics.description == "political talk"
            and politics.score_threshold == pytest.approx(0.42)
        )
        chitchat = next(u for u in got if u.route == "chitchat")
        assert (
            chitchat.function_schemas is None
            and chitchat.metadata == {}
            and chitchat.description is None
        )
        fetched = {p.utterance.key: p for p in index.fetch()}
        assert set(fetched) == keys(pts)
        for p in pts:
            vec = fetched[p.utterance.key].vector
            assert vec is not None and vec.dtype == np.float32 and vec.shape == (DIM,)
            np.testing.assert_allclose(vec, p.vector, atol=1e-5)
            assert fetched[p.utterance.key].utterance == p.utterance
        assert all(p.vector is None for p in index.fetch(with_vectors=False))

    def test_odd_route_names_unchanged(self, backend: Backend, index: RemoteIndex) -> None:
        us = [
            Utterance(route=name, utterance=f"{name} #{i} : “quoted”")
            for i, name in enumerate(ODD_NAMES)
        ]
        index.upsert(points(us))
        backend.settle()
        assert same(index.get_utterances(), us)
        for u in us:
            assert [p.utterance for p in index.fetch([u.route], with_vectors=False)] == [u]

    def test_exact_route_names(self, backend: Backend, index: RemoteIndex) -> None:
        lookalikes = utts("Politics", ["isn't politics the best thing ever"]) + utts(
            "politics ", ["x y"]
        )
        index.upsert(points(POLITICS + EXTRA + lookalikes))
        backend.settle()
        assert keys(index.fetch(["politics"])) == keys(POLITICS)
        assert keys(index.fetch(["politics extra", "Politics"])) == keys(EXTRA + lookalikes[:1])
        assert index.fetch([]) == [] and index.fetch(["nope"]) == []
        vec = ENCODER(["isn't politics the best thing ever"])[0]
        hits = index.query(vec, 10, routes=["politics"])
        assert hits and {h.route for h in hits} == {"politics"}
        index.delete([u.key for u in POLITICS])  # same text under "politics extra" survives
        backend.settle()
        assert same(index.get_utterances(), EXTRA + lookalikes)

    def test_duplicates_do_not_duplicate(self, backend: Backend, index: RemoteIndex) -> None:
        pts = points(CHITCHAT)
        index.upsert(pts + pts[:1])  # a repeat inside one call
        index.upsert(pts)  # and a repeat of the whole call
        backend.settle()
        assert index.count() == len(CHITCHAT)
        changed = Utterance(route="chitchat", utterance=CHITCHAT[0].utterance, metadata={"v": 2})
        index.upsert(points([changed]))  # same key, new fields: overwritten in place
        backend.settle()
        assert index.count() == len(CHITCHAT)
        assert [u.metadata for u in index.get_utterances() if u.key == changed.key] == [{"v": 2}]

    def test_count_and_delete(self, backend: Backend, index: RemoteIndex) -> None:
        index.upsert(points(POLITICS + CHITCHAT))
        index.put_ticket(LeaseTicket("t", "me", 1.0, 2.0))
        backend.settle()
        assert index.count() == len(POLITICS + CHITCHAT)  # meta and tickets are not counted
        index.delete([CHITCHAT[0].key, ("chitchat", "never stored"), ("nope", "nope")])
        index.delete([])
        backend.settle()
        assert index.count() == len(POLITICS + CHITCHAT) - 1
        assert same(index.get_utterances(), POLITICS + CHITCHAT[1:])

    def test_query_order_limit_and_route_filter(self, backend: Backend, index: RemoteIndex) -> None:
        index.upsert(points(POLITICS + EXTRA + CHITCHAT))
        backend.settle()
        vec = ENCODER(["lovely weather today"])[0]
        hits = index.query(vec, 3)
        assert len(hits) == 3
        assert (hits[0].route, hits[0].utterance) == ("chitchat", "lovely weather today")
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        scores = [h.score for h in index.query(vec, 100)]
        assert scores == sorted(scores, reverse=True) and len(scores) == 7  # no bookkeeping hits
        assert all(-1.0 - 1e-4 <= s <= 1.0 + 1e-4 for s in scores)
        only = index.query(vec, 10, routes=["politics", "politics extra"])
        assert {h.route for h in only} == {"politics", "politics extra"} and len(only) == 4
        assert index.query(vec, 5, routes=[]) == []
        with pytest.raises(InvalidInputError):
            index.query(vec, 0)
        with pytest.raises(InvalidVectorError):
            index.query(np.ones(DIM + 1, dtype=np.float32), 3)

    def test_invalid_points_rejected_before_sending(
        self, backend: Backend, index: RemoteIndex
    ) -> None:
        before = backend.writes()
        bad = [
            RemotePoint(CHITCHAT[0], None),
            RemotePoint(CHITCHAT[0], np.ones(DIM + 1, dtype=np.float32)),
            RemotePoint(CHITCHAT[0], np.full(DIM, np.nan, dtype=np.float32)),
            RemotePoint(CHITCHAT[0], np.zeros(DIM, dtype=np.float32)),
        ]
        for p in bad:
            with pytest.raises(InvalidVectorError):
                index.upsert([*points(CHITCHAT[1:]), p])
        assert backend.writes() == before
        assert index.count() == 0

    # ---- coordination ----------------------------------------------------------------------
    def test_meta_roundtrip(self, backend: Backend, index: RemoteIndex) -> None:
        meta = RemoteMeta(
            encoder_name=ENC,
            encoder_dim=DIM,
            version=7,
            content_hash="abc123",
            count=42,
            changes=(ChangeEntry(6, ("politics", "naïve café")), ChangeEntry(7, (), full=True)),
            updated_at=1712345678.25,
        )
        index.write_meta(meta)
        backend.settle()
        assert index.read_meta() == meta
        assert index.count() == 0

    def test_tickets(self, backend: Backend, index: RemoteIndex) -> None:
        a = LeaseTicket(
            "tok-a", "agent A", 100.0, 130.0, {"host": "h1", "pid": 7, "nested": {"x": [1]}}
        )
        b = LeaseTicket("tok-b", "agent B ☕", 101.5, 131.5)
        index.put_ticket(b)
        index.put_ticket(a)
        backend.settle()
        assert index.list_tickets() == [a, b]  # ordered by creation
        renewed = LeaseTicket("tok-a", "agent A", 100.0, 190.0, {"renewed": True})
        index.put_ticket(renewed)
        backend.settle()
        assert index.list_tickets() == [renewed, b]
        index.delete_ticket("tok-a")
        index.delete_ticket("missing")
        backend.settle()
        assert index.list_tickets() == [b]
        assert index.get_utterances() == [] and index.count() == 0

    # ---- failures --------------------------------------------------------------------------
    @pytest.mark.parametrize("drop", [False, True], ids=["status503", "dropped"])
    def test_persistent_failure_after_configured_retries(
        self, backend: Backend, drop: bool
    ) -> None:
        if backend.faults is None:
            pytest.skip("no fault injection without a server")
        sleeps = Sleeps()
        idx = backend.make(retries=2, backoff=0.1, sleep=sleeps)
        idx.bind(ENC, DIM)
        backend.faults.reset_counters()
        backend.faults.fail_writes_after(0, status=503, drop=drop, kinds={"upsert"})
        try:
            with pytest.raises(RemoteUnavailableError, match="3 attempts") as ei:
                idx.upsert(points(CHITCHAT))
        finally:
            backend.faults.clear()
        assert ei.value.__cause__ is not None  # the client's exception, chained
        assert backend.faults.write_counts["upsert"] == 3 * backend.attempts_per_try
        assert len(sleeps.delays) == 2
        assert (
            0.05 <= sleeps.delays[0] <= 0.1 and 0.1 <= sleeps.delays[1] <= 0.2
        )  # doubling, jittered
        assert idx.count() == 0  # reads still work
        idx.close()

    def test_non_retryable_failure_fails_at_once(self, backend: Backend) -> None:
        if backend.faults is None:
            pytest.skip("no fault injection without a server")
        sleeps = Sleeps()
        idx = backend.make(retries=3, sleep=sleeps)
        idx.bind(ENC, DIM)
        backend.faults.reset_counters()
        backend.faults.fail_writes_after(0, status=400, kinds={"upsert"})
        try:
            with pytest.raises(RemoteUnavailableError, match="1 attempt"):
                idx.upsert(points(CHITCHAT))
        finally:
            backend.faults.clear()
        assert backend.faults.write_counts["upsert"] == 1 and sleeps.delays == []
        idx.close()

    def test_lost_acknowledgement_is_retried_idempotently(self, backend: Backend) -> None:
        if backend.faults is None:
            pytest.skip("no fault injection without a server")
        idx = backend.make(sleep=Sleeps())
        idx.bind(ENC, DIM)
        backend.faults.fail_nth_write(1, status=502, when="after", kinds={"upsert"})
        idx.upsert(points(CHITCHAT))  # applied, reply lost, sent again
        assert backend.faults.exhausted
        assert idx.count() == len(CHITCHAT)
        assert same(idx.get_utterances(), CHITCHAT)
        idx.close()

    def test_unreachable_remote_fails_quickly(self, backend: Backend) -> None:
        if backend.unreachable is None:
            pytest.skip("no server to stop")
        sleeps = Sleeps()
        idx = backend.unreachable(retries=2, sleep=sleeps)
        t0 = time.monotonic()
        with pytest.raises(RemoteUnavailableError, match="3 attempts"):
            idx.bind(ENC, DIM)
        assert len(sleeps.delays) == 2
        real = backend.unreachable(retries=1, backoff=0.01)  # real sleeps, still bounded
        with pytest.raises(RemoteUnavailableError):
            real.get_utterances()
        assert time.monotonic() - t0 < 5.0
        idx.close()
        real.close()

    def test_closed_index_refuses_calls(self, backend: Backend) -> None:
        idx = backend.make()
        idx.bind(ENC, DIM)
        idx.close()
        with pytest.raises(RemoteUnavailableError, match="closed"):
            idx.get_utterances()
        with pytest.raises(RemoteUnavailableError, match="closed"):
            idx.bind(ENC, DIM)

    # ---- async twins and scale -------------------------------------------------------------
    async def test_async_twins_equal_sync(self, backend: Backend, index: RemoteIndex) -> None:
        index.upsert(points(POLITICS + EXTRA + CHITCHAT))
        index.write_meta(RemoteMeta(encoder_name=ENC, encoder_dim=DIM, version=2))
        backend.settle()
        assert await index.aget_utterances() == index.get_utterances()
        for routes in (None, ["politics"], []):
            a, s = await index.afetch(routes), index.fetch(routes)
            assert [p.utterance for p in a] == [p.utterance for p in s]
            for pa, ps in zip(a, s, strict=True):
                assert pa.vector is not None and ps.vector is not None
                np.testing.assert_array_equal(pa.vector, ps.vector)
        assert [p.vector for p in await index.afetch(with_vectors=False)] == [None] * 7
        vec = ENCODER(["do you love the president"])[0]
        assert await index.aquery(vec, 4) == index.query(vec, 4)
        assert await index.aquery(vec, 4, ["chitchat"]) == index.query(vec, 4, ["chitchat"])
        assert await index.aread_meta() == index.read_meta()

    def test_pagination_over_many_points(self, backend: Backend, index: RemoteIndex) -> None:
        n = backend.bulk
        routes = ["alpha", "beta", "gamma route"]
        pts = random_points(n, routes)
        index.upsert(pts)
        index.put_ticket(LeaseTicket("t", "me", 1.0, 2.0))
        backend.settle()
        assert index.count() == n
        got = index.get_utterances()
        assert len(got) == n and keys(got) == keys(pts)
        beta = index.fetch(["beta"])
        assert keys(beta) == keys([p for p in pts if p.utterance.route == "beta"])
        by_key = {p.utterance.key: p.vector for p in pts}
        for p in beta[:: max(1, len(beta) // 20)]:
            assert p.vector is not None
            np.testing.assert_allclose(p.vector, by_key[p.utterance.key], atol=1e-5)
        index.delete([p.utterance.key for p in pts[: n // 2]])
        backend.settle()
        assert index.count() == n - n // 2 and index.list_tickets()[0].token == "t"
