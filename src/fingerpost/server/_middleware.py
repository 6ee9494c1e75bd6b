"""One pure ASGI middleware: body size limit and per-endpoint HTTP metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) because it sits on the hot path of every turn. A body
announced over the limit is refused before it is read; a body that grows past the limit
while streaming fails the read with a 413 that the app's error handler renders.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import RouterMetrics
from ._errors import error_body
from ._fastpath import ENDPOINT_KEY

__all__ = ["ServiceMiddleware"]


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: RouterMetrics) -> None:
        self.app, self.max_body_bytes, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        limit = self.max_body_bytes

        async def send_tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _send_too_large(send_tracked, limit)
                return
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise HTTPException(413, f"request body over {limit} bytes")
                return message

            await self.app(scope, receive_limited, send_tracked)
        finally:
            route = scope.get("route")
            endpoint = scope.get(ENDPOINT_KEY) or getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(scope["method"], endpoint, str(status)).inc()
            self.metrics.http_latency.labels(endpoint).observe(time.perf_counter() - start)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, limit: int) -> None:
    body: Any = error_body("PayloadTooLargeError", f"request body over {limit} bytes", 413)
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
