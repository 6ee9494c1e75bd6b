"""Route turns to cheap chains, send the rest to the main chain (LangChain LCEL).

``SemanticRouterRunnable(...).to_branch(...)`` picks a chain per turn locally (no tokens):
small talk and billing go to cheap chains, everything else to the main chain. ``batch`` routes
all turns with ONE encoder call and calls each chain's ``batch`` once with its turns. The chat
models are offline stand-ins, so this runs without keys or network:

    pip install -e integrations/langchain[test]
    python examples/langchain_router_chain.py
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_fingerpost import SemanticRouterRunnable

from fingerpost import Route, SemanticRouter

ROUTES = [
    Route(
        name="chitchat",
        utterances=[
            "how's the weather today?",
            "how are things going?",
            "lovely weather today",
            "hi there, how are you?",
        ],
    ),
    Route(
        name="billing",
        utterances=[
            "I need a refund",
            "where is my receipt?",
            "cancel my subscription",
            "why was I charged twice?",
        ],
    ),
]

TURNS = [
    "how are you doing today?",
    "I was billed two times this month",
    "explain quantum entanglement simply",
    "what a lovely sunny day",
    "please refund my last payment",
    "write a haiku about databases",
]


class EchoChatModel(BaseChatModel):
    """Offline stand-in for a real chat model: names itself and echoes its prompt."""

    label: str

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        answer = AIMessage(content=f"[{self.label}] {messages[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=answer)])


def chain(label: str, instruction: str) -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages([("human", instruction + " {input}")])
    return prompt | EchoChatModel(label=label) | StrOutputParser()


def main() -> list[str]:
    """Answer every turn (one by one, then as a batch); return the batched answers."""
    router = SemanticRouter(routes=ROUTES)  # the real offline ONNX encoder
    branch = SemanticRouterRunnable(router=router).to_branch(
        {
            "chitchat": chain("small-talk model", "Reply in one friendly line:"),
            "billing": chain("billing model", "Answer from the billing FAQ:"),
        },
        default=chain("main model", "Think step by step:"),
    )
    print(f"{'turn':<38} answer")
    singles = [branch.invoke({"input": t}) for t in TURNS]
    for turn, answer in zip(TURNS, singles, strict=True):
        print(f"{turn:<38} {answer}")
    batched = branch.batch([{"input": t} for t in TURNS])
    assert batched == singles
    cheap = sum(not a.startswith("[main model]") for a in batched)
    print(
        f"batch of {len(TURNS)} turns: same answers, one encoder call; "
        f"{cheap} turns on cheap chains, {len(TURNS) - cheap} on the main chain"
    )
    return batched


if __name__ == "__main__":
    main()
