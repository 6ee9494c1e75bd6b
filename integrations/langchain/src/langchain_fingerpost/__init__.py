"""langchain-fingerpost: fingerpost's local, zero-token semantic routing for LangChain.

``SemanticRouterRunnable`` (a router as a runnable returning a ``RouteChoice``),
``RouteBranch`` (dispatch to a runnable per route), ``guardrail`` (LCEL) and
``FingerpostGuardrailMiddleware`` (``create_agent``; needs ``langchain``, imported on first
use), and ``FingerpostEmbeddings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._branch import DEFAULT_TAG, ROUTER_TAG, RouteBranch, route_tag
from ._embeddings import FingerpostEmbeddings
from ._guardrail import DEFAULT_REFUSAL, GUARDRAIL_NAME, guardrail, refusal_message
from ._runnable import EXTRACT_TAG, SemanticRouterRunnable, ToolCallingUnsupportedError
from ._turns import Turn, parse_turn

if TYPE_CHECKING:
    from .middleware import FingerpostGuardrailMiddleware

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_REFUSAL",
    "DEFAULT_TAG",
    "EXTRACT_TAG",
    "GUARDRAIL_NAME",
    "ROUTER_TAG",
    "FingerpostEmbeddings",
    "FingerpostGuardrailMiddleware",
    "RouteBranch",
    "SemanticRouterRunnable",
    "ToolCallingUnsupportedError",
    "Turn",
    "__version__",
    "guardrail",
    "parse_turn",
    "refusal_message",
    "route_tag",
]


def __getattr__(name: str) -> Any:
    # The middleware needs `langchain` (not only langchain-core): import it on first use.
    if name == "FingerpostGuardrailMiddleware":
        from .middleware import FingerpostGuardrailMiddleware

        return FingerpostGuardrailMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
