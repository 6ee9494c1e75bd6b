"""The FastAPI app over one router.

Routing endpoints are ``async`` and go through ``router.acall``/``router.abatch``, so
concurrent requests share the router's micro-batcher: many clients, few encoder calls.
Writes, diffs and syncs block (encoding, remote I/O), so they run as plain ``def`` endpoints
on the threadpool, one write at a time.

No ``from __future__ import annotations`` here, on purpose: FastAPI reads endpoint
annotations at runtime, and the request models are built per app (they carry its limits), so
string annotations naming them could not be resolved.
"""

import hmac
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from .. import __version__
from .._exceptions import FingerpostError, InvalidInputError, QueueFullError, RouteNotFoundError
from ..metrics import CONTENT_TYPE, RouterMetrics
from ..router import SemanticRouter
from ..schema import Route, ThresholdReport
from ._errors import (
    EndpointNotFoundError,
    ErrorBody,
    MethodNotAllowedError,
    PayloadTooLargeError,
    UnauthorizedError,
    error_body,
    status_of,
)
from ._fastpath import RouteFastPath
from ._middleware import ServiceMiddleware
from ._models import (
    BatchResult,
    DiffResult,
    RouteList,
    RouteResult,
    ServerLimits,
    Status,
    SyncResult,
    api_models,
    route_result,
)

__all__ = ["create_app", "read_token"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "a mutating request without the bearer token"),
        (404, "no such route"),
        (409, "conflict (duplicate route, sync conflict, lease held)"),
        (413, "request body too large"),
        (422, "invalid input (text, limit, filter, route fields)"),
        (503, "busy (queue full) or a remote unavailable"),
    )
}
_HTTP_ERRORS: dict[int, type[FingerpostError]] = {
    401: UnauthorizedError,
    404: EndpointNotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
}


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace ignored); refuses an empty one."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInputError(f"cannot read token file {path}: {exc.strerror or exc}") from exc
    if not token:
        raise InvalidInputError(f"token file {path} is empty")
    return token


def _json(model: RouteResult | BatchResult) -> Response:
    """The hot path's answer, serialised once by pydantic; FastAPI would validate the
    response model again and then serialise it (``response_model`` still documents it)."""
    return Response(model.model_dump_json(), media_type="application/json")


