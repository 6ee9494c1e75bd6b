"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema).

Request models are built per app from its :class:`ServerLimits`, so the schema states the
limits it enforces (``maxLength``, ``maxItems``): a text or batch over them is a 422.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Route, RouteChoice
from ..sync._plan import SyncMode

__all__ = ["Api", "ServerLimits", "api_models", "route_result"]


@dataclass(frozen=True)
class ServerLimits:
    """What one request may carry; more is refused with 413 (body) or 422 (fields).

    Attributes:
        max_text_chars: Characters per turn or utterance.
        max_batch: Turns per ``/v1/route/batch`` request.
        max_body_bytes: Bytes per request body.
        max_utterances: Utterances per route in a write.
        max_filter: Route names in a ``route_filter``.
    """

    max_text_chars: int = 4096
    max_batch: int = 256
    max_body_bytes: int = 1 << 20
    max_utterances: int = 10_000
    max_filter: int = 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteResult(BaseModel):
    """Passing routes of one turn, best first; empty when the turn routes nowhere."""

    choices: list[RouteChoice]


def route_result(result: RouteChoice | list[RouteChoice]) -> RouteResult:
    """The router's answer for one turn (a choice, or a list with ``limit``) as a result."""
    if isinstance(result, RouteChoice):
        return RouteResult(choices=[] if result.name is None else [result])
    return RouteResult(choices=result)


class BatchResult(BaseModel):
    results: list[RouteResult]


class RouteList(BaseModel):
    routes: list[Route]


class DiffResult(BaseModel):
    """``+ route: utterance``: only on the remote; ``- route: utterance``: only here."""

    lines: list[str]
    synced: bool


class SyncResult(BaseModel):
    mode: str
    resolved: list[str]
    """The differences the sync resolved, as diff lines."""


class Status(BaseModel):
    status: str
    routes: int | None = None


@dataclass(frozen=True)
class Api:
    """The request models of one app."""

    RouteRequest: type[BaseModel]
    BatchRequest: type[BaseModel]
    RouteIn: type[BaseModel]
    RoutePatch: type[BaseModel]
    SyncRequest: type[BaseModel]


def api_models(limits: ServerLimits) -> Api:
    """Request models that carry ``limits`` in their schema."""
    Text = Annotated[str, Field(min_length=1, max_length=limits.max_text_chars)]
    Name = Annotated[str, Field(min_length=1, max_length=limits.max_text_chars)]
    Filter = Annotated[list[Name] | None, Field(max_length=limits.max_filter)]
    Limit = Annotated[int | None, Field(ge=1, le=1_000_000)]
    Utterances = Annotated[list[Text], Field(min_length=1, max_length=limits.max_utterances)]

    class RouteRequest(_Body):
        """One turn. ``limit``: most passing routes returned (``null``: all)."""

        text: Text
        limit: Limit = 1
        route_filter: Filter = None

    class BatchRequest(_Body):
        """Turns routed together, answered in order."""

        texts: Annotated[list[Text], Field(min_length=1, max_length=limits.max_batch)]
        limit: Limit = 1
        route_filter: Filter = None

    class RouteIn(_Body):
        """A new route (fields as in ``fingerpost.Route``)."""

        name: Name
        utterances: Utterances
        description: str | None = None
        function_schemas: list[dict[str, Any]] | None = None
        score_threshold: Annotated[float | None, Field(ge=-1.0, le=1.0)] = None
        metadata: dict[str, Any] = Field(default_factory=dict)
        target_fpr: Annotated[float | None, Field(gt=0.0, le=0.5)] = None

    class RoutePatch(_Body):
        """Fields to change; fields left out keep their value (``null`` clears one)."""

        utterances: Utterances | None = None
        description: str | None = None
        function_schemas: list[dict[str, Any]] | None = None
        score_threshold: Annotated[float | None, Field(ge=-1.0, le=1.0)] = None
        metadata: dict[str, Any] | None = None
        target_fpr: Annotated[float | None, Field(gt=0.0, le=0.5)] = None

    class SyncRequest(_Body):
        mode: SyncMode = "merge"

    return Api(RouteRequest, BatchRequest, RouteIn, RoutePatch, SyncRequest)
