"""Dynamic routes: a chat model fills in function_call, only for routes with schemas."""

from __future__ import annotations

import pytest
from fingerpost import SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from _langchain_support import (
    CHITCHAT_TURN,
    GET_TIME,
    OTHER_TURN,
    POLITICAL_TURN,
    TIME_TURN,
    RunCollector,
    flatten,
    make_chat_model,
    time_tool_call,
)
from langchain_fingerpost import EXTRACT_TAG, SemanticRouterRunnable, ToolCallingUnsupportedError

TURNS = [TIME_TURN, POLITICAL_TURN, "what time is it in tokyo right now", CHITCHAT_TURN, OTHER_TURN]
CALLS = {
    0: [{"name": "get_time", "arguments": {"timezone": "paris"}}],
    2: [{"name": "get_time", "arguments": {"timezone": "now"}}],
}


def test_a_dynamic_route_calls_the_model_once(router: SemanticRouter) -> None:
    llm = make_chat_model(time_tool_call)
    runnable = SemanticRouterRunnable(router=router, llm=llm)
    choice = runnable.invoke(TIME_TURN)
    assert choice.name == "get_time"
    assert choice.function_call == CALLS[0]
    assert len(llm.calls) == 1
    assert llm.bound_tools == [[GET_TIME]]
    assert llm.calls[0][-1].content == TIME_TURN


def test_static_routes_and_misses_never_call_the_model(router: SemanticRouter) -> None:
    llm = make_chat_model(time_tool_call)
    runnable = SemanticRouterRunnable(router=router, llm=llm)
    assert runnable.invoke(POLITICAL_TURN).function_call is None
    assert runnable.invoke(OTHER_TURN).function_call is None
    assert llm.calls == []


def test_without_llm_nothing_calls_a_model(router: SemanticRouter) -> None:
    choice = SemanticRouterRunnable(router=router).invoke(TIME_TURN)
    assert choice.name == "get_time"
    assert choice.function_call is None


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_batch_extracts_only_dynamic_turns_in_one_model_batch(
    router: SemanticRouter, encoder: HashEncoder, asynchronous: bool
) -> None:
    llm = make_chat_model(time_tool_call)
    runnable = SemanticRouterRunnable(router=router, llm=llm)
    before = encoder.calls
    out = await runnable.abatch(TURNS) if asynchronous else runnable.batch(TURNS)
    assert encoder.calls - before == 1
    assert [c.name for c in out] == ["get_time", "politics", "get_time", "chitchat", None]
    assert {i: c.function_call for i, c in enumerate(out) if c.function_call} == CALLS
    assert llm.batch_sizes == [2]
    assert len(llm.calls) == 2


async def test_ainvoke_extracts(router: SemanticRouter) -> None:
    llm = make_chat_model(time_tool_call)
    choice = await SemanticRouterRunnable(router=router, llm=llm).ainvoke(
        {"input": [("system", "be brief"), ("human", TIME_TURN)]}
    )
    assert choice.function_call == CALLS[0]
    assert [m.type for m in llm.calls[0]] == ["system", "human"]  # the whole conversation


def test_model_errors_are_reported_per_input(router: SemanticRouter) -> None:
    def flaky(messages):  # type: ignore[no-untyped-def]
        if "tokyo" in messages[-1].content:
            raise RuntimeError("model down")
        return time_tool_call(messages)

    runnable = SemanticRouterRunnable(router=router, llm=make_chat_model(flaky))
    out = runnable.batch(TURNS, return_exceptions=True)
    assert isinstance(out[2], RuntimeError)
    assert out[0].function_call == CALLS[0]
    with pytest.raises(RuntimeError, match="model down"):
        runnable.batch(TURNS)


def test_extraction_prompt_and_tool_choice(router: SemanticRouter, collector: RunCollector) -> None:
    llm = make_chat_model(time_tool_call)
    runnable = SemanticRouterRunnable(
        router=router, llm=llm, tool_choice="any", extraction_prompt="Fill in the arguments."
    )
    runnable.invoke(TIME_TURN, {"callbacks": [collector]})
    assert [m.type for m in llm.calls[0]] == ["system", "human"]
    [root] = collector.roots
    [llm_run] = [r for r in flatten(root) if r.run_type == "llm"]
    assert llm_run.tags == [EXTRACT_TAG]
    assert llm_run.extra["invocation_params"]["tool_choice"] == "any"


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_model_without_bind_tools_gets_a_clear_typed_error(
    router: SemanticRouter, asynchronous: bool
) -> None:
    runnable = SemanticRouterRunnable(router, llm=FakeListChatModel(responses=["unused"]))
    expected = r"route 'get_time' is dynamic.*FakeListChatModel does not implement.*bind_tools"
    with pytest.raises(ToolCallingUnsupportedError, match=expected) as caught:
        await runnable.ainvoke(TIME_TURN) if asynchronous else runnable.invoke(TIME_TURN)
    assert isinstance(caught.value, NotImplementedError)  # what LangChain raised before
    # static routes still route; in a batch only the dynamic turns carry the error
    out = (
        await runnable.abatch(TURNS, return_exceptions=True)
        if asynchronous
        else runnable.batch(TURNS, return_exceptions=True)
    )
    assert [type(c).__name__ for c in out] == [
        "ToolCallingUnsupportedError",
        "RouteChoice",
        "ToolCallingUnsupportedError",
        "RouteChoice",
        "RouteChoice",
    ]
    assert out[1].name == "politics"
