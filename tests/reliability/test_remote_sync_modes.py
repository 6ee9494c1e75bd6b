"""Issue 10 suite: sync over random local and remote states x the 6 modes.

The expected result of each mode is written here from the spec (``sync-strategies-v2``),
independently of ``sync._plan``: after ``sync(mode)`` both sides hold exactly it,
``is_synced()`` is True, and a second sync writes nothing. ``error`` on differing sides
raises and writes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerpost import Route, RouterConfig, SemanticRouter, SyncConflictError
from fingerpost.encoders.testing import HashEncoder
from fingerpost.sync import SYNC_MODES
from fingerpost.sync._hash import content_key
from tests.sync.memory_remote import MemoryRemote

NAMES = ["billing", "chitchat", "politics", "time"]
TEXTS = ["refund please", "how are you", "the president", "what time is it", "nice weather", "vote"]


@st.composite
def route_set(draw: st.DrawFn) -> list[Route]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    return [
        Route(
            name=n,
            utterances=draw(st.lists(st.sampled_from(TEXTS), unique=True, min_size=1, max_size=3)),
            metadata=draw(st.sampled_from([{}, {"v": 1}, {"v": 2}])),
            score_threshold=draw(st.sampled_from([None, 0.4])),
            target_fpr=draw(st.sampled_from([None, 0.02])),
            function_schemas=draw(st.sampled_from([None, [{"name": "f"}]])),
        )
        for n in names
    ]


def spec(mode: str, local: list[Route], remote: list[Route]) -> list[Route] | None:
    """What both sides hold after ``mode`` (None: ``error`` refuses)."""
    L, R = {r.name: r for r in local}, {r.name: r for r in remote}

    def union(first: Route, other: Route | None) -> Route:
        extra = [] if other is None else [u for u in other.utterances if u not in first.utterances]
        return first.model_copy(update={"utterances": [*first.utterances, *extra]})

    if mode == "error":
        return local if contents(local) == contents(remote) else None
    if mode == "local":
        return local
    if mode == "remote":
        return remote
    if mode == "merge-force-local":
        return [union(r, R.get(n)) for n, r in L.items()]
    if mode == "merge-force-remote":
        return [union(r, L.get(n)) for n, r in R.items()]
    return [union(r, R.get(n)) for n, r in L.items()] + [r for n, r in R.items() if n not in L]


def contents(routes: list[Route]) -> set[str]:
    return {content_key(u) for u in RouterConfig(routes=list(routes)).to_utterances()}


def sync_case(mode: str, local: list[Route], remote_routes: list[Route]) -> None:
    remote = MemoryRemote()
    SemanticRouter(routes=remote_routes, encoder=HashEncoder(), index=remote, auto_sync="local")
    before = {content_key(u) for u in remote.get_utterances()}
    assert before == contents(remote_routes)
    r = SemanticRouter(routes=local, encoder=HashEncoder(), index=remote)
    want = spec(mode, local, remote_routes)
    remote.writes.clear()
    if want is None:
        with pytest.raises(SyncConflictError):
            r.sync(mode)
        assert remote.writes == [] and contents(r.routes) == contents(local)
        assert not r.is_synced()
        return
    r.sync(mode)
    assert contents(r.routes) == contents(want)
    assert {content_key(u) for u in remote.get_utterances()} == contents(want)
    assert r.is_synced() and r.get_utterance_diff() == []
    writes = len(remote.writes)
    assert r.sync(mode) == []  # a second sync changes nothing
    r._execute_sync_strategy(mode)  # even without the already-synced shortcut
    assert len(remote.writes) == writes
    assert contents(SemanticRouter(encoder=HashEncoder(), index=remote).routes) == contents(want)


@pytest.mark.parametrize("mode", SYNC_MODES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=route_set(), remote=route_set())
def test_every_mode_over_random_states(mode: str, local: list[Route], remote: list[Route]) -> None:
    sync_case(mode, local, remote)


@pytest.mark.soak
@pytest.mark.parametrize("mode", SYNC_MODES)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=route_set(), remote=route_set())
def test_every_mode_over_random_states_soak(
    mode: str, local: list[Route], remote: list[Route]
) -> None:
    sync_case(mode, local, remote)
