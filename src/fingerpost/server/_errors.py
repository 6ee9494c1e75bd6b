"""One JSON error shape for every failure, carrying the ``FingerpostError`` class name.

    {"error": {"type": "RouteNotFoundError", "message": "no route named 'x'", "status": 404}}

Library errors map to statuses by class; request-level failures of the service (auth, size,
unknown endpoint) get their own ``FingerpostError`` subclasses so the shape never changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .._exceptions import (
    DuplicateRouteError,
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    LeaseHeldError,
    QueueFullError,
    RemoteUnavailableError,
    RouteNotFoundError,
    RouterClosedError,
    StoreError,
    SyncConflictError,
    SyncError,
)

__all__ = [
    "EndpointNotFoundError",
    "ErrorBody",
    "ErrorInfo",
    "MethodNotAllowedError",
    "PayloadTooLargeError",
    "UnauthorizedError",
    "error_body",
    "status_of",
]


class UnauthorizedError(FingerpostError):
    """A mutating request without the configured bearer token."""


class PayloadTooLargeError(InvalidInputError):
    """A request body over the service's limit."""


class EndpointNotFoundError(FingerpostError):
    """No endpoint at this path."""


class MethodNotAllowedError(FingerpostError):
    """The endpoint exists, the method does not."""


# Most specific first: the first class an error is an instance of decides its status.
_STATUS: tuple[tuple[type[FingerpostError], int], ...] = (
    (UnauthorizedError, 401),
    (PayloadTooLargeError, 413),
    (EndpointNotFoundError, 404),
    (MethodNotAllowedError, 405),
    (DuplicateRouteError, 409),
    (InvalidInputError, 422),
    (RouteNotFoundError, 404),
    (EncoderMismatchError, 409),
    (QueueFullError, 503),
    (RouterClosedError, 503),
    (StoreError, 503),
    (SyncConflictError, 409),
    (LeaseHeldError, 409),
    (RemoteUnavailableError, 503),
    (SyncError, 502),
)


def status_of(exc: FingerpostError) -> int:
    """The HTTP status of a fingerpost error (500 for anything unlisted)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


class ErrorInfo(BaseModel):
    type: str
    """The ``FingerpostError`` subclass name, e.g. ``RouteNotFoundError``."""
    message: str
    status: int
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorInfo


def error_body(
    type_name: str, message: str, status: int, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"type": type_name, "message": message, "status": status, "details": details}}
