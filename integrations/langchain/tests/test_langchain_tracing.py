"""Tracing: one run per router call, route-tagged children carrying route metadata, and
callbacks that reach the models inside the chosen runnable."""

from __future__ import annotations

import pytest
from fingerpost import SemanticRouter
from langchain_core.prompts import ChatPromptTemplate

from _langchain_support import (
    CHITCHAT_TURN,
    OTHER_TURN,
    POLITICAL_TURN,
    CountingRunnable,
    RunCollector,
    flatten,
    make_chat_model,
)
from langchain_fingerpost import DEFAULT_TAG, ROUTER_TAG, RouteBranch, SemanticRouterRunnable


def test_the_router_runnable_opens_exactly_one_run(
    router: SemanticRouter, collector: RunCollector
) -> None:
    SemanticRouterRunnable(router=router).invoke(
        POLITICAL_TURN, {"callbacks": [collector], "run_name": "my-router"}
    )
    [root] = collector.roots
    assert [r.name for r in flatten(root)] == ["my-router"]
    assert root.outputs is not None
    assert root.outputs["output"].name == "politics"


def test_batch_opens_one_run_per_input(router: SemanticRouter, collector: RunCollector) -> None:
    SemanticRouterRunnable(router=router).batch(
        [POLITICAL_TURN, CHITCHAT_TURN], {"callbacks": [collector], "run_name": "r"}
    )
    assert [r.name for r in collector.roots] == ["r", "r"]
    assert [r.outputs["output"].name for r in collector.roots] == ["politics", "chitchat"]


def _branch(router: SemanticRouter) -> RouteBranch:
    model = make_chat_model()
    chain = ChatPromptTemplate.from_messages([("human", "{input}")]) | model
    return RouteBranch(
        router=router,
        routes={"politics": CountingRunnable("politics")},
        default=lambda text: chain.invoke({"input": text}),
    )


def _check_tree(root_runs: list, expect_route: str | None) -> None:
    [root] = root_runs
    assert root.name == "guarded"
    router_run, target_run = root.child_runs
    assert router_run.tags == [ROUTER_TAG]
    assert router_run.name == "SemanticRouterRunnable"
    metadata = target_run.extra["metadata"]
    assert metadata["route"] == expect_route
    if expect_route is None:
        assert target_run.tags == [DEFAULT_TAG]
        assert metadata["route_score"] is None
        # Callbacks reached the model inside the default runnable, metadata with them.
        [llm_run] = [r for r in flatten(target_run) if r.run_type == "llm"]
        assert llm_run.extra["metadata"]["route"] is None
    else:
        assert target_run.tags == [f"route:{expect_route}"]
        assert metadata["route_score"] == pytest.approx(
            router_run.outputs["output"].similarity_score
        )


def test_branch_run_tree(router: SemanticRouter, collector: RunCollector) -> None:
    branch = _branch(router)
    branch.invoke(POLITICAL_TURN, {"callbacks": [collector], "run_name": "guarded"})
    _check_tree(collector.roots, "politics")
    collector.roots.clear()
    branch.invoke(OTHER_TURN, {"callbacks": [collector], "run_name": "guarded"})
    _check_tree(collector.roots, None)


async def test_branch_run_tree_async(router: SemanticRouter, collector: RunCollector) -> None:
    await _branch(router).ainvoke(POLITICAL_TURN, {"callbacks": [collector], "run_name": "guarded"})
    _check_tree(collector.roots, "politics")


@pytest.mark.parametrize("method", ["stream", "batch"])
def test_branch_run_tree_stream_and_batch(
    router: SemanticRouter, collector: RunCollector, method: str
) -> None:
    branch = _branch(router)
    config = {"callbacks": [collector], "run_name": "guarded"}
    if method == "stream":
        assert "".join(branch.stream(POLITICAL_TURN, config)) == "politics:" + POLITICAL_TURN
    else:
        branch.batch([POLITICAL_TURN], config)
    _check_tree(collector.roots, "politics")


async def test_branch_run_tree_abatch_and_astream(
    router: SemanticRouter, collector: RunCollector
) -> None:
    branch = _branch(router)
    config = {"callbacks": [collector], "run_name": "guarded"}
    await branch.abatch([OTHER_TURN], config)
    _check_tree(collector.roots, None)
    collector.roots.clear()
    assert [c async for c in branch.astream(POLITICAL_TURN, config)]
    _check_tree(collector.roots, "politics")
