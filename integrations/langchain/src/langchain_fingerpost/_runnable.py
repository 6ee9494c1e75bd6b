"""SemanticRouterRunnable: a fingerpost router as a LangChain runnable whose output is the
``RouteChoice``.

Deciding is pure (``pick``, ``with_calls``, ``group_by_route``); ``invoke``/``ainvoke`` and
``batch``/``abatch`` are thin twins that drive the router (and, for dynamic routes, the chat
model). A batch is ONE ``router.batch`` call plus at most one model ``batch`` per dynamic route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fingerpost import InvalidInputError, RouteChoice, SemanticRouter
from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict, Field

from ._serialise import as_semantic_router, router_spec
from ._turns import Turn, parse_turn

if TYPE_CHECKING:
    from ._branch import RouteBranch

__all__ = [
    "EXTRACT_TAG",
    "SemanticRouterRunnable",
    "ToolCallingUnsupportedError",
    "group_by_route",
    "pick",
    "with_calls",
]

EXTRACT_TAG = "fingerpost:extract"
"""Tag of the chat-model runs that extract a dynamic route's arguments."""

RunManager = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun
LC_NAMESPACE = ["langchain_fingerpost"]
"""``dumpd`` ids name the public package, never its private modules."""


class ToolCallingUnsupportedError(InvalidInputError, NotImplementedError):
    """A dynamic route needs ``llm.bind_tools`` and the chat model does not implement it.

    Also a ``NotImplementedError``, what LangChain raises for a model without tool calling.
    """


def pick(found: RouteChoice | list[RouteChoice], score_threshold: float | None) -> RouteChoice:
    """The choice for one turn: the router's own, or the best one that clears the override.

    ``found`` is the router's answer with ``limit=1`` (no override) or ``limit=None`` (every
    passing route, best first). An override can only tighten: a route must still clear its own
    threshold inside the router.
    """
    if isinstance(found, RouteChoice):
        return found
    if score_threshold is None:
        return found[0] if found else RouteChoice()
    for choice in found:
        if choice.similarity_score is not None and choice.similarity_score >= score_threshold:
            return choice
    return RouteChoice()


def with_calls(choice: RouteChoice, message: BaseMessage) -> RouteChoice:
    """``choice`` with the tool calls of ``message`` as ``function_call``."""
    calls = message.tool_calls if isinstance(message, AIMessage) else []
    return RouteChoice(
        name=choice.name,
        similarity_score=choice.similarity_score,
        function_call=[{"name": c["name"], "arguments": dict(c["args"])} for c in calls],
        metadata=choice.metadata,
    )


def group_by_route(choices: Sequence[RouteChoice | Exception]) -> dict[str, list[int]]:
    """Indices of the matched choices per route name, in input order."""
    groups: dict[str, list[int]] = {}
    for i, choice in enumerate(choices):
        if isinstance(choice, RouteChoice) and choice.name is not None:
            groups.setdefault(choice.name, []).append(i)
    return groups


def _turn(value: Turn | Exception) -> Turn:
    assert isinstance(value, Turn)  # only routed (hence parsed) inputs are grouped
    return value


