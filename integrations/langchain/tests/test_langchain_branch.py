"""RouteBranch: dispatch per route, one encoder call and one target batch per group."""

from __future__ import annotations

from typing import Any

import pytest
from fingerpost import RouteChoice, RouteNotFoundError, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from langchain_core.runnables import ConfigurableField, RunnableLambda

from _langchain_support import CHITCHAT_TURN, OTHER_TURN, POLITICAL_TURN, CountingRunnable
from langchain_fingerpost import RouteBranch, SemanticRouterRunnable

MIXED = [
    POLITICAL_TURN,
    OTHER_TURN,
    CHITCHAT_TURN,
    "don't you hate the president?",
    "what's the weather like today",
    "write a poem about databases",
]
EXPECTED = [
    "politics:" + MIXED[0],
    "main:" + MIXED[1],
    "chitchat:" + MIXED[2],
    "politics:" + MIXED[3],
    "chitchat:" + MIXED[4],
    "main:" + MIXED[5],
]


@pytest.fixture
def targets() -> dict[str, CountingRunnable]:
    return {name: CountingRunnable(name) for name in ("politics", "chitchat", "main")}


@pytest.fixture
def branch(router: SemanticRouter, targets: dict[str, CountingRunnable]) -> RouteBranch:
    return SemanticRouterRunnable(router=router).to_branch(
        {"politics": targets["politics"], "chitchat": targets["chitchat"]},
        default=targets["main"],
    )


def test_invoke_dispatches_to_the_route_or_the_default(
    branch: RouteBranch, targets: dict[str, CountingRunnable]
) -> None:
    assert branch.invoke(POLITICAL_TURN) == "politics:" + POLITICAL_TURN
    assert branch.invoke(OTHER_TURN) == "main:" + OTHER_TURN
    assert targets["politics"].invokes == [POLITICAL_TURN]
    assert targets["main"].invokes == [OTHER_TURN]
    assert targets["chitchat"].invokes == []


def test_a_route_without_a_runnable_goes_to_the_default(router: SemanticRouter) -> None:
    branch = RouteBranch(
        router=router, routes={"chitchat": CountingRunnable("c")}, default=CountingRunnable("main")
    )
    assert branch.invoke(POLITICAL_TURN) == "main:" + POLITICAL_TURN


def test_batch_routes_once_and_batches_each_target_once(
    branch: RouteBranch, targets: dict[str, CountingRunnable], encoder: HashEncoder
) -> None:
    before = encoder.calls
    assert branch.batch(MIXED) == EXPECTED
    assert encoder.calls - before == 1
    assert targets["politics"].batches == [[MIXED[0], MIXED[3]]]
    assert targets["chitchat"].batches == [[MIXED[2], MIXED[4]]]
    assert targets["main"].batches == [[MIXED[1], MIXED[5]]]
    assert all(t.invokes == [] for t in targets.values())


async def test_abatch_routes_once_and_batches_each_target_once(
    branch: RouteBranch, targets: dict[str, CountingRunnable], encoder: HashEncoder
) -> None:
    before = encoder.calls
    assert await branch.abatch(MIXED) == EXPECTED
    assert encoder.calls - before == 1
    assert [len(t.batches) for t in targets.values()] == [1, 1, 1]


async def test_batch_equals_invoke_and_ainvoke(branch: RouteBranch) -> None:
    assert [branch.invoke(t) for t in MIXED] == EXPECTED
    assert [await branch.ainvoke(t) for t in MIXED] == EXPECTED


def test_a_shared_runnable_is_batched_once(router: SemanticRouter) -> None:
    shared = CountingRunnable("shared")
    branch = RouteBranch(
        router=router, routes={"politics": shared, "chitchat": shared}, default=shared
    )
    branch.batch(MIXED)
    assert shared.batches == [MIXED]


def test_return_exceptions_keeps_other_outputs(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    failing = CountingRunnable("politics", fail_on=MIXED[3])
    branch = RouteBranch(
        router=router, routes={"politics": failing}, default=CountingRunnable("main")
    )
    out = branch.batch([*MIXED, 42], return_exceptions=True)
    assert out[0] == "politics:" + MIXED[0]
    assert isinstance(out[3], RuntimeError)
    assert out[5] == "main:" + MIXED[5]
    assert isinstance(out[6], ValueError)  # 42 cannot be routed
    with pytest.raises(RuntimeError, match="politics failed"):
        branch.batch(MIXED)


async def test_areturn_exceptions_keeps_other_outputs(router: SemanticRouter) -> None:
    failing = CountingRunnable("politics", fail_on=MIXED[3])
    branch = RouteBranch(
        router=router, routes={"politics": failing}, default=CountingRunnable("main")
    )
    out = await branch.abatch(MIXED, return_exceptions=True)
    assert isinstance(out[3], RuntimeError)
    assert out[1] == "main:" + MIXED[1]
    with pytest.raises(RuntimeError, match="politics failed"):
        await branch.abatch(MIXED)


async def test_stream_and_astream_stream_the_target(branch: RouteBranch) -> None:
    assert list(branch.stream(POLITICAL_TURN)) == list("politics:" + POLITICAL_TURN)
    assert [c async for c in branch.astream(OTHER_TURN)] == list("main:" + OTHER_TURN)


async def test_astream_events_shows_route_tagged_child(branch: RouteBranch) -> None:
    events = [
        e async for e in branch.astream_events(POLITICAL_TURN, {"run_name": "guard"}, version="v2")
    ]
    starts = [e for e in events if e["event"] == "on_chain_start"]
    assert starts[0]["name"] == "guard"
    tagged = [e for e in starts if "route:politics" in e["tags"]]
    assert len(tagged) == 1
    assert tagged[0]["metadata"]["route"] == "politics"
    assert tagged[0]["metadata"]["route_score"] > 0.3
    assert events[-1]["event"] == "on_chain_end"
    assert events[-1]["name"] == "guard"
    assert events[-1]["data"]["output"] == "politics:" + POLITICAL_TURN


def test_pass_choice_hands_the_choice_to_the_target(router: SemanticRouter) -> None:
    seen: list[Any] = []
    branch = RouteBranch(
        router=router,
        routes={"politics": RunnableLambda(seen.append)},
        default=lambda x: x,
        pass_choice=True,
    )
    branch.invoke(POLITICAL_TURN)
    assert seen[0]["input"] == POLITICAL_TURN
    assert isinstance(seen[0]["choice"], RouteChoice)
    assert seen[0]["choice"].name == "politics"


def test_unknown_route_names_are_refused(router: SemanticRouter) -> None:
    with pytest.raises(RouteNotFoundError, match="polítics"):
        RouteBranch(router=router, routes={"polítics": lambda x: x}, default=lambda x: x)


def test_a_configurable_router_works_inside_a_branch(router: SemanticRouter) -> None:
    configurable = SemanticRouterRunnable(router=router).configurable_fields(
        score_threshold=ConfigurableField(id="score_threshold")
    )
    branch = RouteBranch(
        router=configurable,
        routes={"politics": CountingRunnable("p")},
        default=CountingRunnable("main"),
    )
    assert branch.invoke(POLITICAL_TURN) == "p:" + POLITICAL_TURN
    strict = {"configurable": {"score_threshold": 1.0}}
    assert branch.invoke(POLITICAL_TURN, strict) == "main:" + POLITICAL_TURN
    with pytest.raises(RouteNotFoundError):
        RouteBranch(router=configurable, routes={"nope": lambda x: x}, default=lambda x: x)
