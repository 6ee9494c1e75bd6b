"""A Qdrant-REST-compatible loopback server wrapping ONE embedded ``QdrantClient``.

The real ``QdrantClient(url=srv.url)`` / ``AsyncQdrantClient(url=srv.url)`` talk to it over
HTTP; request bodies are validated with ``qdrant_client.http.models`` (pydantic) and handed to
an embedded ``QdrantClient(":memory:")`` or ``QdrantClient(path=...)``, whose results are
serialised back in Qdrant's ``{"result": ..., "status": "ok", "time": ...}`` envelope.

In a test::

    with QdrantTestServer() as srv:                # or QdrantTestServer(path=tmp_path / "q")
        client = QdrantClient(url=srv.url, check_compatibility=False)
        ...
        client.close()

As a process (prints its URL on the first stdout line, stops on SIGTERM)::

    python -m tests.servers.qdrant_rest --port 0 [--path DIR]

All embedded-client calls run on one dedicated worker thread (the embedded client is not
thread-safe, and its SQLite storage is bound to the thread that opened it).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pydantic
from pydantic_core import to_jsonable_python
from qdrant_client import QdrantClient, models

from tests.servers._http import (
    HTTPError,
    LoopbackServer,
    Request,
    Response,
    base_arg_parser,
    json_response,
    run_main,
)

__all__ = ["QdrantTestServer", "main"]

T = TypeVar("T")

_QDRANT_CLIENT_VERSION = importlib.metadata.version("qdrant-client")
_COLLECTION_NOT_FOUND = re.compile(r"^Collection (.+) not found$")

_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    ad = _ADAPTERS.get(tp)
    if ad is None:
        ad = _ADAPTERS[tp] = pydantic.TypeAdapter(tp)
    return ad


def _parse(req: Request, tp: Any, *, default: Any = None) -> Any:
    """Validate the JSON body against ``tp`` (JSON mode, like the Rust server's serde)."""
    if not req.body.strip():
        if default is not None:
            return default
        raise HTTPError(
            400, "Format error in JSON body: EOF while parsing a value at line 1 column 0"
        )
    try:
        return _adapter(tp).validate_json(req.body)
    except pydantic.ValidationError as exc:
        raise HTTPError(400, f"Format error in JSON body: {exc}") from exc


def _bool_arg(req: Request, name: str, default: bool) -> bool:
    value = req.arg(name)
    if value is None or value == "":
        return default
    return value.lower() in ("1", "true", "yes")


def _selector(points: list[Any] | None, flt: models.Filter | None) -> Any:
    if points is not None:
        return models.PointIdsList(points=points)
    if flt is not None:
        return models.FilterSelector(filter=flt)
    raise HTTPError(400, "Bad request: either `points` or `filter` is required")


class QdrantTestServer(LoopbackServer):
    """Qdrant REST subset over an embedded client.  ``path=None`` keeps everything in memory.

    Reported server version: the installed qdrant-client version, so the client's
    compatibility check (``GET /``) passes and emits no warning.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        version: str | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__(host, port, latency=latency)
        self.path = None if path is None else str(path)
        self.api_key = api_key
        self.version = version or _QDRANT_CLIENT_VERSION
        self._op_lock = threading.Lock()
        self._op_id = 0
        self._executor: ThreadPoolExecutor | None = None
        self._client: QdrantClient | None = None
        self._register_routes()

    # -- embedded client ----------------------------------------------------------------------
    def start(self) -> QdrantTestServer:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"{self.thread_tag}:embedded"
            )
            try:
                self._client = self._executor.submit(self._open_client).result()
            except BaseException:
                self._executor.shutdown(wait=True)
                self._executor = None
                raise
        super().start()
        return self

    def _open_client(self) -> QdrantClient:
        if self.path is None:
            return QdrantClient(location=":memory:")
        return QdrantClient(path=self.path)

    def close_backend(self) -> None:
        executor, client = self._executor, self._client
        self._executor = None
        self._client = None
        if executor is None:
            return
        try:
            if client is not None:
                executor.submit(client.close).result()
        finally:
            executor.shutdown(wait=True)

    def call(self, fn: Callable[[QdrantClient], T]) -> T:
        """Run ``fn(embedded_client)`` on the embedded client's worker thread."""
        executor, client = self._executor, self._client
        if executor is None or client is None:
            raise HTTPError(503, "Service unavailable: server is shutting down")
        return executor.submit(fn, client).result()

    # -- envelope / errors --------------------------------------------------------------------
    def authorize(self, req: Request) -> Response | None:
        if self.api_key is None:
            return None
        if req.headers.get("api-key") == self.api_key:
            return None
        if req.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self.error_response(
            401, "Must provide an API key or an Authorization bearer token", req
        )

    def _ok(self, result: Any, started: float) -> Response:
        return json_response(
            {
                "result": to_jsonable_python(result, by_alias=True),
                "status": "ok",
                "time": time.perf_counter() - started,
            }
        )

    def error_response(self, status: int, message: str, req: Request) -> Response:
        return json_response({"status": {"error": message}, "time": 0.0}, status)

    def fault_response(self, status: int, kind: str, req: Request) -> Response:
        return self.error_response(status, f"Service internal error: injected fault ({kind})", req)

    def not_found(self, req: Request, method_mismatch: bool) -> Response:
        if method_mismatch:
            return Response(405, b"", "text/plain")
        return Response(404, b"", "text/plain")  # actix answers unknown paths with an empty 404

    def map_exception(self, exc: Exception, req: Request) -> Response:
        if isinstance(exc, ValueError):
            msg = str(exc)
            m = _COLLECTION_NOT_FOUND.match(msg)
            if m:
                return self.error_response(
                    404, f"Not found: Collection `{m.group(1)}` doesn't exist!", req
                )
            if "not found" in msg.lower():
                return self.error_response(404, f"Not found: {msg}", req)
            if "already exists" in msg.lower():
                return self.error_response(409, f"Wrong input: {msg}", req)
            return self.error_response(400, f"Bad request: {msg}", req)
        if isinstance(exc, pydantic.ValidationError):
            return self.error_response(400, f"Format error in JSON body: {exc}", req)
        return self.error_response(500, f"Service internal error: {type(exc).__name__}: {exc}", req)

    def _update_result(self, req: Request) -> models.UpdateResult:
        with self._op_lock:
            self._op_id += 1
            op = self._op_id
        wait = _bool_arg(req, "wait", False)
        status = models.UpdateStatus.COMPLETED if wait else models.UpdateStatus.ACKNOWLEDGED
        return models.UpdateResult(operation_id=op, status=status)

    # -- routes -------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/", self._root)
        r("GET", "/healthz", self._health)
        r("GET", "/livez", self._health)
        r("GET", "/readyz", self._health)
        r("GET", "/collections", self._list_collections)
        r("GET", "/collections/{c}/exists", self._collection_exists)
        r("GET", "/collections/{c}", self._get_collection)
        r("PUT", "/collections/{c}", self._create_collection, write="create_collection")
        r("PATCH", "/collections/{c}", self._update_collection, write="update_collection")
        r("DELETE", "/collections/{c}", self._delete_collection, write="delete_collection")
        r("PUT", "/collections/{c}/index", self._create_index, write="create_index")
        r("DELETE", "/collections/{c}/index/{field}", self._delete_index, write="delete_index")
        r("PUT", "/collections/{c}/points", self._upsert, write="upsert")
        r("POST", "/collections/{c}/points", self._retrieve)
        r("POST", "/collections/{c}/points/query", self._query)
        r("POST", "/collections/{c}/points/query/batch", self._query_batch)
        r("POST", "/collections/{c}/points/query/groups", self._query_groups)
        r("POST", "/collections/{c}/points/search", self._search)
        r("POST", "/collections/{c}/points/scroll", self._scroll)
        r("POST", "/collections/{c}/points/count", self._count)
        r("POST", "/collections/{c}/points/delete", self._delete_points, write="delete")
        r("POST", "/collections/{c}/points/payload", self._set_payload, write="set_payload")
        r(
            "PUT",
            "/collections/{c}/points/payload",
            self._overwrite_payload,
            write="overwrite_payload",
        )
        r(
            "POST",
            "/collections/{c}/points/payload/delete",
            self._delete_payload,
            write="delete_payload",
        )
        r(
            "POST",
            "/collections/{c}/points/payload/clear",
            self._clear_payload,
            write="clear_payload",
        )
        r("PUT", "/collections/{c}/points/vectors", self._update_vectors, write="update_vectors")
        r(
            "POST",
            "/collections/{c}/points/vectors/delete",
            self._delete_vectors,
            write="delete_vectors",
        )
        r("POST", "/collections/{c}/points/batch", self._batch, write="batch")
        # registered last: "{id}" would otherwise shadow the fixed sub-paths above
        r("GET", "/collections/{c}/points/{id}", self._get_point)

    def _root(self, req: Request) -> Response:
        return json_response(
            {"title": "qdrant - vector search engine", "version": self.version, "commit": None}
        )

    def _health(self, req: Request) -> Response:
        return Response(200, b"healthz check passed", "text/plain")

    def _list_collections(self, req: Request) -> Response:
        t = time.perf_counter()
        return self._ok(self.call(lambda c: c.get_collections()), t)

    def _collection_exists(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        return self._ok({"exists": self.call(lambda c: c.collection_exists(name))}, t)

    def _get_collection(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        return self._ok(self.call(lambda c: c.get_collection(name)), t)

    def _create_collection(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.CreateCollection = _parse(
            req, models.CreateCollection, default=models.CreateCollection()
        )

        def go(c: QdrantClient) -> bool:
            if c.collection_exists(name):
                raise ValueError(f"Collection `{name}` already exists!")
            return c.create_collection(
                name,
                vectors_config=body.vectors,
                sparse_vectors_config=body.sparse_vectors,
                metadata=body.metadata,
            )

        return self._ok(self.call(go), t)

    def _update_collection(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.UpdateCollection = _parse(
            req, models.UpdateCollection, default=models.UpdateCollection()
        )

        def go(c: QdrantClient) -> bool:
            c.get_collection(name)
            if body.sparse_vectors is None and body.metadata is None:
                return True  # tuning knobs (hnsw, optimizers, ...) mean nothing here
            return c.update_collection(
                name, sparse_vectors_config=body.sparse_vectors, metadata=body.metadata
            )

        return self._ok(self.call(go), t)

    def _delete_collection(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        return self._ok(self.call(lambda c: c.delete_collection(name)), t)

    def _create_index(self, req: Request) -> Response:
        # Acknowledged only: payload indexes have no effect on the embedded engine (and it
        # warns about them, which pytest's filterwarnings=error would turn into a 500).
        t = time.perf_counter()
        name = req.params["c"]
        _parse(req, models.CreateFieldIndex)
        self.call(lambda c: c.get_collection(name))
        return self._ok(self._update_result(req), t)

    def _delete_index(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        self.call(lambda c: c.get_collection(name))
        return self._ok(self._update_result(req), t)

    def _upsert(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        ops = _parse(req, models.PointInsertOperations)
        points = ops.points if isinstance(ops, models.PointsList) else ops.batch
        kwargs: dict[str, Any] = {}
        if ops.update_filter is not None:
            kwargs["update_filter"] = ops.update_filter
        if getattr(ops, "update_mode", None) is not None:
            kwargs["update_mode"] = ops.update_mode
        self.call(lambda c: c.upsert(name, points=points, **kwargs))
        return self._ok(self._update_result(req), t)

    def _retrieve(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.PointRequest = _parse(req, models.PointRequest)
        with_payload = True if body.with_payload is None else body.with_payload
        with_vector = False if body.with_vector is None else body.with_vector
        return self._ok(
            self.call(
                lambda c: c.retrieve(
                    name, ids=body.ids, with_payload=with_payload, with_vectors=with_vector
                )
            ),
            t,
        )

    def _get_point(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        raw = req.params["id"]
        pid: int | str = int(raw) if raw.isdigit() else raw
        records = self.call(
            lambda c: c.retrieve(name, ids=[pid], with_payload=True, with_vectors=True)
        )
        if not records:
            raise HTTPError(404, f"Not found: No point with id {raw} found")
        return self._ok(records[0], t)

    def _run_query(self, name: str, q: models.QueryRequest) -> Callable[[QdrantClient], Any]:
        def go(c: QdrantClient) -> Any:
            return c.query_points(
                name,
                query=q.query,
                using=q.using,
                prefetch=q.prefetch,
                query_filter=q.filter,
                # search_params are ignored: the embedded engine is brute force and warns
                limit=q.limit if q.limit is not None else 10,
                offset=q.offset,
                with_payload=False if q.with_payload is None else q.with_payload,
                with_vectors=False if q.with_vector is None else q.with_vector,
                score_threshold=q.score_threshold,
                lookup_from=q.lookup_from,
            )

        return go

    def _query(self, req: Request) -> Response:
        t = time.perf_counter()
        q: models.QueryRequest = _parse(req, models.QueryRequest)
        return self._ok(self.call(self._run_query(req.params["c"], q)), t)

    def _query_batch(self, req: Request) -> Response:
        t = time.perf_counter()
        body: models.QueryRequestBatch = _parse(req, models.QueryRequestBatch)
        name = req.params["c"]
        return self._ok([self.call(self._run_query(name, q)) for q in body.searches], t)

    def _query_groups(self, req: Request) -> Response:
        t = time.perf_counter()
        q: models.QueryGroupsRequest = _parse(req, models.QueryGroupsRequest)

        def go(c: QdrantClient) -> Any:
            return c.query_points_groups(
                req.params["c"],
                group_by=q.group_by,
                query=q.query,
                using=q.using,
                prefetch=q.prefetch,
                query_filter=q.filter,
                limit=q.limit if q.limit is not None else 10,
                group_size=q.group_size if q.group_size is not None else 3,
                with_payload=False if q.with_payload is None else q.with_payload,
                with_vectors=False if q.with_vector is None else q.with_vector,
                score_threshold=q.score_threshold,
                lookup_from=q.lookup_from,
            )

        return self._ok(self.call(go), t)

    def _search(self, req: Request) -> Response:
        """Legacy ``points/search`` (older clients): translated to a query."""
        t = time.perf_counter()
        raw = req.json({}) or {}
        if not isinstance(raw, dict) or "vector" not in raw:
            raise HTTPError(400, "Format error in JSON body: missing field `vector`")
        vec = raw["vector"]
        using = None
        if isinstance(vec, dict):  # NamedVector / NamedSparseVector
            using = vec.get("name")
            vec = vec.get("vector")
            if isinstance(vec, dict):
                vec = models.SparseVector.model_validate(vec)
        try:
            q = models.QueryRequest(
                query=vec,
                using=using,
                filter=models.Filter.model_validate(raw["filter"]) if raw.get("filter") else None,
                limit=raw.get("limit", 10),
                offset=raw.get("offset"),
                with_payload=raw.get("with_payload", False),
                with_vector=raw.get("with_vector", False),
                score_threshold=raw.get("score_threshold"),
            )
        except pydantic.ValidationError as exc:
            raise HTTPError(400, f"Format error in JSON body: {exc}") from exc
        res = self.call(self._run_query(req.params["c"], q))
        return self._ok(res.points, t)

    def _scroll(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.ScrollRequest = _parse(
            req, models.ScrollRequest, default=models.ScrollRequest()
        )

        def go(c: QdrantClient) -> Any:
            points, next_offset = c.scroll(
                name,
                scroll_filter=body.filter,
                limit=body.limit if body.limit is not None else 10,
                order_by=body.order_by,
                offset=body.offset,
                with_payload=True if body.with_payload is None else body.with_payload,
                with_vectors=False if body.with_vector is None else body.with_vector,
            )
            return models.ScrollResult(points=points, next_page_offset=next_offset)

        return self._ok(self.call(go), t)

    def _count(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.CountRequest = _parse(req, models.CountRequest, default=models.CountRequest())
        return self._ok(self.call(lambda c: c.count(name, count_filter=body.filter, exact=True)), t)

    def _delete_points(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        selector = _parse(req, models.PointsSelector)
        self.call(lambda c: c.delete(name, points_selector=selector))
        return self._ok(self._update_result(req), t)

    def _set_payload(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.SetPayload = _parse(req, models.SetPayload)
        sel = _selector(body.points, body.filter)
        self.call(lambda c: c.set_payload(name, payload=body.payload, points=sel, key=body.key))
        return self._ok(self._update_result(req), t)

    def _overwrite_payload(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.SetPayload = _parse(req, models.SetPayload)
        sel = _selector(body.points, body.filter)
        self.call(lambda c: c.overwrite_payload(name, payload=body.payload, points=sel))
        return self._ok(self._update_result(req), t)

    def _delete_payload(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.DeletePayload = _parse(req, models.DeletePayload)
        sel = _selector(body.points, body.filter)
        self.call(lambda c: c.delete_payload(name, keys=body.keys, points=sel))
        return self._ok(self._update_result(req), t)

    def _clear_payload(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        selector = _parse(req, models.PointsSelector)
        self.call(lambda c: c.clear_payload(name, points_selector=selector))
        return self._ok(self._update_result(req), t)

    def _update_vectors(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.UpdateVectors = _parse(req, models.UpdateVectors)
        kwargs: dict[str, Any] = {}
        if body.update_filter is not None:
            kwargs["update_filter"] = body.update_filter
        self.call(lambda c: c.update_vectors(name, points=body.points, **kwargs))
        return self._ok(self._update_result(req), t)

    def _delete_vectors(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.DeleteVectors = _parse(req, models.DeleteVectors)
        sel = _selector(body.points, body.filter)
        self.call(lambda c: c.delete_vectors(name, vectors=body.vector, points=sel))
        return self._ok(self._update_result(req), t)

    def _batch(self, req: Request) -> Response:
        t = time.perf_counter()
        name = req.params["c"]
        body: models.UpdateOperations = _parse(req, models.UpdateOperations)
        self.call(lambda c: c.batch_update_points(name, update_operations=body.operations))
        return self._ok([self._update_result(req) for _ in body.operations], t)


def main(argv: list[str] | None = None) -> int:
    p = base_arg_parser("Qdrant-REST-compatible loopback server over an embedded qdrant-client")
    p.add_argument("--path", default=None, help="embedded storage directory (default: in memory)")
    p.add_argument("--api-key", default=None, help="require this api-key header (default: none)")
    args = p.parse_args(argv)
    server = QdrantTestServer(
        args.path, host=args.host, port=args.port, latency=args.latency, api_key=args.api_key
    )
    return run_main(server, args)


if __name__ == "__main__":
    sys.exit(main())
