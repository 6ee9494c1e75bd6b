"""FingerpostGuardrailMiddleware: keep blocked routes away from a ``create_agent`` model.

Needs ``langchain>=1.0`` (``pip install 'langchain-fingerpost[agents]'``). Before each model
call that answers a fresh human turn, the turn is routed; a turn of a blocked route gets the
refusal as the agent's answer and the agent jumps to its end, so the model never sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fingerpost import InvalidInputError, RouteChoice, RouteNotFoundError, SemanticRouter
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable

from ._guardrail import as_router_runnable, refusal_message, semantic_router_of
from ._runnable import SemanticRouterRunnable

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState, hook_config
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "FingerpostGuardrailMiddleware needs LangChain 1.x agents: "
        "pip install 'langchain-fingerpost[agents]'"
    ) from exc

__all__ = ["FingerpostGuardrailMiddleware"]


class FingerpostGuardrailMiddleware(AgentMiddleware[AgentState[Any], Any]):
    """Answers turns of ``blocked`` routes with a refusal instead of calling the model.

    Only a model call whose last message is a human message is checked (a fresh turn; model
    calls after tool results are not re-routed). The refusal ``AIMessage`` is named
    ``fingerpost_guardrail`` and records the route in ``response_metadata["fingerpost"]``.

    Args:
        router: The router, or a runnable returning a ``RouteChoice``.
        blocked: Route names to block, e.g. ``["politics"]``.
        message: Refusal text; ``None``: the route's ``metadata["message"]`` or a default.
    """

    def __init__(
        self,
        router: SemanticRouter | SemanticRouterRunnable | Runnable[Any, RouteChoice],
        blocked: Sequence[str],
        message: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(blocked, str) or not blocked:
            raise InvalidInputError("blocked must be a non-empty list of route names")
        self.router = as_router_runnable(router)
        semantic = semantic_router_of(self.router)
        unknown = sorted(set(blocked) - set(semantic.list_route_names())) if semantic else []
        if unknown:
            raise RouteNotFoundError(f"blocked names no route of the router: {unknown}")
        self.blocked = frozenset(blocked)
        self.message = message
        self._semantic = semantic

    def _fresh_turn(self, state: AgentState[Any]) -> list[Any] | None:
        messages = state["messages"]
        return messages if messages and isinstance(messages[-1], HumanMessage) else None

    def _verdict(self, choice: RouteChoice) -> dict[str, Any] | None:
        if choice.name not in self.blocked:
            return None
        answer: AIMessage = refusal_message(choice, self.message, self._semantic)
        return {"messages": [answer], "jump_to": "end"}

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: AgentState[Any], runtime: Any) -> dict[str, Any] | None:
        messages = self._fresh_turn(state)
        return None if messages is None else self._verdict(self.router.invoke(messages))

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: AgentState[Any], runtime: Any) -> dict[str, Any] | None:
        messages = self._fresh_turn(state)
        return None if messages is None else self._verdict(await self.router.ainvoke(messages))
