"""semantic-router 0.1.x config files (its ``to_json``/``to_yaml``) as fingerpost configs (pure).

Its files look like ``{"encoder_type": "openai", "encoder_name": "...", "routes": [{"name",
"utterances", "description", "function_schemas", "llm", "score_threshold", "metadata"}]}``.
Routes map one to one. Nothing else in the file has a meaning here: the encoder is an object
the caller supplies (its type and name only say which one semantic-router used), and
fingerpost never calls an LLM (``llm``). Those are named in one
:class:`~fingerpost.SemanticRouterConfigWarning`, never dropped in silence.

Scoring: the config takes semantic-router's own (``aggregation="mean"`` over ``top_k=5``, no
centroid blend), so thresholds written for it keep their meaning as far as fingerpost can
match it; see docs/semantic-router.md for the remaining differences.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from ._exceptions import InvalidInputError, SemanticRouterConfigWarning

__all__ = ["is_semantic_router_config", "map_semantic_router_config"]

_ROUTE_KEYS = (
    "name",
    "utterances",
    "description",
    "function_schemas",
    "score_threshold",
    "metadata",
)
_SR_SCORING: dict[str, Any] = {"aggregation": "mean", "top_k": 5, "centroid_weight": 0.0}


def is_semantic_router_config(data: object) -> bool:
    """semantic-router's shape: ``encoder_type`` at the top, or ``llm`` on a route."""
    if not isinstance(data, Mapping):
        return False
    if "encoder_type" in data:
        return True
    routes = data.get("routes")
    return isinstance(routes, list) and any(isinstance(r, Mapping) and "llm" in r for r in routes)


def map_semantic_router_config(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """fingerpost ``RouterConfig`` fields, and what was ignored (one phrase per item)."""
    routes = data.get("routes") or []
    if not isinstance(routes, list):
        raise InvalidInputError("semantic-router config: 'routes' must be a list")
    ignored: list[str] = []
    if "encoder_type" in data or "encoder_name" in data:
        ignored.append(
            f"its encoder (encoder_type={data.get('encoder_type')!r}, "
            f"encoder_name={data.get('encoder_name')!r}): pass encoder= yourself"
        )
    extra = sorted(set(data) - {"encoder_type", "encoder_name", "routes"})
    if extra:
        ignored.append(f"top-level keys {extra}")
    out_routes = []
    llms: list[str] = []
    for i, r in enumerate(routes):
        if not isinstance(r, Mapping):
            raise InvalidInputError(f"semantic-router config: route {i} is not a mapping")
        route = {k: r[k] for k in _ROUTE_KEYS if r.get(k) is not None}
        if "llm" in r:
            llms.append(str(r.get("name")))
        unknown = sorted(set(r) - set(_ROUTE_KEYS) - {"llm"})
        if unknown:
            ignored.append(f"route {r.get('name')!r} keys {unknown}")
        out_routes.append(route)
    if llms:
        ignored.append(f"llm of routes {llms} (fingerpost never calls an LLM)")
    return {"routes": out_routes, **_SR_SCORING}, ignored


def warn_ignored(ignored: list[str], stacklevel: int = 3) -> None:
    """One warning naming everything the mapping ignored."""
    if ignored:
        warnings.warn(
            "semantic-router config loaded; ignored: " + "; ".join(ignored),
            SemanticRouterConfigWarning,
            stacklevel=stacklevel,
        )
