"""One exception tree for everything fingerpost raises on purpose.

```
FingerpostError
├── InvalidInputError (also ValueError)   bad text, bad route, bad config, bad arguments
│   ├── DuplicateRouteError               a route name that already exists
│   └── InvalidVectorError                NaN/inf or wrong-shaped vectors from an encoder
├── RouteNotFoundError (also KeyError)    a name that is not a route
├── EncoderError                          the encoder failed or cannot be loaded
│   ├── ModelNotFoundError                model/tokenizer files missing or corrupt
│   └── EncoderMismatchError              vectors/store/config from another encoder
├── StoreError                            the durable store failed; memory was left unchanged
├── RouterClosedError                     a call on a closed router or batcher
├── EventLoopError (also RuntimeError)    async use from a second, still running event loop
├── QueueFullError                        the micro-batcher's bounded queue is full
└── SyncError                             anything on the sync path
    ├── SyncConflictError                 sync_mode="error" and the sides differ, or the
    │                                     remote moved under a write computed from it
    ├── LeaseHeldError                    another agent holds the sync lease
    ├── RemoteUnavailableError            the remote index failed or cannot be reached
    └── ForeignLayoutError                the remote holds another tool's records (e.g.
                                          semantic-router's), or a read-only layout was written
```

Backend exceptions are translated where they are caught, always with ``raise ... from exc``.
Warnings: ``SemanticRouterConfigWarning`` (a ``UserWarning``) names what a semantic-router
config file held that fingerpost ignores.
"""

from __future__ import annotations

__all__ = [
    "DuplicateRouteError",
    "EncoderError",
    "EncoderMismatchError",
    "EventLoopError",
    "FingerpostError",
    "ForeignLayoutError",
    "InvalidInputError",
    "InvalidVectorError",
    "LeaseHeldError",
    "ModelNotFoundError",
    "QueueFullError",
    "RemoteUnavailableError",
    "RouteNotFoundError",
    "RouterClosedError",
    "SemanticRouterConfigWarning",
    "StoreError",
    "SyncConflictError",
    "SyncError",
]


class FingerpostError(Exception):
    """Root of every error fingerpost raises on purpose."""


class InvalidInputError(FingerpostError, ValueError):
    """The caller passed something fingerpost cannot use; nothing was changed."""


class DuplicateRouteError(InvalidInputError):
    """A route with this name already exists."""


class InvalidVectorError(InvalidInputError):
    """An encoder returned vectors of the wrong shape, or NaN/inf values."""


class RouteNotFoundError(FingerpostError, KeyError):
    """No route has this name."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "route not found"


class EncoderError(FingerpostError):
    """The encoder failed or cannot be loaded."""


class ModelNotFoundError(EncoderError):
    """The model or tokenizer files are missing or do not match their checksum."""


class EncoderMismatchError(EncoderError):
    """Vectors, a store or a config were made by another encoder (name or dimension)."""


class StoreError(FingerpostError):
    """The durable store failed; the in-memory router was left as it was."""


class RouterClosedError(FingerpostError):
    """The router or its batcher is closed."""


class EventLoopError(FingerpostError, RuntimeError):
    """An async call came from an event loop other than the one the router's micro-batcher
    runs on, while that loop still runs.

    The batcher's queue and futures belong to one loop; answering another loop's caller from
    it would hang or corrupt both. Once the first loop has ended (``asyncio.run`` returned),
    the next call rebinds the batcher to the new loop on its own.
    """


class QueueFullError(FingerpostError):
    """The micro-batcher's bounded queue is full (back-pressure)."""


class SyncError(FingerpostError):
    """Something on the sync path failed."""


class SyncConflictError(SyncError):
    """``sync_mode="error"`` and local and remote differ, or another agent wrote to the remote
    while a write computed from it (a fit's thresholds) was under way."""


class LeaseHeldError(SyncError):
    """Another agent holds the remote's sync lease."""


class RemoteUnavailableError(SyncError):
    """The remote index failed or could not be reached (after retries)."""


class ForeignLayoutError(SyncError):
    """The remote collection or index holds records fingerpost did not write.

    Reading it as fingerpost's would show it empty, and a ``sync("local")`` would then
    overwrite another team's routes, so opening it stops here instead. ``layout`` names what
    was found (``"semantic-router"`` or ``"unknown"``); the message says the way forward
    (``layout="semantic-router"`` to read it, ``fingerpost.migrate`` to copy it).
    """

    def __init__(self, message: str, layout: str = "unknown") -> None:
        super().__init__(message)
        self.layout = layout


class SemanticRouterConfigWarning(UserWarning):
    """A semantic-router config was loaded; its encoder type and ``llm`` fields (and any other
    key without a meaning here) were ignored, all named in one warning."""
