"""SemanticRouterRunnable: same answers as the router, one encoder call per batch, per-call
threshold overrides that leave the shared router alone."""

from __future__ import annotations

from typing import Any

import pytest
from fingerpost import InvalidInputError, RouteChoice, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import ConfigurableField
from pydantic import ValidationError

from _langchain_support import CHITCHAT_TURN, OTHER_TURN, POLITICAL_TURN, TIME_TURN
from langchain_fingerpost import FingerpostEmbeddings, RouteBranch, SemanticRouterRunnable

TURNS = [POLITICAL_TURN, CHITCHAT_TURN, OTHER_TURN, TIME_TURN, "don't you hate the president?"]


def same(a: RouteChoice, b: RouteChoice) -> bool:
    if a.name != b.name or a.metadata != b.metadata:
        return False
    if a.similarity_score is None or b.similarity_score is None:
        return a.similarity_score == b.similarity_score
    return a.similarity_score == pytest.approx(b.similarity_score, abs=1e-5)


def test_invoke_returns_the_routers_choice(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router=router)
    for turn in TURNS:
        assert same(runnable.invoke(turn), router(turn))
    assert runnable.invoke(POLITICAL_TURN).name == "politics"
    assert runnable.invoke(OTHER_TURN) == RouteChoice()
    assert runnable.invoke({"input": [HumanMessage(content=CHITCHAT_TURN)]}).name == "chitchat"


def test_the_router_can_be_passed_positionally_everywhere(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router, score_threshold=0.3)  # was pydantic's TypeError
    assert runnable.router is router
    assert runnable.invoke(POLITICAL_TURN).name == "politics"
    branch = RouteBranch(router, {"politics": lambda _: "no"}, lambda _: "yes")
    assert [branch.invoke(POLITICAL_TURN), branch.invoke(OTHER_TURN)] == ["no", "yes"]
    assert FingerpostEmbeddings(router).encoder is router.encoder


def test_output_type_is_route_choice(router: SemanticRouter) -> None:
    assert SemanticRouterRunnable(router=router).OutputType is RouteChoice


def test_batch_is_one_encoder_call_and_equals_invoke(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    runnable = SemanticRouterRunnable(router=router)
    singles = [runnable.invoke(t) for t in TURNS]
    before = encoder.calls
    batched = runnable.batch(TURNS)
    assert encoder.calls - before == 1
    assert all(same(a, b) for a, b in zip(batched, singles, strict=True))


async def test_abatch_is_one_encoder_call_and_equals_ainvoke(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    runnable = SemanticRouterRunnable(router=router)
    singles = [await runnable.ainvoke(t) for t in TURNS]
    before = encoder.calls
    batched = await runnable.abatch(TURNS)
    assert encoder.calls - before == 1
    assert all(same(a, b) for a, b in zip(batched, singles, strict=True))


async def test_ainvoke_goes_through_router_acall(router: SemanticRouter) -> None:
    seen: list[Any] = []
    acall = router.acall

    async def spy(text: Any = None, **kwargs: Any) -> Any:
        seen.append(text)
        return await acall(text, **kwargs)

    router.acall = spy  # type: ignore[method-assign]
    choice = await SemanticRouterRunnable(router=router).ainvoke(POLITICAL_TURN)
    assert choice.name == "politics"
    assert seen == [POLITICAL_TURN]


async def test_stream_and_astream_yield_the_one_choice(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router=router)
    assert [c.name for c in runnable.stream(POLITICAL_TURN)] == ["politics"]
    assert [c.name async for c in runnable.astream(CHITCHAT_TURN)] == ["chitchat"]


def test_custom_input_key(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router=router, input_key="question")
    assert runnable.invoke({"question": POLITICAL_TURN}).name == "politics"
    with pytest.raises(InvalidInputError, match="no 'question' key"):
        runnable.invoke({"input": POLITICAL_TURN})


def test_batch_reports_bad_inputs_in_place(router: SemanticRouter, encoder: HashEncoder) -> None:
    runnable = SemanticRouterRunnable(router=router)
    before = encoder.calls
    out = runnable.batch([POLITICAL_TURN, 42, [AIMessage(content="x")]], return_exceptions=True)
    assert encoder.calls - before == 1  # the good turns still share one call
    assert out[0].name == "politics"
    assert isinstance(out[1], InvalidInputError)
    assert isinstance(out[2], InvalidInputError)
    with pytest.raises(InvalidInputError):
        runnable.batch([POLITICAL_TURN, 42])


def test_all_bad_batch_never_calls_the_encoder(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    before = encoder.calls
    out = SemanticRouterRunnable(router=router).batch(["  "], return_exceptions=True)
    assert isinstance(out[0], InvalidInputError)
    assert encoder.calls == before


def test_score_threshold_override_applies_to_that_call_only(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router=router).configurable_fields(
        score_threshold=ConfigurableField(id="score_threshold")
    )
    plain = runnable.invoke(POLITICAL_TURN)
    assert plain.name == "politics"
    assert plain.similarity_score is not None
    strict = {"configurable": {"score_threshold": min(plain.similarity_score + 0.05, 1.0)}}
    loose = {"configurable": {"score_threshold": plain.similarity_score - 0.05}}

    assert runnable.invoke(POLITICAL_TURN, strict) == RouteChoice()
    assert same(runnable.invoke(POLITICAL_TURN, loose), plain)
    assert runnable.batch([POLITICAL_TURN, CHITCHAT_TURN], strict)[0].name is None
    # The shared router and later calls are untouched.
    assert router.score_threshold == pytest.approx(0.3)
    assert same(runnable.invoke(POLITICAL_TURN), plain)


async def test_score_threshold_override_async(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router=router).configurable_fields(
        score_threshold=ConfigurableField(id="score_threshold")
    )
    assert (
        await runnable.ainvoke(POLITICAL_TURN, {"configurable": {"score_threshold": 1.0}})
    ).name is None
    assert (await runnable.ainvoke(POLITICAL_TURN)).name == "politics"


def test_an_override_only_tightens(router: SemanticRouter) -> None:
    # A route must still clear the router's own threshold (0.3): a lower override cannot
    # admit a turn the router rejected.
    runnable = SemanticRouterRunnable(router=router, score_threshold=-1.0)
    assert runnable.invoke(OTHER_TURN) == RouteChoice()


def test_threshold_is_validated(router: SemanticRouter) -> None:
    with pytest.raises(ValidationError):
        SemanticRouterRunnable(router=router, score_threshold=1.5)
