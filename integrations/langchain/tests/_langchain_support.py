"""Test helpers (imported by the tests and conftest): routes, counting runnables and chat
models, a tracer that keeps run trees."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from pydantic import Field

POLITICS = [
    "isn't politics the best thing ever",
    "why don't you tell me about your political opinions",
    "don't you just love the president",
    "don't you just hate the president",
    "they're going to destroy this country!",
]
CHITCHAT = ["how's the weather today?", "how are things going?", "lovely weather today"]
TIME = ["what time is it in tokyo?", "tell me the current time in london"]
GET_TIME = {
    "name": "get_time",
    "description": "Current time in a timezone",
    "parameters": {
        "type": "object",
        "properties": {"timezone": {"type": "string"}},
        "required": ["timezone"],
    },
}

POLITICAL_TURN = "do you love the president"
CHITCHAT_TURN = "how is the weather today"
TIME_TURN = "what time is it in paris"
OTHER_TURN = "explain quantum entanglement"


def make_router(encoder: HashEncoder | None = None) -> SemanticRouter:
    return SemanticRouter(
        routes=[
            Route(name="politics", utterances=POLITICS, metadata={"message": "No politics."}),
            Route(name="chitchat", utterances=CHITCHAT),
            Route(name="get_time", utterances=TIME, function_schemas=[GET_TIME]),
        ],
        encoder=encoder or HashEncoder(dim=128),
        score_threshold=0.3,
    )


def make_chat_model(
    respond: Callable[[list[BaseMessage]], AIMessage] | None = None,
) -> CountingChatModel:
    """A counting chat model; by default it answers ``model: <last human text>``."""
    return CountingChatModel(
        respond=respond or (lambda ms: AIMessage(content=f"model: {last_human(ms)}"))
    )


class CountingRunnable(Runnable[Any, Any]):
    """Tags its input with ``label`` and records every invoke/batch call (thread-safe)."""

    def __init__(self, label: str, fail_on: str | None = None) -> None:
        self.label = label
        self.fail_on = fail_on
        self.invokes: list[Any] = []
        self.batches: list[list[Any]] = []
        self._lock = threading.Lock()

    def _one(self, value: Any) -> str:
        if self.fail_on is not None and value == self.fail_on:
            raise RuntimeError(f"{self.label} failed on {value!r}")
        return f"{self.label}:{value}"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        with self._lock:
            self.invokes.append(input)
        return self._call_with_config(self._one, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return self.invoke(input, config)

    def batch(
        self,
        inputs: list[Any],
        config: Any = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        with self._lock:
            self.batches.append(list(inputs))
        return self._batch_with_config(
            lambda xs: [_safe(self._one, x) for x in xs],
            inputs,
            config,
            return_exceptions=return_exceptions,
        )

    async def abatch(
        self,
        inputs: list[Any],
        config: Any = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        return self.batch(inputs, config, return_exceptions=return_exceptions)

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[str]:
        yield from self.invoke(input, config)  # one character at a time

    async def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[str]:
        for char in self.invoke(input, config):
            yield char


def _safe(fn: Callable[[Any], Any], value: Any) -> Any:
    try:
        return fn(value)
    except Exception as exc:
        return exc


class CountingChatModel(BaseChatModel):
    """Answers with ``respond(messages)``; records every call, batch and ``bind_tools``."""

    respond: Callable[[list[BaseMessage]], AIMessage]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    batch_sizes: list[int] = Field(default_factory=list)
    bound_tools: list[list[Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fingerpost-test-counting"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))  # list.append is atomic under the GIL
        return ChatResult(generations=[ChatGeneration(message=self.respond(messages))])

    def batch(self, inputs: list[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        self.batch_sizes.append(len(inputs))
        return super().batch(inputs, config, **kwargs)

    async def abatch(self, inputs: list[Any], config: Any = None, **kwargs: Any) -> list[Any]:
        self.batch_sizes.append(len(inputs))
        return await super().abatch(inputs, config, **kwargs)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[Any, AIMessage]:
        self.bound_tools.append(list(tools))
        return self.bind(tools=list(tools), **kwargs)


def last_human(messages: list[BaseMessage]) -> str:
    return next(str(m.content) for m in reversed(messages) if isinstance(m, HumanMessage))


def time_tool_call(messages: list[BaseMessage]) -> AIMessage:
    """A tool call whose timezone is the last word of the turn (deterministic in threads)."""
    city = last_human(messages).rstrip("?").split()[-1]
    return AIMessage(
        content="",
        tool_calls=[{"name": "get_time", "args": {"timezone": city}, "id": f"call-{city}"}],
    )


class RunCollector(BaseTracer):
    """Keeps every finished root run, with its child runs."""

    def __init__(self) -> None:
        super().__init__()
        self.roots: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


def flatten(run: Run) -> list[Run]:
    """The run and all its descendants, depth first."""
    return [run, *(r for child in run.child_runs for r in flatten(child))]
