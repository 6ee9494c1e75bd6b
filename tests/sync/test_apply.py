"""The sync engine end to end over an in-memory remote: modes, faults, lease, refresh."""

from __future__ import annotations

import threading
import time

import pytest

from fingerpost import (
    EncoderMismatchError,
    InvalidInputError,
    LeaseHeldError,
    RemoteUnavailableError,
    Route,
    SemanticRouter,
    SyncConflictError,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index.base import LeaseTicket
from fingerpost.sync import SYNC_MODES, plan_sync
from fingerpost.sync._hash import content_key

from .memory_remote import MemoryRemote

LOCAL = [
    Route(name="politics", utterances=["vote for me", "the president"], metadata={"v": "local"}),
    Route(name="chitchat", utterances=["nice weather", "how are you"]),
]
REMOTE = [
    Route(
        name="politics",
        utterances=["the president", "tax policy"],
        metadata={"v": "remote"},
        function_schemas=[{"name": "f", "parameters": {}}],
    ),
    Route(name="politics extra", utterances=["senate votes"]),
]


def router(remote: MemoryRemote, routes=None, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("score_threshold", 0.3)
    return SemanticRouter(
        routes=routes, encoder=kw.pop("encoder", HashEncoder()), index=remote, **kw
    )


def seeded() -> MemoryRemote:
    remote = MemoryRemote()
    router(remote, REMOTE, auto_sync="local").close()
    remote.writes.clear()
    return remote


def contents(routes) -> set[str]:  # type: ignore[no-untyped-def]
    from fingerpost import RouterConfig

    return {content_key(u) for u in RouterConfig(routes=list(routes)).to_utterances()}


@pytest.mark.parametrize("mode", [m for m in SYNC_MODES if m != "error"])
def test_every_mode_leaves_both_sides_equal_to_its_result(mode: str) -> None:
    remote = seeded()
    expected = plan_sync(mode, LOCAL, remote.get_utterances()).result
    r = router(remote, LOCAL, auto_sync=mode)
    assert contents(r.routes) == contents(expected)
    assert {content_key(u) for u in remote.get_utterances()} == contents(expected)
    assert r.is_synced()
    assert r.get_utterance_diff() == []
    writes = len(remote.writes)
    r.sync(mode)  # a second sync writes nothing
    assert len(remote.writes) == writes


def test_is_synced_is_true_exactly_when_contents_are_equal() -> None:
    """Defect 1: merge-force-local must not report synced while the sides differ."""
    remote = seeded()
    r = router(remote, LOCAL, auto_sync="merge-force-local")
    assert r.is_synced()
    assert {u.key for u in remote.get_utterances()} == {
        (x.name, t) for x in r.routes for t in x.utterances
    }
    other = router(remote, None)  # a second agent adds behind our back
    other.add(Route(name="new", utterances=["brand new"]))
    assert not r.is_synced()
    assert r.get_utterance_diff() == ["+ new: brand new"]
    r.refresh()
    assert r.is_synced()


def test_metadata_only_change_is_not_synced() -> None:
    remote = seeded()
    r = router(remote, None)
    assert r.is_synced()
    r._local.apply(
        add=[
            (
                r.get("politics").model_copy(update={"metadata": {"v": "changed"}}),  # type: ignore[union-attr]
                r._local.snapshot().route_vectors("politics"),
            )
        ],
        replace=True,
    )
    assert not r.is_synced()
    assert set(r.get_utterance_diff()) == {
        "- politics: the president",
        "- politics: tax policy",
        "+ politics: the president",
        "+ politics: tax policy",
    }


def test_function_schemas_and_odd_names_round_trip() -> None:
    remote = MemoryRemote()
    odd = Route(
        name='we\'rd "name" #1: ünï',
        utterances=["x y"],
        function_schemas=[{"name": "g"}],
        metadata={"a": [1, {"b": None}]},
        score_threshold=0.4,
        description="d",
    )
    router(remote, [odd], auto_sync="local")
    again = router(remote, None)
    assert again.get(odd.name) == odd


def test_error_mode_raises_and_writes_nothing() -> None:
    remote = seeded()
    with pytest.raises(SyncConflictError):
        router(remote, LOCAL, auto_sync="error")
    assert remote.writes == []
    with pytest.raises(InvalidInputError):
        router(remote, LOCAL, auto_sync="sideways")


def test_incremental_sync_embeds_only_what_is_missing() -> None:
    remote = seeded()
    enc = HashEncoder()
    r = router(
        remote,
        [*REMOTE, Route(name="food", utterances=["pizza", "sushi"])],
        auto_sync="local",
        encoder=enc,
    )
    assert enc.encoded == 2  # everything else came from the remote's vectors
    assert r("pizza").name == "food"


def test_remote_from_another_encoder_is_refused_before_any_write() -> None:
    remote = seeded()
    with pytest.raises(EncoderMismatchError):
        router(remote, LOCAL, auto_sync="local", encoder=HashEncoder(name="other"))
    assert remote.writes == []


@pytest.mark.parametrize(
    "mode", ["local", "remote", "merge", "merge-force-local", "merge-force-remote"]
)
def test_failure_at_every_write_converges_on_rerun(mode: str) -> None:
    expected_remote = seeded()
    expected = contents(plan_sync(mode, LOCAL, expected_remote.get_utterances()).result)
    k = 1
    while True:
        remote = seeded()
        r = router(remote, LOCAL)
        remote.fail_at = k
        try:
            r.sync(mode)
        except RemoteUnavailableError:
            remote.fail_at = None
            r.sync(mode)  # re-run converges
            assert contents(r.routes) == expected
            assert {content_key(u) for u in remote.get_utterances()} == expected
            assert r.is_synced()
            k += 1
            continue
        remote.fail_at = None
        break
    assert k >= 2  # the loop really injected failures (one per write of the sync)


def test_only_one_of_two_concurrent_syncs_proceeds() -> None:
    remote = seeded()
    a = router(remote, LOCAL)
    b = router(remote, LOCAL, lease_wait=0)
    entered, release = threading.Event(), threading.Event()

    def hold(kind: str) -> None:
        if threading.current_thread().name == "syncer-a":
            entered.set()
            assert release.wait(10)

    remote.before_write = hold
    t = threading.Thread(target=a.sync, args=("merge",), name="syncer-a")
    t.start()
    assert entered.wait(10)
    with pytest.raises(LeaseHeldError):
        b.sync("merge")
    release.set()
    t.join(10)
    remote.before_write = None
    assert a.is_synced() and not remote.tickets


def test_a_crashed_holders_lease_expires() -> None:
    remote = seeded()
    r = router(remote, LOCAL, lease_wait=0)
    now = time.time()
    remote.put_ticket(LeaseTicket("live", "other:1", now, now + 60))
    with pytest.raises(LeaseHeldError, match="other:1"):
        r.sync("merge")
    remote.tickets.clear()
    remote.put_ticket(LeaseTicket("dead", "crashed:2", now - 120, now - 60))
    r.sync("merge")
    assert r.is_synced() and not remote.tickets


def test_refresh_pulls_only_touched_routes_and_sees_deletes() -> None:
    remote = seeded()
    a, b = router(remote, None), router(remote, None)
    a.add(Route(name="food", utterances=["order pizza"]))
    remote.fetches.clear()
    assert b.refresh()
    assert remote.fetches == [("food",)]
    assert b("order pizza").name == "food"
    a.delete("politics extra")
    a.update("politics", metadata={"v": 3})
    assert b.refresh()
    assert b.get("politics extra") is None and b.get("politics").metadata == {"v": 3}  # type: ignore[union-attr]
    assert not b.refresh()  # nothing new: one small read


def test_refresh_interval_picks_up_changes_in_the_background() -> None:
    remote = seeded()
    a = router(remote, None)
    b = router(remote, None, refresh_interval=0.05)
    try:
        a.add(Route(name="food", utterances=["order pizza"]))
        deadline = time.monotonic() + 10
        while b.get("food") is None and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for an observable outcome, bounded
        assert b("order pizza").name == "food"
    finally:
        b.close()


def test_writes_go_through_the_remote_and_fail_cleanly() -> None:
    remote = seeded()
    r = router(remote, None)
    remote.fail_at = 1
    with pytest.raises(RemoteUnavailableError):
        r.add(Route(name="food", utterances=["pizza"]))
    assert r.get("food") is None  # the mirror did not move ahead of the remote
    r.add(Route(name="food", utterances=["pizza"]))  # re-runnable
    assert ("food", "pizza") in remote.points and r.is_synced()
