"""The HTTP service: ``fingerpost serve`` or ``create_app(router)`` under any ASGI server.

Needs the ``server`` extra: ``pip install 'fingerpost[server]'`` (FastAPI and uvicorn).
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError(
        "the HTTP service needs FastAPI and uvicorn: pip install 'fingerpost[server]'"
    ) from exc

from ._app import create_app, read_token
from ._errors import (
    EndpointNotFoundError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from ._models import ServerLimits

__all__ = [
    "EndpointNotFoundError",
    "MethodNotAllowedError",
    "PayloadTooLargeError",
    "ServerLimits",
    "UnauthorizedError",
    "create_app",
    "read_token",
]
