"""Issue 10, defect 3: every read-modify-write starts from the current route.

Locally one lock covers read -> compute -> encode -> write; remotely the route is re-read
under the lease. Races are started with ``threading.Barrier`` (no sleeps) and repeated; the
cross-agent cases are deterministic (an agent that has not refreshed writes next)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from fingerpost import FingerpostError, Route, RouteNotFoundError, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex
from tests.sync.memory_remote import MemoryRemote


def base(kind: str) -> list[str]:
    """A big route widens the race window (the local write path is fast)."""
    return [f"base utterance number {i}" for i in range(1200 if kind == "local" else 200)]


def make(kind: str, remote: MemoryRemote | None = None) -> SemanticRouter:
    if kind == "local":
        return SemanticRouter(encoder=HashEncoder(), index=LocalIndex())
    return SemanticRouter(
        encoder=HashEncoder(), index=remote if remote is not None else MemoryRemote()
    )


def race(*calls: Callable[[], object]) -> list[BaseException | None]:
    """Start ``calls`` together on threads; what each raised (None: returned)."""
    barrier = threading.Barrier(len(calls))
    out: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            calls[i]()
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_four_threads_of_add_utterances_keep_all_101(kind: str) -> None:
    r = make(kind)
    r.add(Route(name="faq", utterances=["the first one"]))

    def appender(k: int) -> Callable[[], None]:
        def go() -> None:
            for i in range(25):
                r.add_utterances("faq", [f"thread {k} utterance {i}"])

        return go

    assert race(*(appender(k) for k in range(4))) == [None] * 4
    route = r.get("faq")
    assert route is not None and len(route.utterances) == 101
    if kind == "remote":
        assert len(r.index.fetch(["faq"], with_vectors=False)) == 101  # type: ignore[union-attr]
        fresh = SemanticRouter(encoder=HashEncoder(), index=r.index).get("faq")
        assert fresh is not None and sorted(fresh.utterances) == sorted(route.utterances)


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_update_metadata_racing_update_threshold_keeps_both(kind: str) -> None:
    r = make(kind)
    r.add(Route(name="big", utterances=base(kind)))
    for round_ in range(10):
        errors = race(
            lambda n=round_: r.update("big", metadata={"round": n}),
            lambda n=round_: r.update("big", score_threshold=0.5 + n / 100),
        )
        assert errors == [None, None]
        route = r.get("big")
        assert route is not None
        assert route.metadata == {"round": round_} and route.score_threshold == 0.5 + round_ / 100


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_delete_racing_update_never_resurrects_an_acknowledged_delete(kind: str) -> None:
    r = make(kind)
    for round_ in range(10):
        name = f"doomed {round_}"
        r.add(Route(name=name, utterances=base(kind)))
        deleted, updated = race(
            lambda n=name: r.delete(n), lambda n=name: r.update(n, metadata={"x": 1})
        )
        assert deleted is None  # the delete was acknowledged
        assert updated is None or isinstance(updated, RouteNotFoundError)
        assert r.get(name) is None
        if kind == "remote":
            assert r.index.fetch([name], with_vectors=False) == []  # type: ignore[union-attr]


def test_cross_agent_stale_add_utterances_keeps_both() -> None:
    remote = MemoryRemote()
    a, b = make("remote", remote), make("remote", remote)
    a.add(Route(name="faq", utterances=["hello"]))
    b.refresh()
    a.add_utterances("faq", ["from a"])  # acknowledged; B has not refreshed
    got = b.add_utterances("faq", ["from b"])
    assert sorted(got.utterances) == ["from a", "from b", "hello"]
    assert sorted(u.utterance for u in remote.get_utterances()) == ["from a", "from b", "hello"]
    a.refresh()
    assert sorted(a.get("faq").utterances) == sorted(b.get("faq").utterances)  # type: ignore[union-attr]


def test_cross_agent_stale_update_keeps_the_other_field() -> None:
    remote = MemoryRemote()
    a, b = make("remote", remote), make("remote", remote)
    a.add(Route(name="faq", utterances=["hello"]))
    b.refresh()
    a.update("faq", metadata={"owner": "a"})
    b.update("faq", score_threshold=0.7)
    fresh = make("remote", remote).get("faq")
    assert fresh is not None and fresh.metadata == {"owner": "a"} and fresh.score_threshold == 0.7


def test_cross_agent_update_of_a_deleted_route_is_refused() -> None:
    remote = MemoryRemote()
    a, b = make("remote", remote), make("remote", remote)
    a.add(Route(name="faq", utterances=["hello"]))
    b.refresh()
    a.delete("faq")  # acknowledged
    with pytest.raises(RouteNotFoundError):
        b.update("faq", metadata={"x": 1})
    with pytest.raises(RouteNotFoundError):
        b.add_utterances("faq", ["more"])
    assert remote.get_utterances() == [] and b.get("faq") is None


def test_set_threshold_of_a_route_keeps_a_concurrent_append() -> None:
    remote = MemoryRemote()
    a, b = make("remote", remote), make("remote", remote)
    a.add(Route(name="faq", utterances=["hello"]))
    b.refresh()
    a.add_utterances("faq", ["from a"])
    b.set_threshold(0.8, "faq")
    fresh = make("remote", remote).get("faq")
    assert fresh is not None and fresh.score_threshold == 0.8
    assert sorted(fresh.utterances) == ["from a", "hello"]


def test_a_refused_write_changes_nothing() -> None:
    r = make("local")
    r.add(Route(name="faq", utterances=["hello"]))
    with pytest.raises(FingerpostError):
        r.add_utterances("missing", ["x"])
    assert [x.name for x in r.routes] == ["faq"]
