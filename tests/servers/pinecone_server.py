"""A Pinecone-compatible loopback server: control plane and data plane in one process.

State is in memory: indexes -> namespaces -> vectors (id, dense values, optional sparse
values, metadata).  The control plane is served at the root (``/indexes``...); each index's
data plane is served under ``/data/<index-name>`` (what ``describe`` reports as ``host``).
Data-plane paths at the root (``/vectors/upsert``...) address the only index when exactly
one exists.

In a test::

    with PineconeTestServer() as srv:
        pc = Pinecone(api_key="test", host=srv.url)          # scheme included: http://
        pc.create_index(name="idx", dimension=4, metric="cosine",
                        spec=ServerlessSpec(cloud="aws", region="us-east-1"))
        index = pc.Index(host=srv.index_host("idx"))        # or pc.Index("idx")
        ...
        index.close(); pc.close()

As a process (prints its URL on the first stdout line, stops on SIGTERM)::

    python -m tests.servers.pinecone_server --port 0 [--api-key KEY]

Every request must carry an ``Api-Key`` header (401 otherwise); with ``api_key=`` set it
must also match.
"""

from __future__ import annotations

import base64
import math
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.servers._http import (
    HTTPError,
    LoopbackServer,
    Request,
    Response,
    base_arg_parser,
    json_response,
    run_main,
)

__all__ = ["PineconeTestServer", "main", "matches_filter"]

DEFAULT_NS = "__default__"  # how the API names the default ("") namespace in listings
DATA_PREFIX = "/data"
MAX_UPSERT = 1000
MAX_TOP_K = 10000
MAX_LIST_LIMIT = 100
MAX_FETCH = 1000
MAX_FETCH_BY_METADATA = 10000
DEFAULT_FETCH_BY_METADATA = 100
_METRICS = ("cosine", "dotproduct", "euclidean")
_MISSING = object()


class FilterError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# metadata filters (Pinecone's MongoDB-like subset)
# ---------------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar_eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return isinstance(a, str) and isinstance(b, str) and a == b


def _eq(value: Any, operand: Any) -> bool:
    if value is _MISSING:
        return False
    if isinstance(value, list):
        return any(_scalar_eq(v, operand) for v in value)
    return _scalar_eq(value, operand)


def _in(value: Any, operand: Any) -> bool:
    if not isinstance(operand, list):
        raise FilterError("$in/$nin operand must be a list")
    return any(_eq(value, o) for o in operand)


def _cmp(value: Any, operand: Any, op: str) -> bool:
    if not _is_number(operand):
        raise FilterError(f"{op} operand must be a number")
    if not _is_number(value):
        return False
    if op == "$gt":
        return value > operand
    if op == "$gte":
        return value >= operand
    if op == "$lt":
        return value < operand
    return value <= operand


def _field_matches(value: Any, cond: Any) -> bool:
    if (
        isinstance(cond, dict)
        and cond
        and all(isinstance(k, str) and k.startswith("$") for k in cond)
    ):
        for op, operand in cond.items():
            if op == "$eq":
                ok = _eq(value, operand)
            elif op == "$ne":
                ok = not _eq(value, operand)  # MongoDB semantics: a missing field matches
            elif op == "$in":
                ok = _in(value, operand)
            elif op == "$nin":
                ok = not _in(value, operand)
            elif op in ("$gt", "$gte", "$lt", "$lte"):
                ok = _cmp(value, operand, op)
            elif op == "$exists":
                if not isinstance(operand, bool):
                    raise FilterError("$exists operand must be a boolean")
                ok = (value is not _MISSING) == operand
            else:
                raise FilterError(f"unsupported filter operator {op}")
            if not ok:
                return False
        return True
    if isinstance(cond, dict):
        raise FilterError("a field condition must be a value or an object of $operators")
    return _eq(value, cond)  # shorthand for $eq


def matches_filter(metadata: dict[str, Any] | None, flt: dict[str, Any] | None) -> bool:
    """Does ``metadata`` satisfy the Pinecone metadata filter ``flt``?  Raises FilterError."""
    if not flt:
        return True
    if not isinstance(flt, dict):
        raise FilterError("filter must be an object")
    md = metadata or {}
    for key, cond in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise FilterError(f"{key} operand must be a non-empty list")
            results = (matches_filter(md, sub) for sub in cond)
            if not (all(results) if key == "$and" else any(results)):
                return False
        elif key.startswith("$"):
            raise FilterError(f"unsupported top-level operator {key}")
        elif not _field_matches(md.get(key, _MISSING), cond):
            return False
    return True


