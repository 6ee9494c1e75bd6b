"""Guardrails: blocked turns are answered without ever reaching the model."""

from __future__ import annotations

import pytest
from fingerpost import InvalidInputError, RouteNotFoundError, SemanticRouter
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from _langchain_support import CHITCHAT_TURN, POLITICAL_TURN, make_chat_model
from langchain_fingerpost import (
    DEFAULT_REFUSAL,
    GUARDRAIL_NAME,
    FingerpostGuardrailMiddleware,
    guardrail,
)

TURNS = [POLITICAL_TURN, CHITCHAT_TURN, "don't you just hate the president?"]


def _agent(router: SemanticRouter, model, message: str | None = None):  # type: ignore[no-untyped-def]
    middleware = FingerpostGuardrailMiddleware(router, blocked=["politics"], message=message)
    return create_agent(model=model, tools=[], middleware=[middleware])


def _answers(states: list[dict]) -> list[AIMessage]:
    return [s["messages"][-1] for s in states]


def test_agent_sends_only_the_normal_turn_to_the_model(router: SemanticRouter) -> None:
    model = make_chat_model()
    agent = _agent(router, model, message="I keep out of politics.")
    states = [agent.invoke({"messages": [HumanMessage(content=t)]}) for t in TURNS]
    assert len(model.calls) == 1
    assert model.calls[0][-1].content == CHITCHAT_TURN
    answers = _answers(states)
    assert [a.content for a in answers] == [
        "I keep out of politics.",
        f"model: {CHITCHAT_TURN}",
        "I keep out of politics.",
    ]
    assert answers[0].name == GUARDRAIL_NAME
    assert answers[0].response_metadata["fingerpost"]["route"] == "politics"
    assert answers[1].name != GUARDRAIL_NAME


async def test_agent_async(router: SemanticRouter) -> None:
    model = make_chat_model()
    agent = _agent(router, model)
    states = [await agent.ainvoke({"messages": [HumanMessage(content=t)]}) for t in TURNS]
    assert len(model.calls) == 1
    # No message given: the route's metadata["message"].
    assert [a.content for a in _answers(states)][::2] == ["No politics.", "No politics."]


def test_agent_conversation_keeps_blocking(router: SemanticRouter) -> None:
    model = make_chat_model()
    agent = _agent(router, model)
    state = agent.invoke({"messages": [HumanMessage(content=CHITCHAT_TURN)]})
    state = agent.invoke({"messages": [*state["messages"], HumanMessage(content=POLITICAL_TURN)]})
    assert len(model.calls) == 1
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert state["messages"][-1].content == "No politics."


def test_middleware_validates_blocked(router: SemanticRouter) -> None:
    with pytest.raises(RouteNotFoundError, match="poltics"):
        FingerpostGuardrailMiddleware(router, blocked=["poltics"])
    with pytest.raises(InvalidInputError):
        FingerpostGuardrailMiddleware(router, blocked="politics")


def _chain(model):  # type: ignore[no-untyped-def]
    return ChatPromptTemplate.from_messages([("human", "{input}")]) | model


def test_lcel_guardrail_sends_only_the_normal_turn_to_the_chain(router: SemanticRouter) -> None:
    model = make_chat_model()
    guarded = guardrail(router, blocked=["politics"], chain=_chain(model), message="Not here.")
    answers = [guarded.invoke({"input": t}) for t in TURNS]
    assert len(model.calls) == 1
    assert [a.content for a in answers] == ["Not here.", f"model: {CHITCHAT_TURN}", "Not here."]
    assert answers[0].response_metadata["fingerpost"]["route"] == "politics"


async def test_lcel_guardrail_batch_and_async(router: SemanticRouter) -> None:
    model = make_chat_model()
    guarded = guardrail(router, blocked=["politics"], chain=_chain(model))
    inputs = [{"input": t} for t in TURNS]
    answers = guarded.batch(inputs) + await guarded.abatch(inputs)
    assert len(model.calls) == 2
    assert [a.content for a in answers] == [
        "No politics.",
        f"model: {CHITCHAT_TURN}",
        "No politics.",
    ] * 2


def test_lcel_guardrail_with_a_runnable_refusal(router: SemanticRouter) -> None:
    model = make_chat_model()
    guarded = guardrail(
        router,
        blocked=["politics"],
        chain=_chain(model) | StrOutputParser(),
        message=RunnableLambda(lambda _: "plain refusal"),
    )
    assert guarded.invoke({"input": POLITICAL_TURN}) == "plain refusal"
    assert guarded.invoke({"input": CHITCHAT_TURN}) == f"model: {CHITCHAT_TURN}"
    assert len(model.calls) == 1


def test_default_refusal_without_route_message(router: SemanticRouter) -> None:
    model = make_chat_model()
    guarded = guardrail(router, blocked=["chitchat"], chain=_chain(model))
    assert guarded.invoke({"input": CHITCHAT_TURN}).content == DEFAULT_REFUSAL
    assert model.calls == []
