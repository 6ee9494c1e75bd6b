"""The hot path (``POST /v1/route`` and ``/v1/route/batch``) as plain ASGI.

Measured under 64 concurrent clients, FastAPI's per-request machinery (routing, dependency
solving, request objects, exception middleware) cost more CPU than the turn's own scoring,
and on a small machine that CPU comes out of the encoder's share. These two endpoints are
therefore answered here, before FastAPI: the same request models validate the body (one
``model_validate_json``), the router's async API does the work, pydantic serialises the
answer once, and errors have the service's one shape. The FastAPI endpoints of the same paths
stay: they describe these operations in the OpenAPI schema (and answer if this layer is
removed); tests run against this layer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .._exceptions import FingerpostError, InvalidInputError, QueueFullError
from ..metrics import RouterMetrics
from ..router import SemanticRouter
from ._errors import PayloadTooLargeError, error_body, status_of
from ._models import BatchResult, route_result

__all__ = ["ENDPOINT_KEY", "RouteFastPath"]

ENDPOINT_KEY = "fingerpost.endpoint"
"""Scope key naming the endpoint a request was answered by (for the HTTP metrics)."""

_JSON = [(b"content-type", b"application/json")]


class RouteFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        router: SemanticRouter,
        metrics: RouterMetrics,
        route_model: type[BaseModel],
        batch_model: type[BaseModel],
    ) -> None:
        self.app, self.router, self.metrics = app, router, metrics
        self._handlers: dict[str, Callable[[bytes], Awaitable[bytes]]] = {
            "/v1/route": self._route,
            "/v1/route/batch": self._batch,
        }
        self._route_model, self._batch_model = route_model, batch_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope[ENDPOINT_KEY] = scope["path"]
        try:
            body = await _read_body(receive)
            status, payload, headers = 200, await handler(body), _JSON
        except ValidationError as exc:
            status, payload, headers = 422, _validation_error(exc), _JSON
        except HTTPException as exc:  # the body limit, raised while reading
            cls = PayloadTooLargeError if exc.status_code == 413 else InvalidInputError
            status, payload, headers = (
                exc.status_code,
                _encode(error_body(cls.__name__, str(exc.detail), exc.status_code)),
                _JSON,
            )
        except FingerpostError as exc:
            status = status_of(exc)
            payload = _encode(error_body(type(exc).__name__, str(exc), status))
            headers = [*_JSON, (b"retry-after", b"1")] if isinstance(exc, QueueFullError) else _JSON
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _route(self, body: bytes) -> bytes:
        req: Any = self._route_model.model_validate_json(body)
        start = time.perf_counter()
        result = await self.router.acall(req.text, limit=req.limit, route_filter=req.route_filter)
        self.metrics.observe_latency("total", time.perf_counter() - start)
        return route_result(result).model_dump_json().encode()

    async def _batch(self, body: bytes) -> bytes:
        req: Any = self._batch_model.model_validate_json(body)
        start = time.perf_counter()
        results = await self.router.abatch(
            req.texts, limit=req.limit, route_filter=req.route_filter
        )
        self.metrics.observe_latency("total", time.perf_counter() - start)
        return BatchResult(results=[route_result(r) for r in results]).model_dump_json().encode()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _validation_error(exc: ValidationError) -> bytes:
    """The shape FastAPI's handler gives (``loc`` starts with ``body``)."""
    errors = [
        {
            "loc": ["body", *(str(p) for p in e.get("loc", ()))],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors(include_url=False)
    ]
    first = errors[0] if errors else {"loc": ["body"], "msg": "invalid request"}
    message = f"{'.'.join(first['loc'])}: {first['msg']}"
    return _encode(error_body(InvalidInputError.__name__, message, 422, errors))


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