def _validate_metadata(md: Any) -> dict[str, Any]:
    if md is None:
        return {}
    if not isinstance(md, dict):
        raise HTTPError(400, _data_error(3, "metadata must be an object"))
    for k, v in md.items():
        ok = (
            isinstance(v, (str, bool))
            or _is_number(v)
            or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        )
        if not ok:
            raise HTTPError(
                400,
                _data_error(
                    3,
                    f"Metadata value must be a string, number, boolean or list of strings, got '{v!r}' for field '{k}'",
                ),
            )
    return dict(md)


# ---------------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------------


@dataclass
class _Vec:
    id: str
    values: list[float]
    sparse: dict[str, list[Any]] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self, *, values: bool = True, metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        out["values"] = list(self.values) if values else []
        if values and self.sparse is not None:
            out["sparseValues"] = self.sparse
        if metadata and self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class _Index:
    name: str
    dimension: int | None
    metric: str
    vector_type: str
    deployment: dict[str, Any]
    deletion_protection: str = "disabled"
    tags: dict[str, str] | None = None
    namespaces: dict[str, dict[str, _Vec]] = field(default_factory=dict)


def _data_error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": []}


def _control_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, "status": status}


def _ns_in(name: Any) -> str:
    if name is None or name == DEFAULT_NS:
        return ""
    if not isinstance(name, str):
        raise HTTPError(400, _data_error(3, "namespace must be a string"))
    return name


def _ns_out(name: str) -> str:
    return name or DEFAULT_NS


def _encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except Exception as exc:
        raise HTTPError(400, _data_error(3, "invalid pagination token")) from exc


