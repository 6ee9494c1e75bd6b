"""A LangChain agent that never sends political turns to its model.

``FingerpostGuardrailMiddleware`` routes each fresh human turn locally (no tokens, a few ms)
before ``create_agent`` calls the model; turns of the blocked ``politics`` route get a canned
answer and the agent ends there. The chat model is an offline stand-in that counts its calls,
so this runs without keys or network:

    pip install -e integrations/langchain[test]
    python examples/langchain_guardrail_agent.py
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_fingerpost import GUARDRAIL_NAME, FingerpostGuardrailMiddleware

from fingerpost import Route, SemanticRouter

ROUTES = [
    Route(
        name="politics",
        utterances=[
            "isn't politics the best thing ever",
            "why don't you tell me about your political opinions",
            "don't you just love the president",
            "don't you just hate the president",
            "they're going to destroy this country!",
            "who are you voting for in the next election?",
            "which political party is the best?",
            "what do you think of the government?",
        ],
        metadata={"message": "I keep out of politics, but I'm happy to help with anything else."},
    ),
    Route(
        name="chitchat",
        utterances=["how's the weather today?", "how are things going?", "hi there, how are you?"],
    ),
]

TURNS = [
    "don't you just love the president?",
    "how do I reverse a list in python?",
    "who should I vote for in the election?",
    "what is your opinion on the senate?",
    "can you recommend a good name for my cat?",
]


class EchoChatModel(BaseChatModel):
    """Offline stand-in for a real chat model: answers with the question it was asked."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        answer = AIMessage(content=f"(model) you asked: {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=answer)])


class ModelCallCounter(BaseCallbackHandler):
    """Counts chat-model calls; callbacks reach the model through the agent."""

    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1


def main() -> tuple[list[tuple[str, str]], int]:
    """Run the turns through the guarded agent.

    Returns:
        ``(turn, "guardrail" | "model")`` per turn, and the number of model calls.
    """
    router = SemanticRouter(routes=ROUTES)  # the real offline ONNX encoder
    agent = create_agent(
        model=EchoChatModel(),
        tools=[],
        middleware=[FingerpostGuardrailMiddleware(router, blocked=["politics"])],
    )
    counter = ModelCallCounter()
    rows: list[tuple[str, str]] = []
    print(f"{'turn':<42} {'handled by':<22} answer")
    for turn in TURNS:
        state = agent.invoke({"messages": [HumanMessage(content=turn)]}, {"callbacks": [counter]})
        answer = state["messages"][-1]
        if answer.name == GUARDRAIL_NAME:
            score = answer.response_metadata["fingerpost"]["route_score"]
            who = f"guardrail ({score:.2f})"
            rows.append((turn, "guardrail"))
        else:
            who = "model"
            rows.append((turn, "model"))
        print(f"{turn:<42} {who:<22} {answer.content}")
    blocked = sum(handler == "guardrail" for _, handler in rows)
    print(
        f"model calls: {counter.calls} of {len(TURNS)} turns; blocked before the model: {blocked}"
    )
    return rows, counter.calls


if __name__ == "__main__":
    main()
