"""Guardrails for plain LCEL chains: blocked routes get a canned answer, never the chain.

``guardrail(...)`` is a :class:`RouteBranch` whose blocked routes go to a refusal runnable and
everything else to ``chain``, so batching, streaming and tracing come with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fingerpost import InvalidInputError, RouteChoice, SemanticRouter
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ._branch import RouteBranch
from ._runnable import SemanticRouterRunnable

__all__ = ["DEFAULT_REFUSAL", "GUARDRAIL_NAME", "guardrail", "refusal_message"]

DEFAULT_REFUSAL = "Sorry, I can't help with that."
GUARDRAIL_NAME = "fingerpost_guardrail"
"""``name`` of the refusal ``AIMessage`` (and of the refusal runnable)."""


def refusal_message(
    choice: RouteChoice, message: str | None = None, router: SemanticRouter | None = None
) -> AIMessage:
    """The answer to a blocked turn.

    The text is ``message`` if given, else the route's ``metadata["message"]``, else
    :data:`DEFAULT_REFUSAL`. ``response_metadata["fingerpost"]`` records the route and score.
    """
    text = message
    if text is None and router is not None and choice.name is not None:
        route = router.get(choice.name)
        meta = route.metadata if route is not None else {}
        text = meta.get("message") if isinstance(meta.get("message"), str) else None
    return AIMessage(
        content=text or DEFAULT_REFUSAL,
        name=GUARDRAIL_NAME,
        response_metadata={
            "fingerpost": {"route": choice.name, "route_score": choice.similarity_score}
        },
    )


def as_router_runnable(
    router: SemanticRouter | SemanticRouterRunnable | Runnable[Any, RouteChoice],
) -> Runnable[Any, RouteChoice]:
    return SemanticRouterRunnable(router) if isinstance(router, SemanticRouter) else router


def semantic_router_of(router: Runnable[Any, RouteChoice]) -> SemanticRouter | None:
    inner = getattr(router, "default", router)
    return inner.router if isinstance(inner, SemanticRouterRunnable) else None


def guardrail(
    router: SemanticRouter | SemanticRouterRunnable | Runnable[Any, RouteChoice],
    blocked: Sequence[str],
    chain: Any,
    message: str | Runnable[Any, Any] | None = None,
) -> RouteBranch:
    """A runnable that answers turns of ``blocked`` routes itself and sends the rest to ``chain``.

    Args:
        router: The router (or a runnable returning a ``RouteChoice``).
        blocked: Route names whose turns never reach ``chain``.
        chain: Runnable (or anything LCEL coerces) for every other turn.
        message: Refusal text (answered as an ``AIMessage``; ``None``: the route's
            ``metadata["message"]`` or :data:`DEFAULT_REFUSAL`), or a runnable that answers
            blocked turns itself, e.g. to return a ``str`` when ``chain`` does.
    """
    if isinstance(blocked, str) or not blocked:
        raise InvalidInputError("blocked must be a non-empty list of route names")
    router_runnable = as_router_runnable(router)
    refusal = message if isinstance(message, Runnable) else _refusal(router_runnable, message)
    return RouteBranch(
        router=router_runnable, routes=dict.fromkeys(blocked, refusal), default=chain
    )


def _refusal(router: Runnable[Any, RouteChoice], message: str | None) -> Runnable[Any, AIMessage]:
    semantic = semantic_router_of(router)

    def refuse(_input: Any, config: RunnableConfig) -> AIMessage:
        meta = config.get("metadata", {})
        choice = RouteChoice(name=meta.get("route"), similarity_score=meta.get("route_score"))
        return refusal_message(choice, message, semantic)

    return RunnableLambda(refuse, name=GUARDRAIL_NAME)
