"""fingerpost: a local, zero-token semantic router for LLM agents."""

from __future__ import annotations

from ._exceptions import (
    DuplicateRouteError,
    EncoderError,
    EncoderMismatchError,
    FingerpostError,
    ForeignLayoutError,
    InvalidInputError,
    InvalidVectorError,
    LeaseHeldError,
    ModelNotFoundError,
    QueueFullError,
    RemoteUnavailableError,
    RouteNotFoundError,
    RouterClosedError,
    SemanticRouterConfigWarning,
    StoreError,
    SyncConflictError,
    SyncError,
)
from ._migrate import MigrationReport, migrate
from .router import SemanticRouter
from .schema import Aggregation, Route, RouteChoice, RouterConfig, Utterance, UtteranceDiff

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "DuplicateRouteError",
    "EncoderError",
    "EncoderMismatchError",
    "FingerpostError",
    "ForeignLayoutError",
    "InvalidInputError",
    "InvalidVectorError",
    "LeaseHeldError",
    "MigrationReport",
    "ModelNotFoundError",
    "QueueFullError",
    "RemoteUnavailableError",
    "Route",
    "RouteChoice",
    "RouteNotFoundError",
    "RouterClosedError",
    "RouterConfig",
    "SemanticRouter",
    "SemanticRouterConfigWarning",
    "StoreError",
    "SyncConflictError",
    "SyncError",
    "Utterance",
    "UtteranceDiff",
    "__version__",
    "migrate",
]
