"""How a router travels through ``dumpd``/``loads``: by config and encoder name, not by value.

A ``SemanticRouter`` holds a loaded model, an index and threads, none of which belong in a
JSON payload. Its :class:`~fingerpost.RouterConfig` (routes, scoring settings, thresholds,
fit) and its encoder's spec do, and rebuild an in-memory router that routes the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fingerpost import InvalidInputError, RouterConfig, SemanticRouter
from fingerpost.encoders import encoder_from_spec, encoder_spec

__all__ = ["LOAD_HINT", "as_semantic_router", "router_from_spec", "router_spec"]

LOAD_HINT = (
    "rebuild the runnable yourself: SemanticRouterRunnable(SemanticRouter.from_config("
    "RouterConfig.from_dict(data['kwargs']['router']['config']), encoder=<your encoder>))"
)


def router_spec(router: SemanticRouter) -> dict[str, Any]:
    """The JSON-able form of ``router``: its config and its encoder's spec.

    Not carried: the index (a remote or stored index comes back as an in-memory one) and
    runtime settings such as batching and encoder threads.
    """
    return {"config": router.to_config().to_dict(), "encoder": encoder_spec(router.encoder)}


def router_from_spec(spec: Mapping[str, Any]) -> SemanticRouter:
    """Rebuild the router :func:`router_spec` recorded.

    Raises:
        InvalidInputError: ``spec`` is not a router spec.
        EncoderMismatchError: Its encoder cannot be rebuilt by name.
    """
    config, encoder = spec.get("config"), spec.get("encoder")
    if not isinstance(config, Mapping) or not isinstance(encoder, Mapping):
        raise InvalidInputError(
            "router must be a fingerpost.SemanticRouter or a serialised one "
            "({'config': ..., 'encoder': ...})"
        )
    return SemanticRouter.from_config(
        RouterConfig.from_dict(dict(config)), encoder=encoder_from_spec(encoder, LOAD_HINT)
    )


def as_semantic_router(router: Any) -> Any:
    """``router`` itself, or the router rebuilt from its serialised form (``loads``)."""
    return router_from_spec(router) if isinstance(router, Mapping) else router