class PineconeTestServer(LoopbackServer):
    """In-memory Pinecone (control + data plane).  ``api_key=None`` accepts any key."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        super().__init__(host, port, latency=latency)
        self.api_key = api_key
        self.lock = threading.RLock()
        self.indexes: dict[str, _Index] = {}
        self.api_versions_seen: set[str] = set()
        self._register_routes()

    def index_host(self, name: str) -> str:
        """The data-plane host of index ``name`` (with scheme): pass it to ``pc.Index(host=)``."""
        return f"{self.url}{DATA_PREFIX}/{name}"

    # -- hooks --------------------------------------------------------------------------------
    def authorize(self, req: Request) -> Response | None:
        version = req.headers.get("X-Pinecone-Api-Version")
        if version:
            self.api_versions_seen.add(version)
        key = req.headers.get("Api-Key")
        if not key or (self.api_key is not None and key != self.api_key):
            return json_response(
                _control_error(
                    401,
                    "UNAUTHENTICATED",
                    "Invalid API Key" if key else "API key is missing or invalid",
                ),
                401,
            )
        return None

    def error_response(self, status: int, message: str, req: Request) -> Response:
        if self._is_data_plane(req):
            return json_response(_data_error(13 if status >= 500 else 3, message), status)
        code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}.get(
            status, "UNKNOWN"
        )
        return json_response(_control_error(status, code, message), status)

    def not_found(self, req: Request, method_mismatch: bool) -> Response:
        status = 405 if method_mismatch else 404
        return json_response(
            _control_error(status, "NOT_FOUND", f"no route for {req.method} {req.path}"), status
        )

    def map_exception(self, exc: Exception, req: Request) -> Response:
        if isinstance(exc, FilterError):
            return json_response(_data_error(3, f"Invalid filter: {exc}"), 400)
        return self.error_response(500, f"internal error: {type(exc).__name__}: {exc}", req)

    @staticmethod
    def _is_data_plane(req: Request) -> bool:
        return not req.path.startswith("/indexes")

    # -- routes -------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/indexes", self._list_indexes)
        r("POST", "/indexes", self._create_index, write="create_index")
        r("GET", "/indexes/{name}", self._describe_index)
        r("DELETE", "/indexes/{name}", self._delete_index, write="delete_index")
        r("PATCH", "/indexes/{name}", self._configure_index, write="configure_index")
        data = [
            ("POST", "/vectors/upsert", self._upsert, "upsert"),
            ("POST", "/query", self._query, None),
            ("GET", "/vectors/fetch", self._fetch, None),
            ("POST", "/vectors/fetch_by_metadata", self._fetch_by_metadata, None),
            ("GET", "/vectors/list", self._list_vectors, None),
            ("POST", "/vectors/delete", self._delete, "delete"),
            ("POST", "/vectors/update", self._update, "update"),
            ("POST", "/describe_index_stats", self._stats, None),
            ("GET", "/describe_index_stats", self._stats, None),
            ("GET", "/namespaces", self._list_namespaces, None),
            ("POST", "/namespaces", self._create_namespace, "create_namespace"),
            ("GET", "/namespaces/{ns}", self._describe_namespace, None),
            ("DELETE", "/namespaces/{ns}", self._delete_namespace, "delete_namespace"),
        ]
        for method, path, handler, write in data:
            r(method, DATA_PREFIX + "/{index}" + path, handler, write=write)
            r(method, path, handler, write=write)

    # -- control plane ------------------------------------------------------------------------
    def _index_json(self, ix: _Index) -> dict[str, Any]:
        if ix.vector_type == "sparse":
            schema = {"fields": {"_sparse_values": {"type": "sparse_vector"}}}
        else:
            schema = {
                "fields": {
                    "_values": {
                        "type": "dense_vector",
                        "dimension": ix.dimension,
                        "metric": ix.metric,
                    }
                }
            }
        dep = ix.deployment
        if dep.get("deployment_type") == "pod":
            spec: dict[str, Any] = {
                "pod": {
                    "environment": dep.get("environment", "local"),
                    "pod_type": dep.get("pod_type", "p1.x1"),
                    "replicas": dep.get("replicas", 1),
                    "shards": dep.get("shards", 1),
                    "pods": dep.get("replicas", 1) * dep.get("shards", 1),
                }
            }
        elif dep.get("deployment_type") == "byoc":
            spec = {"byoc": {"environment": dep.get("environment", "local")}}
        else:
            spec = {
                "serverless": {
                    "cloud": dep.get("cloud", "aws"),
                    "region": dep.get("region", "us-east-1"),
                }
            }
        out: dict[str, Any] = {
            "name": ix.name,
            "host": self.index_host(ix.name),
            "status": {"ready": True, "state": "Ready"},
            "schema": schema,
            "deployment": dep,
            "deletion_protection": ix.deletion_protection,
            # pre-2026 response fields, for older clients (ignored by newer ones)
            "metric": ix.metric,
            "vector_type": ix.vector_type,
            "spec": spec,
        }
        if ix.dimension is not None:
            out["dimension"] = ix.dimension
        if ix.tags:
            out["tags"] = dict(ix.tags)
        return out

    def _get_index(self, name: str) -> _Index:
        ix = self.indexes.get(name)
        if ix is None:
            raise HTTPError(404, _control_error(404, "NOT_FOUND", f"Resource {name} not found"))
        return ix

    def _list_indexes(self, req: Request) -> Response:
        with self.lock:
            return json_response(
                {"indexes": [self._index_json(ix) for ix in self.indexes.values()]}
            )

    def _describe_index(self, req: Request) -> Response:
        with self.lock:
            return json_response(self._index_json(self._get_index(req.params["name"])))

    def _create_index(self, req: Request) -> Response:
        body = req.json({})
        bad = lambda msg: HTTPError(400, _control_error(400, "INVALID_ARGUMENT", msg))  # noqa: E731
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise bad("name is required")
        name = body["name"]
        dimension: int | None = None
        metric = "cosine"
        vector_type = "dense"
        if isinstance(body.get("schema"), dict):  # 2026-07 API
            fields = body["schema"].get("fields") or {}
            dense = [
                f
                for f in fields.values()
                if isinstance(f, dict) and f.get("type") == "dense_vector"
            ]
            sparse = [
                f
                for f in fields.values()
                if isinstance(f, dict) and f.get("type") == "sparse_vector"
            ]
            if dense:
                dimension = dense[0].get("dimension")
                metric = str(dense[0].get("metric") or "cosine").lower()
            elif sparse:
                vector_type = "sparse"
                metric = "dotproduct"
            else:
                raise bad("schema must declare a dense_vector or sparse_vector field")
        else:  # <= 2025-10 API
            vector_type = str(body.get("vector_type") or "dense")
            dimension = body.get("dimension")
            metric = str(
                body.get("metric") or ("dotproduct" if vector_type == "sparse" else "cosine")
            ).lower()
        if vector_type == "dense" and (
            not isinstance(dimension, int) or not 1 <= dimension <= 20000
        ):
            raise bad("dimension must be an integer between 1 and 20000")
        if metric not in _METRICS:
            raise bad(f"metric must be one of {list(_METRICS)}")
        deployment = body.get("deployment")
        if not isinstance(deployment, dict):
            spec = body.get("spec") or {}
            if isinstance(spec.get("pod"), dict):
                pod = spec["pod"]
                deployment = {
                    "deployment_type": "pod",
                    "environment": pod.get("environment", "local"),
                    "pod_type": pod.get("pod_type", "p1.x1"),
                    "replicas": pod.get("replicas", 1),
                    "shards": pod.get("shards", 1),
                }
            elif isinstance(spec.get("byoc"), dict):
                deployment = {
                    "deployment_type": "byoc",
                    "environment": spec["byoc"].get("environment", "local"),
                }
            else:
                sl = spec.get("serverless") if isinstance(spec.get("serverless"), dict) else {}
                deployment = {
                    "deployment_type": "managed",
                    "cloud": sl.get("cloud", "aws"),
                    "region": sl.get("region", "us-east-1"),
                }
        with self.lock:
            if name in self.indexes:
                raise HTTPError(
                    409, _control_error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
                )
            ix = _Index(
                name=name,
                dimension=dimension if vector_type == "dense" else None,
                metric=metric,
                vector_type=vector_type,
                deployment=deployment,
                deletion_protection=str(body.get("deletion_protection") or "disabled"),
                tags=body.get("tags") or None,
            )
            self.indexes[name] = ix
            return json_response(self._index_json(ix), 201)

    def _delete_index(self, req: Request) -> Response:
        name = req.params["name"]
        with self.lock:
            ix = self._get_index(name)
            if ix.deletion_protection == "enabled":
                raise HTTPError(
                    403,
                    _control_error(
                        403,
                        "FORBIDDEN",
                        f"Deletion protection is enabled for this index. Disable it to delete {name}.",
                    ),
                )
            del self.indexes[name]
        return Response(202, b"")

    def _configure_index(self, req: Request) -> Response:
        body = req.json({}) or {}
        with self.lock:
            ix = self._get_index(req.params["name"])
            if body.get("deletion_protection") is not None:
                ix.deletion_protection = str(body["deletion_protection"])
            if isinstance(body.get("tags"), dict):
                tags = dict(ix.tags or {})
                for k, v in body["tags"].items():
                    if v == "":
                        tags.pop(k, None)
                    else:
                        tags[k] = v
                ix.tags = tags or None
            return json_response(self._index_json(ix))

    # -- data plane ---------------------------------------------------------------------------
    def _data_index(self, req: Request) -> _Index:
        name = req.params.get("index")
        if name is None:
            if len(self.indexes) != 1:
                raise HTTPError(
                    400,
                    _data_error(
                        3,
                        f"{len(self.indexes)} indexes exist: address one with the host "
                        f"{self.url}{DATA_PREFIX}/<index-name> (see describe_index().host)",
                    ),
                )
            return next(iter(self.indexes.values()))
        ix = self.indexes.get(name)
        if ix is None:
            raise HTTPError(404, _data_error(5, f"Index {name} not found"))
        return ix

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        body = req.json({})
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HTTPError(400, _data_error(3, "request body must be a JSON object"))
        return body

    @staticmethod
    def _check_values(ix: _Index, values: Any, what: str = "Vector") -> list[float]:
        if values is None:
            values = []
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise HTTPError(400, _data_error(3, f"{what} values must be a list of numbers"))
        if ix.vector_type == "dense":
            if len(values) != ix.dimension:
                raise HTTPError(
                    400,
                    _data_error(
                        3,
                        f"{what} dimension {len(values)} does not match the dimension of the index {ix.dimension}",
                    ),
                )
            if ix.metric == "cosine" and not any(values):
                raise HTTPError(
                    400, _data_error(3, "Dense vectors must contain at least one non-zero value")
                )
        elif values:
            raise HTTPError(400, _data_error(3, "Sparse index vectors must not carry dense values"))
        return [float(v) for v in values]

    @staticmethod
    def _check_sparse(sparse: Any) -> dict[str, list[Any]] | None:
        if sparse is None:
            return None
        if (
            not isinstance(sparse, dict)
            or not isinstance(sparse.get("indices"), list)
            or not isinstance(sparse.get("values"), list)
            or len(sparse["indices"]) != len(sparse["values"])
        ):
            raise HTTPError(
                400, _data_error(3, "sparseValues must have indices and values of equal length")
            )
        return {
            "indices": [int(i) for i in sparse["indices"]],
            "values": [float(v) for v in sparse["values"]],
        }

    def _upsert(self, req: Request) -> Response:
        body = self._body(req)
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise HTTPError(400, _data_error(3, "vectors must be a non-empty list"))
        if len(vectors) > MAX_UPSERT:
            raise HTTPError(400, _data_error(3, f"at most {MAX_UPSERT} vectors per upsert request"))
        ns = _ns_in(body.get("namespace"))
        with self.lock:
            ix = self._data_index(req)
            staged = []
            for v in vectors:
                if not isinstance(v, dict) or not isinstance(v.get("id"), str) or not v["id"]:
                    raise HTTPError(400, _data_error(3, "each vector needs a non-empty string id"))
                sparse = self._check_sparse(v.get("sparseValues", v.get("sparse_values")))
                if ix.vector_type == "sparse" and sparse is None:
                    raise HTTPError(400, _data_error(3, "Sparse index vectors need sparseValues"))
                staged.append(
                    _Vec(
                        id=v["id"],
                        values=self._check_values(ix, v.get("values")),
                        sparse=sparse,
                        metadata=_validate_metadata(v.get("metadata")),
                    )
                )
            space = ix.namespaces.setdefault(ns, {})
            for vec in staged:
                space[vec.id] = vec
        return json_response({"upsertedCount": len(staged)})

    @staticmethod
    def _score(ix: _Index, q: list[float], qs: dict[str, list[Any]] | None, v: _Vec) -> float:
        dense = 0.0
        if q and v.values:
            if ix.metric == "euclidean":
                return sum((a - b) ** 2 for a, b in zip(q, v.values, strict=False))
            dot = sum(a * b for a, b in zip(q, v.values, strict=False))
            if ix.metric == "cosine":
                nq = math.sqrt(sum(a * a for a in q))
                nv = math.sqrt(sum(b * b for b in v.values))
                dense = dot / (nq * nv) if nq and nv else 0.0
            else:
                dense = dot
        sparse = 0.0
        if qs is not None and v.sparse is not None:
            weights = dict(zip(v.sparse["indices"], v.sparse["values"], strict=False))
            sparse = sum(
                w * weights.get(i, 0.0) for i, w in zip(qs["indices"], qs["values"], strict=False)
            )
        return dense + sparse

    def _query(self, req: Request) -> Response:
        body = self._body(req)
        top_k = body.get("topK", body.get("top_k"))
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise HTTPError(
                400, _data_error(3, f"topK must be an integer between 1 and {MAX_TOP_K}")
            )
        ns = _ns_in(body.get("namespace"))
        include_values = bool(body.get("includeValues", body.get("include_values", False)))
        include_metadata = bool(body.get("includeMetadata", body.get("include_metadata", False)))
        flt = body.get("filter")
        with self.lock:
            ix = self._data_index(req)
            space = ix.namespaces.get(ns, {})
            q_sparse = self._check_sparse(body.get("sparseVector", body.get("sparse_vector")))
            if body.get("vector") is not None:
                if body.get("id") is not None:
                    raise HTTPError(400, _data_error(3, "Cannot provide both 'vector' and 'id'"))
                q = self._check_values(ix, body["vector"], "Query vector")
            elif body.get("id") is not None:
                src = space.get(body["id"])
                if src is None:
                    return json_response(
                        {"matches": [], "namespace": ns, "usage": {"readUnits": 1}}
                    )
                q, q_sparse = list(src.values), q_sparse or src.sparse
            elif q_sparse is not None:
                q = []
            else:
                raise HTTPError(
                    400, _data_error(3, "one of 'vector', 'id' or 'sparseVector' is required")
                )
            scored = [
                (self._score(ix, q, q_sparse, v), v)
                for v in space.values()
                if matches_filter(v.metadata, flt)
            ]
            if ix.metric == "euclidean":
                scored.sort(key=lambda sv: (sv[0], sv[1].id))
            else:
                scored.sort(key=lambda sv: (-sv[0], sv[1].id))
            matches = []
            for score, v in scored[:top_k]:
                m = v.to_json(values=include_values, metadata=include_metadata)
                m["score"] = score
                matches.append(m)
        return json_response({"matches": matches, "namespace": ns, "usage": {"readUnits": 1}})

    def _fetch(self, req: Request) -> Response:
        ids = req.query.get("ids", [])
        if not ids:
            raise HTTPError(400, _data_error(3, "ids is required"))
        if len(ids) > MAX_FETCH:
            raise HTTPError(400, _data_error(3, f"at most {MAX_FETCH} ids per fetch"))
        ns = _ns_in(req.arg("namespace"))
        with self.lock:
            space = self._data_index(req).namespaces.get(ns, {})
            found = {i: space[i].to_json() for i in ids if i in space}
        return json_response({"vectors": found, "namespace": ns, "usage": {"readUnits": 1}})

    def _fetch_by_metadata(self, req: Request) -> Response:
        """One page (ids ascending) of the vectors whose metadata matches ``filter``."""
        body = self._body(req)
        flt = body.get("filter")
        if not isinstance(flt, dict) or not flt:
            raise HTTPError(400, _data_error(3, "filter is required and must not be empty"))
        limit = body.get("limit", DEFAULT_FETCH_BY_METADATA)
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= MAX_FETCH_BY_METADATA
        ):
            raise HTTPError(
                400, _data_error(3, f"limit must be between 1 and {MAX_FETCH_BY_METADATA}")
            )
        token = body.get("paginationToken") or body.get("pagination_token")
        after = _decode_token(token) if token else None
        ns = _ns_in(body.get("namespace"))
        matches_filter({}, flt)  # a malformed filter fails even on an empty namespace
        with self.lock:
            space = self._data_index(req).namespaces.get(ns, {})
            page: list[str] = []
            more = False
            for i in sorted(space):  # ids ascending; the filter runs until the page is full
                if (after is None or i > after) and matches_filter(space[i].metadata, flt):
                    if len(page) == limit:
                        more = True
                        break
                    page.append(i)
            found = {i: space[i].to_json() for i in page}
        out: dict[str, Any] = {"vectors": found, "namespace": ns, "usage": {"readUnits": 1}}
        if more:
            out["pagination"] = {"next": _encode_token(page[-1])}
        return json_response(out)

    def _list_vectors(self, req: Request) -> Response:
        ns = _ns_in(req.arg("namespace"))
        prefix = req.arg("prefix") or ""
        raw_limit = req.arg("limit")
        try:
            limit = MAX_LIST_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError as exc:
            raise HTTPError(400, _data_error(3, "limit must be an integer")) from exc
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise HTTPError(400, _data_error(3, f"limit must be between 1 and {MAX_LIST_LIMIT}"))
        token = req.arg("paginationToken") or req.arg("pagination_token")
        after = _decode_token(token) if token else None
        with self.lock:
            space = self._data_index(req).namespaces.get(ns, {})
            ids = sorted(i for i in space if i.startswith(prefix) and (after is None or i > after))
        page, rest = ids[:limit], ids[limit:]
        out: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": ns,
            "usage": {"readUnits": 1},
        }
        if rest and page:
            out["pagination"] = {"next": _encode_token(page[-1])}
        return json_response(out)

    def _delete(self, req: Request) -> Response:
        body = self._body(req)
        ns = _ns_in(body.get("namespace"))
        ids, delete_all, flt = (
            body.get("ids"),
            bool(body.get("deleteAll", body.get("delete_all"))),
            body.get("filter"),
        )
        given = sum(x for x in (ids is not None, delete_all, flt is not None))
        if given != 1:
            raise HTTPError(
                400, _data_error(3, "exactly one of ids, deleteAll or filter is required")
            )
        if flt is not None and not flt:
            raise HTTPError(400, _data_error(3, "filter must not be empty"))
        with self.lock:
            ix = self._data_index(req)
            space = ix.namespaces.get(ns)
            if space is not None:
                if delete_all:
                    space.clear()
                elif ids is not None:
                    if not isinstance(ids, list):
                        raise HTTPError(400, _data_error(3, "ids must be a list"))
                    for i in ids:
                        space.pop(i, None)
                else:
                    for i in [i for i, v in space.items() if matches_filter(v.metadata, flt)]:
                        del space[i]
                if not space:
                    del ix.namespaces[ns]
        return json_response({})

    def _update(self, req: Request) -> Response:
        body = self._body(req)
        ns = _ns_in(body.get("namespace"))
        vid, flt = body.get("id"), body.get("filter")
        if (vid is None) == (flt is None):
            raise HTTPError(400, _data_error(3, "exactly one of id or filter is required"))
        set_md = body.get("setMetadata", body.get("set_metadata"))
        if set_md is not None:
            set_md = _validate_metadata(set_md)
        sparse = self._check_sparse(body.get("sparseValues", body.get("sparse_values")))
        dry_run = bool(body.get("dryRun", False))
        with self.lock:
            ix = self._data_index(req)
            values = (
                self._check_values(ix, body["values"]) if body.get("values") is not None else None
            )
            if flt is not None and values is not None:
                raise HTTPError(400, _data_error(3, "values cannot be updated by filter"))
            space = ix.namespaces.get(ns, {})
            targets = (
                [space[vid]]
                if vid is not None and vid in space
                else []
                if vid is not None
                else [v for v in space.values() if matches_filter(v.metadata, flt)]
            )
            if not dry_run:
                for v in targets:
                    if values is not None:
                        v.values = values
                    if sparse is not None:
                        v.sparse = sparse
                    if set_md:
                        v.metadata.update(set_md)
        return json_response({"matchedRecords": len(targets)} if flt is not None else {})

    def _stats(self, req: Request) -> Response:
        body = self._body(req) if req.method == "POST" else {}
        flt = body.get("filter")
        with self.lock:
            ix = self._data_index(req)
            counts = {
                _ns_out(ns): sum(1 for v in space.values() if matches_filter(v.metadata, flt))
                for ns, space in ix.namespaces.items()
                if space
            }
            return json_response(
                {
                    "namespaces": {ns: {"vectorCount": n} for ns, n in sorted(counts.items())},
                    "dimension": ix.dimension,
                    "indexFullness": 0.0,
                    "totalVectorCount": sum(counts.values()),
                    "metric": ix.metric,
                    "vectorType": ix.vector_type,
                }
            )

    def _list_namespaces(self, req: Request) -> Response:
        prefix = req.arg("prefix") or ""
        raw_limit = req.arg("limit")
        try:
            limit = MAX_LIST_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError as exc:
            raise HTTPError(400, _data_error(3, "limit must be an integer")) from exc
        token = req.arg("paginationToken")
        after = _decode_token(token) if token else None
        with self.lock:
            ix = self._data_index(req)
            rows = sorted((_ns_out(ns), len(space)) for ns, space in ix.namespaces.items())
        rows = [r for r in rows if r[0].startswith(prefix)]
        total = len(rows)
        rows = [r for r in rows if after is None or r[0] > after]
        page, rest = rows[:limit], rows[limit:]
        out: dict[str, Any] = {
            "namespaces": [{"name": n, "record_count": c} for n, c in page],
            "total_count": total,
        }
        if rest and page:
            out["pagination"] = {"next": _encode_token(page[-1][0])}
        return json_response(out)

    def _create_namespace(self, req: Request) -> Response:
        body = self._body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name or name == DEFAULT_NS:
            raise HTTPError(
                400, _data_error(3, "a namespace name is required (and not __default__)")
            )
        with self.lock:
            ix = self._data_index(req)
            if name in ix.namespaces:
                raise HTTPError(409, _data_error(6, f"Namespace {name} already exists"))
            ix.namespaces[name] = {}
        return json_response({"name": name, "record_count": 0})

    def _describe_namespace(self, req: Request) -> Response:
        ns = _ns_in(req.params["ns"])
        with self.lock:
            space = self._data_index(req).namespaces.get(ns)
            if space is None:
                raise HTTPError(404, _data_error(5, f"Namespace {_ns_out(ns)} not found"))
            return json_response({"name": _ns_out(ns), "record_count": len(space)})

    def _delete_namespace(self, req: Request) -> Response:
        ns = _ns_in(req.params["ns"])
        with self.lock:
            ix = self._data_index(req)
            if ns not in ix.namespaces:
                raise HTTPError(404, _data_error(5, f"Namespace {_ns_out(ns)} not found"))
            del ix.namespaces[ns]
        return json_response({})


def main(argv: list[str] | None = None) -> int:
    p = base_arg_parser("Pinecone-compatible loopback server (in memory)")
    p.add_argument("--api-key", default=None, help="require this exact Api-Key (default: any)")
    args = p.parse_args(argv)
    server = PineconeTestServer(
        api_key=args.api_key, host=args.host, port=args.port, latency=args.latency
    )
    return run_main(server, args)


if __name__ == "__main__":
    sys.exit(main())
