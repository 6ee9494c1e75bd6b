"""The six sync modes, exhaustively, without any index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerpost import InvalidInputError, Route, RouterConfig, SyncConflictError
from fingerpost.schema import Utterance, UtteranceDiff
from fingerpost.sync import SYNC_MODES, plan_sync
from fingerpost.sync._hash import content_hash, content_key
from fingerpost.sync._plan import group_routes


def utts(routes: list[Route]) -> list[Utterance]:
    return RouterConfig(routes=routes).to_utterances()


def contents(routes) -> set[str]:  # type: ignore[no-untyped-def]
    return {content_key(u) for u in utts(list(routes))}


def apply(plan, local: list[Route], remote: list[Utterance]):  # type: ignore[no-untyped-def]
    new_local = {r.name: r for r in local}
    for n in plan.local_delete:
        del new_local[n]
    for r in plan.local_upsert:
        new_local[r.name] = r
    new_remote = {u.key: u for u in remote}
    for k in plan.remote_delete:
        del new_remote[k]
    for u in plan.remote_upsert:
        new_remote[u.key] = u
    return list(new_local.values()), list(new_remote.values())


L = [
    Route(name="politics", utterances=["a", "b"], metadata={"side": "local"}),
    Route(name="chitchat", utterances=["c"]),
]
R = utts(
    [
        Route(
            name="politics",
            utterances=["b", "x"],
            metadata={"side": "remote"},
            function_schemas=[{"name": "f"}],
        ),
        Route(name="remote only", utterances=["r"]),
    ]
)


def result_of(mode: str) -> dict[str, Route]:
    return {r.name: r for r in plan_sync(mode, L, R).result}


def test_local_and_remote_modes() -> None:
    assert contents(result_of("local").values()) == contents(L)
    assert contents(result_of("remote").values()) == {content_key(u) for u in R}


def test_merge_force_local() -> None:
    res = result_of("merge-force-local")
    assert set(res) == {"politics", "chitchat"}  # remote-only route dropped
    assert set(res["politics"].utterances) == {"a", "b", "x"}  # remote utterances merged in
    assert res["politics"].metadata == {"side": "local"}  # local fields win ...
    assert res["politics"].function_schemas is None  # ... all of them


def test_merge_force_remote() -> None:
    res = result_of("merge-force-remote")
    assert set(res) == {"politics", "remote only"}
    assert set(res["politics"].utterances) == {"a", "b", "x"}
    assert res["politics"].metadata == {"side": "remote"}
    assert res["politics"].function_schemas == [{"name": "f"}]


def test_merge() -> None:
    res = result_of("merge")
    assert set(res) == {"politics", "chitchat", "remote only"}
    assert set(res["politics"].utterances) == {"a", "b", "x"}
    assert res["politics"].metadata == {"side": "local"}


def test_error_mode() -> None:
    with pytest.raises(SyncConflictError, match="politics"):
        plan_sync("error", L, R)
    assert plan_sync("error", L, utts(L)).is_noop
    with pytest.raises(InvalidInputError):
        plan_sync("bogus", L, R)


def test_route_with_only_shared_utterances_still_counts_as_present() -> None:
    """Defect 2: a route whose utterances are all shared must not count as absent."""
    local = [Route(name="p", utterances=["shared"])]
    remote = utts([Route(name="p", utterances=["shared", "remote extra"])])
    res = {r.name: r for r in plan_sync("merge-force-local", local, remote).result}
    assert set(res["p"].utterances) == {"shared", "remote extra"}
    local2 = [Route(name="p", utterances=["shared", "local extra"])]
    remote2 = utts([Route(name="p", utterances=["shared"])])
    res2 = {r.name: r for r in plan_sync("merge-force-remote", local2, remote2).result}
    assert set(res2["p"].utterances) == {"shared", "local extra"}


def test_no_duplicate_upserts_and_exact_route_names() -> None:
    """Defects 3 and 6."""
    local = [Route(name="politics extra", utterances=["a"])]
    remote = utts(
        [Route(name="politics", utterances=["a"]), Route(name="politics extra", utterances=["a"])]
    )
    plan = plan_sync("local", local, remote)
    assert plan.remote_delete == (("politics", "a"),)
    assert plan.remote_upsert == ()
    plan2 = plan_sync("merge", L, R)
    keys = [u.key for u in plan2.remote_upsert]
    assert len(keys) == len(set(keys))


def test_metadata_only_difference_is_seen_by_hash_diff_and_plan() -> None:
    """Defect 4: hash and diff cover the same fields."""
    a = [Route(name="p", utterances=["x"], metadata={"v": 1})]
    b = [Route(name="p", utterances=["x"], metadata={"v": 2})]
    c = [Route(name="p", utterances=["x"], metadata={"v": 1}, score_threshold=0.7)]
    for other in (b, c):
        assert content_hash(utts(a), "e", 8) != content_hash(utts(other), "e", 8)
        diff = UtteranceDiff.from_utterances(
            local_utterances=utts(a), remote_utterances=utts(other)
        )
        assert diff.to_utterance_str() == ["- p: x", "+ p: x"]
        assert not plan_sync("local", a, utts(other)).is_noop
    assert content_hash(utts(a), "e", 8) != content_hash(utts(a), "other encoder", 8)
    assert content_hash(utts(a), "e", 8) == content_hash(list(reversed(utts(a))), "e", 8)


def test_group_routes_picks_majority_fields_for_half_propagated_routes() -> None:
    pts = [
        Utterance(route="p", utterance="a", metadata={"v": 2}),
        Utterance(route="p", utterance="b", metadata={"v": 2}),
        Utterance(route="p", utterance="c", metadata={"v": 1}),
    ]
    (route,) = group_routes(pts)
    assert route.metadata == {"v": 2}
    # the half-propagated point is rewritten by a "remote" sync of a local copy
    plan = plan_sync("local", [route], pts)
    assert [u.utterance for u in plan.remote_upsert] == ["c"]


# ---- properties over random contents -------------------------------------------------------
names = st.sampled_from(["a", "b", "c", "a b", "ü:#'"])
texts = st.sampled_from(["t1", "t2", "t3", "t4"])
meta = st.sampled_from([{}, {"k": 1}, {"k": 2}])
route_st = st.builds(
    lambda n, u, m, t: Route(name=n, utterances=u, metadata=m, score_threshold=t),
    names,
    st.lists(texts, min_size=1, max_size=3, unique=True),
    meta,
    st.sampled_from([None, 0.5]),
)
side = st.lists(route_st, max_size=4, unique_by=lambda r: r.name)


@settings(max_examples=150, deadline=None)
@given(local=side, remote=side, mode=st.sampled_from([m for m in SYNC_MODES if m != "error"]))
def test_any_plan_makes_both_sides_equal_the_result_and_is_idempotent(local, remote, mode) -> None:  # type: ignore[no-untyped-def]
    remote_u = utts(remote)
    plan = plan_sync(mode, local, remote_u)
    new_local, new_remote = apply(plan, local, remote_u)
    assert contents(new_local) == contents(plan.result)
    assert {content_key(u) for u in new_remote} == contents(plan.result)
    again = plan_sync(mode, new_local, new_remote)
    assert again.is_noop
    assert plan_sync("error", new_local, new_remote).is_noop
    # utterances are never lost where the mode keeps a route from both sides
    for r in plan.result:
        for src in (local, remote):
            match = next((x for x in src if x.name == r.name), None)
            if match is not None and mode.startswith("merge"):
                assert set(match.utterances) <= set(r.utterances)


@settings(max_examples=50, deadline=None)
@given(routes=side)
def test_routes_hash_equals_content_hash(routes) -> None:  # type: ignore[no-untyped-def]
    from fingerpost.sync._hash import routes_hash

    assert routes_hash(routes, "e", 8) == content_hash(utts(routes), "e", 8)