def create_app(
    router: SemanticRouter,
    *,
    token: str | None = None,
    limits: ServerLimits | None = None,
    metrics: RouterMetrics | None = None,
    close_router: bool = False,
) -> FastAPI:
    """An HTTP service for ``router``.

    Args:
        router: The router to serve; its micro-batcher starts and stops with the app.
        token: Bearer token required by mutating endpoints (``None``: no auth).
        limits: Request limits (:class:`ServerLimits`).
        metrics: Where to record metrics; new ones (own registry) by default. The router is
            instrumented with them.
        close_router: Close the router when the app shuts down (the CLI's ``serve``).
    """
    limits = limits or ServerLimits()
    metrics = metrics if metrics is not None else RouterMetrics()
    metrics.instrument(router)
    api = api_models(limits)
    # Request models of this app (they carry its limits); names FastAPI reads at runtime.
    RouteRequest: Any = api.RouteRequest
    BatchRequest: Any = api.BatchRequest
    RouteIn: Any = api.RouteIn
    RoutePatch: Any = api.RoutePatch
    SyncRequest: Any = api.SyncRequest
    expected = None if token is None else token.encode()
    write_lock = threading.Lock()
    bearer = HTTPBearer(
        auto_error=False,
        description="Required by mutating endpoints when the service runs with --token-file",
    )

    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await router.start()
        ready.set()
        try:
            yield
        finally:
            ready.clear()
            await router.aclose()
            if close_router:
                router.close()

    app = FastAPI(
        title="fingerpost",
        version=__version__,
        lifespan=lifespan,
        responses=_ERRORS,
        description="A local, zero-token semantic router: route turns, manage routes, sync.",
    )
    # Inner first: the hot path answers inside the limits-and-metrics layer.
    app.add_middleware(
        RouteFastPath,
        router=router,
        metrics=metrics,
        route_model=RouteRequest,
        batch_model=BatchRequest,
    )
    app.add_middleware(ServiceMiddleware, max_body_bytes=limits.max_body_bytes, metrics=metrics)

    def authorize(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if expected is None:
            return
        given = b"" if creds is None else creds.credentials.encode()
        if (
            creds is None
            or creds.scheme.lower() != "bearer"
            or not hmac.compare_digest(given, expected)
        ):
            raise UnauthorizedError("a valid bearer token is required")

    Mutating = [Depends(authorize)]

    # ---- errors: one shape -------------------------------------------------------------------
    @app.exception_handler(FingerpostError)
    async def _fingerpost_error(_: Request, exc: FingerpostError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "1"} if isinstance(exc, QueueFullError) else None
        if isinstance(exc, UnauthorizedError):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(
            error_body(type(exc).__name__, str(exc), status), status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        return JSONResponse(error_body(InvalidInputError.__name__, message, 422, errors), 422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        cls = _HTTP_ERRORS.get(
            exc.status_code, InvalidInputError if exc.status_code < 500 else FingerpostError
        )
        return JSONResponse(
            error_body(cls.__name__, str(exc.detail), exc.status_code),
            exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # Starlette's last resort (it still logs the traceback); the shape stays the same.
        return JSONResponse(
            error_body(FingerpostError.__name__, f"internal error: {type(exc).__name__}", 500), 500
        )

    # ---- routing -----------------------------------------------------------------------------
    @app.post("/v1/route", response_model=RouteResult, tags=["routing"])
    async def route(req: Annotated[RouteRequest, Body()]) -> Response:
        """Route one turn: the passing routes, best first (empty: route nowhere)."""
        start = time.perf_counter()
        result = await router.acall(req.text, limit=req.limit, route_filter=req.route_filter)
        metrics.observe_latency("total", time.perf_counter() - start)
        return _json(route_result(result))

    @app.post("/v1/route/batch", response_model=BatchResult, tags=["routing"])
    async def route_batch(req: Annotated[BatchRequest, Body()]) -> Response:
        """Route several turns; results in the same order."""
        start = time.perf_counter()
        results = await router.abatch(req.texts, limit=req.limit, route_filter=req.route_filter)
        metrics.observe_latency("total", time.perf_counter() - start)
        return _json(BatchResult(results=[route_result(r) for r in results]))

    # ---- routes ------------------------------------------------------------------------------
    @app.get("/v1/routes", response_model=RouteList, tags=["routes"])
    async def list_routes() -> RouteList:
        return RouteList(routes=router.routes)

    @app.post(
        "/v1/routes", response_model=Route, status_code=201, dependencies=Mutating, tags=["routes"]
    )
    def add_route(body: Annotated[RouteIn, Body()]) -> Route:
        """Add a route (409 if the name exists)."""
        new = Route(**body.model_dump())
        with write_lock:
            router.add(new)
        return router.get(new.name) or new

    @app.get("/v1/thresholds", response_model=ThresholdReport, tags=["routes"])
    async def thresholds() -> ThresholdReport:
        """Each route's effective threshold, its kind (own, calibrated, router), and the
        calibration behind them (``SemanticRouter.threshold_report()``)."""
        return router.threshold_report()

    @app.get("/v1/routes/{name:path}", response_model=Route, tags=["routes"])
    async def get_route(name: str) -> Route:
        found = router.get(name)
        if found is None:
            raise RouteNotFoundError(f"no route named {name!r}")
        return found

    @app.patch(
        "/v1/routes/{name:path}", response_model=Route, dependencies=Mutating, tags=["routes"]
    )
    def patch_route(name: str, body: Annotated[RoutePatch, Body()]) -> Route:
        """Change the given fields of a route; only new utterances are encoded."""
        changes = {k: getattr(body, k) for k in body.model_fields_set}
        if changes.get("utterances", 0) is None:
            raise InvalidInputError("utterances cannot be null: a route needs at least one")
        if changes.get("metadata", 0) is None:
            changes["metadata"] = {}
        with write_lock:
            return router.update(name, **changes)

    @app.delete(
        "/v1/routes/{name:path}",
        status_code=204,
        dependencies=Mutating,
        tags=["routes"],
        response_class=Response,
    )
    def delete_route(name: str) -> Response:
        with write_lock:
            router.delete(name)
        return Response(status_code=204)

    # ---- sync --------------------------------------------------------------------------------
    @app.get("/v1/diff", response_model=DiffResult, tags=["sync"])
    def diff() -> DiffResult:
        """How local routes differ from the remote index (always synced without one)."""
        lines = router.get_utterance_diff()
        return DiffResult(lines=lines, synced=not lines)

    @app.post("/v1/sync", response_model=SyncResult, dependencies=Mutating, tags=["sync"])
    def sync(body: Annotated[SyncRequest, Body()]) -> SyncResult:
        """Make local routes and the remote index equal; ``mode`` says which side wins."""
        with write_lock, metrics.track_sync(body.mode):
            resolved = router.sync(body.mode)
        return SyncResult(mode=body.mode, resolved=resolved)

    # ---- operations --------------------------------------------------------------------------
    @app.get("/healthz", response_model=Status, tags=["operations"])
    async def healthz() -> Status:
        """The process answers."""
        return Status(status="ok")

    @app.get(
        "/readyz",
        response_model=Status,
        tags=["operations"],
        responses={503: {"model": Status, "description": "not ready"}},
    )
    async def readyz() -> Any:
        """Ready to route: the micro-batcher runs."""
        n = len(router.routes)
        if not ready.is_set():
            return JSONResponse(Status(status="starting", routes=n).model_dump(), 503)
        return Status(status="ready", routes=n)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    async def prometheus() -> Response:
        """Prometheus metrics (text format)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    app.state.router = router
    app.state.metrics = metrics
    return app
