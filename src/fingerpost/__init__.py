"""fingerpost: a local, zero-token semantic router for LLM agents."""

from __future__ import annotations

from ._exceptions import (
    DuplicateRouteError,
    EncoderError,
    EncoderMismatchError,
    EventLoopError,
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
from .engine._threads import limit_blas_threads
from .quality import FitReport
from .router import SemanticRouter
from .schema import (
    Aggregation,
    Route,
    RouteChoice,
    RouterConfig,
    ThresholdReport,
    Utterance,
    UtteranceDiff,
)
from .sync._plan import SyncMode

# The one place the version is written: pyproject.toml reads it from here (hatch).
__version__ = "0.2.0"

__all__ = [
    "Aggregation",
    "DuplicateRouteError",
    "EncoderError",
    "EncoderMismatchError",
    "EventLoopError",
    "FingerpostError",
    "FitReport",
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
    "SyncMode",
    "ThresholdReport",
    "Utterance",
    "UtteranceDiff",
    "__version__",
    "limit_blas_threads",
    "migrate",
]