class SemanticRouterRunnable(RunnableSerializable[Any, RouteChoice]):
    """Routes a turn with a fingerpost router; the output is the ``RouteChoice``.

    Input: a ``str``; a ``dict`` with the turn under ``input_key``; chat messages or a
    ``PromptValue`` (the last human message is routed). Make ``score_threshold`` a per-call
    setting with ``configurable_fields(score_threshold=ConfigurableField(id=...))``.

    Serialisable with ``dumpd``/``loads`` (id ``["langchain_fingerpost",
    "SemanticRouterRunnable"]``; load with ``valid_namespaces=["langchain_fingerpost"]``): the
    router travels as its ``RouterConfig`` and its encoder by name, so it comes back in memory
    (not on its index) and only on ``HashEncoder`` or the packaged ``OnnxEncoder``; ``llm``
    travels the way LangChain serialises it.

    Args:
        router: The fingerpost router (positional or keyword). Shared, never mutated.
        llm: Chat model that fills in the arguments of routes with ``function_schemas``
            (``llm.bind_tools(schemas)``); only turns of such routes call it. Without it no model
            is ever called.
        input_key: Key of the turn in dict inputs.
        score_threshold: When set, a choice must also score at least this (per call, shared
            router untouched).
        tool_choice: Passed to ``bind_tools`` when set (e.g. ``"any"`` to force a tool call).
        extraction_prompt: Optional system message put before the conversation sent to ``llm``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: SemanticRouter
    llm: BaseChatModel | None = None
    input_key: str = "input"
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    tool_choice: str | None = None
    extraction_prompt: str | None = None

    def __init__(self, router: SemanticRouter | Mapping[str, Any], **kwargs: Any) -> None:
        fields: dict[str, Any] = {"router": as_semantic_router(router)}
        super().__init__(**fields, **kwargs)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return list(LC_NAMESPACE)

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """LangChain's form, with the router replaced by its config and encoder spec."""
        dumped = super().to_json()
        if dumped["type"] == "constructor":
            dumped["kwargs"]["router"] = router_spec(self.router)
        return dumped

    @property
    def OutputType(self) -> type[RouteChoice]:
        return RouteChoice

    def to_branch(
        self,
        routes: dict[str, Any],
        default: Any,
        **kwargs: Any,
    ) -> RouteBranch:
        """A :class:`RouteBranch` sending each turn to ``routes[choice.name]``, else ``default``."""
        from ._branch import RouteBranch

        return RouteBranch(router=self, routes=routes, default=default, **kwargs)

    # ---- pure helpers -----------------------------------------------------------------------
    @property
    def _limit(self) -> int | None:
        return 1 if self.score_threshold is None else None

    def _schemas(self, route_name: str | None) -> list[dict[str, Any]] | None:
        """The function schemas to extract arguments for, or ``None`` (no model call)."""
        if self.llm is None or route_name is None:
            return None
        route = self.router.get(route_name)
        return route.function_schemas if route is not None and route.function_schemas else None

    def _dynamic_groups(
        self, choices: Sequence[RouteChoice | Exception]
    ) -> list[tuple[Runnable[Any, BaseMessage] | ToolCallingUnsupportedError, list[int]]]:
        """(bound model, indices) per dynamic route among ``choices``; empty without ``llm``.

        A model that cannot bind tools comes as its error, reported for those inputs only.
        """
        if self.llm is None:
            return []
        groups: list[tuple[Runnable[Any, BaseMessage] | ToolCallingUnsupportedError, list[int]]]
        groups = []
        for name, idx in group_by_route(choices).items():
            schemas = self._schemas(name)
            if schemas is None:
                continue
            try:
                groups.append((self._model(name, schemas), idx))
            except ToolCallingUnsupportedError as exc:
                groups.append((exc, idx))
        return groups

    def _model(self, route: str, schemas: list[dict[str, Any]]) -> Runnable[Any, BaseMessage]:
        """``llm`` with the route's tools bound.

        Raises:
            ToolCallingUnsupportedError: The model has no ``bind_tools``.
        """
        assert self.llm is not None
        try:
            if self.tool_choice is None:
                return self.llm.bind_tools(schemas)
            return self.llm.bind_tools(schemas, tool_choice=self.tool_choice)
        except NotImplementedError as exc:
            raise ToolCallingUnsupportedError(
                f"route {route!r} is dynamic (it has function_schemas): its arguments are filled "
                f"in through llm.bind_tools(...), which {type(self.llm).__name__} does not "
                "implement. Pass a chat model that supports tool calling (one that implements "
                "bind_tools), or llm=None to route without filling in arguments."
            ) from exc

    def _prompt(self, turn: Turn) -> list[BaseMessage]:
        head = [SystemMessage(content=self.extraction_prompt)] if self.extraction_prompt else []
        return [*head, *turn.messages]

    @staticmethod
    def _model_config(config: RunnableConfig, run_manager: RunManager) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(EXTRACT_TAG))

    def _parse_all(self, inputs: Sequence[Any]) -> list[Turn | Exception]:
        out: list[Turn | Exception] = []
        for value in inputs:
            try:
                out.append(parse_turn(value, self.input_key))
            except InvalidInputError as exc:  # reported per input by _batch_with_config
                out.append(exc)
        return out

    def _decide_all(
        self, turns: list[Turn | Exception], found: list[Any]
    ) -> list[RouteChoice | Exception]:
        it = iter(found)
        return [
            t if isinstance(t, Exception) else pick(next(it), self.score_threshold) for t in turns
        ]

    # ---- sync -------------------------------------------------------------------------------
    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> RouteChoice:
        return self._call_with_config(self._invoke, input, config)

    def _invoke(
        self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> RouteChoice:
        turn = parse_turn(input, self.input_key)
        choice = pick(self.router(turn.text, limit=self._limit), self.score_threshold)
        schemas = self._schemas(choice.name)
        if schemas is None or choice.name is None:
            return choice
        message = self._model(choice.name, schemas).invoke(
            self._prompt(turn), self._model_config(config, run_manager)
        )
        return with_calls(choice, message)

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[RouteChoice]:
        """Route every input with ONE ``router.batch`` call (and one model batch per dynamic
        route)."""
        return self._batch_with_config(
            self._batch, inputs, config, return_exceptions=return_exceptions
        )

    def _batch(
        self,
        inputs: list[Any],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[RouteChoice | Exception]:
        turns = self._parse_all(inputs)
        texts = [t.text for t in turns if isinstance(t, Turn)]
        found = self.router.batch(texts, limit=self._limit) if texts else []
        out = self._decide_all(turns, found)
        for model, idx in self._dynamic_groups(out):
            if isinstance(model, Exception):
                for i in idx:
                    out[i] = model
                continue
            messages = model.batch(
                [self._prompt(_turn(turns[i])) for i in idx],
                [self._model_config(config[i], run_manager[i]) for i in idx],
                return_exceptions=True,
            )
            for i, message in zip(idx, messages, strict=True):
                choice = out[i]
                assert isinstance(choice, RouteChoice)
                out[i] = message if isinstance(message, Exception) else with_calls(choice, message)
        return out

    # ---- async ------------------------------------------------------------------------------
    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> RouteChoice:
        return await self._acall_with_config(self._ainvoke, input, config)

    async def _ainvoke(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> RouteChoice:
        turn = parse_turn(input, self.input_key)
        found = await self.router.acall(turn.text, limit=self._limit)
        choice = pick(found, self.score_threshold)
        schemas = self._schemas(choice.name)
        if schemas is None or choice.name is None:
            return choice
        message = await self._model(choice.name, schemas).ainvoke(
            self._prompt(turn), self._model_config(config, run_manager)
        )
        return with_calls(choice, message)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[RouteChoice]:
        """Async twin of :meth:`batch`: ONE ``router.abatch`` call."""
        return await self._abatch_with_config(
            self._abatch, inputs, config, return_exceptions=return_exceptions
        )

    async def _abatch(
        self,
        inputs: list[Any],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[RouteChoice | Exception]:
        turns = self._parse_all(inputs)
        texts = [t.text for t in turns if isinstance(t, Turn)]
        found = await self.router.abatch(texts, limit=self._limit) if texts else []
        out = self._decide_all(turns, found)
        groups = self._dynamic_groups(out)

        async def extract(
            model: Runnable[Any, BaseMessage] | Exception, idx: list[int]
        ) -> list[Any]:
            if isinstance(model, Exception):
                return [model] * len(idx)
            return await model.abatch(
                [self._prompt(_turn(turns[i])) for i in idx],
                [self._model_config(config[i], run_manager[i]) for i in idx],
                return_exceptions=True,
            )

        results = await asyncio.gather(*(extract(model, idx) for model, idx in groups))
        for (_, idx), messages in zip(groups, results, strict=True):
            for i, message in zip(idx, messages, strict=True):
                choice = out[i]
                assert isinstance(choice, RouteChoice)
                out[i] = message if isinstance(message, Exception) else with_calls(choice, message)
        return out
