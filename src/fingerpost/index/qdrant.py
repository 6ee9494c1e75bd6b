"""QdrantIndex: a Qdrant collection as the shared remote (embedded, server or cloud).

Layout of the collection (one unnamed vector, cosine):

* one point per (route, utterance): id ``uuid5((route, utterance))`` (exact identity, so
  "politics" never matches "politics extra"), payload :func:`~fingerpost.index.base.encode_payload`
  (``kind="utterance"``, ``route``, ``utterance`` and the route-level fields as JSON strings);
* the meta record: id ``uuid5("meta")``, payload ``{"kind": "meta", "meta": RemoteMeta.to_json()}``;
* lease tickets: id ``uuid5("lease:" + token)``, payload ``kind="lease"`` plus the ticket fields.

Bookkeeping records carry a fixed unit vector; every content read filters on
``kind == "utterance"``, and route filters match ``route`` exactly (``MatchAny``).
Qdrant normalises vectors of a cosine collection, so vectors come back unit length.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np

from .._exceptions import EncoderMismatchError, InvalidInputError, RemoteUnavailableError
from ..schema import Utterance
from ._records import (
    check_points,
    check_query,
    record_uuid,
    ticket_from_payload,
    ticket_payload,
    unit_vector,
    utterance_uuid,
)
from ._remote import ClientRemoteIndex, batches
from ._retry import RETRYABLE_STATUS, RetryPolicy
from ._sr_layout import SAMPLE, Layout, check_layout, refuse_foreign
from .base import (
    LeaseTicket,
    QueryRequest,
    RemoteMeta,
    RemotePoint,
    ScoredPoint,
    Vector,
    decode_payload,
    encode_payload,
)

try:
    import httpx
    from qdrant_client import AsyncQdrantClient, QdrantClient, models
    from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError(
        "QdrantIndex needs qdrant-client: pip install 'fingerpost[qdrant]'"
    ) from exc

__all__ = ["QdrantIndex"]

T = TypeVar("T")

_META_ID = record_uuid("meta")
_KIND = "kind"


def _kind_is(kind: str) -> models.FieldCondition:
    return models.FieldCondition(key=_KIND, match=models.MatchValue(value=kind))


def _route_in(routes: Sequence[str]) -> models.FieldCondition:
    return models.FieldCondition(key="route", match=models.MatchAny(any=list(routes)))


def _utterance_filter(routes: Sequence[str] | None) -> models.Filter:
    must: list[models.Condition] = [_kind_is("utterance")]
    if routes is not None:
        must.append(_route_in(routes))
    return models.Filter(must=must)


_LEASE_FILTER = models.Filter(must=[_kind_is("lease")])


def _transient(exc: Exception) -> bool:
    """Worth another attempt: transport trouble, timeouts, throttling, 5xx."""
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code in RETRYABLE_STATUS
    if isinstance(
        exc, (ResponseHandlingException, ResourceExhaustedResponse, httpx.TransportError)
    ):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    code = getattr(exc, "code", None)  # grpc.RpcError, with prefer_grpc=True
    if callable(code) and type(exc).__module__.startswith("grpc"):
        return getattr(code(), "name", "") in {
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "RESOURCE_EXHAUSTED",
        }
    return False


_EMBEDDED_PAGE = 1_000_000
_QUERY_BATCH = 256  # queries per query_batch_points request

# One lock per embedded client, shared by every QdrantIndex that uses it: the embedded engine
# is not thread-safe, and two routers sharing one client through ``client=`` must not call
# it at the same time (unguarded, 7-49 of 80 concurrent adds failed, and a collection once
# became unreadable). Weak keys: the lock goes when the client does.
_CLIENT_LOCKS: weakref.WeakKeyDictionary[QdrantClient, threading.RLock] = (
    weakref.WeakKeyDictionary()
)
_CLIENT_LOCKS_GUARD = threading.Lock()


def client_lock(client: QdrantClient) -> threading.RLock:
    """The lock every QdrantIndex takes around calls to this embedded client."""
    with _CLIENT_LOCKS_GUARD:
        lock = _CLIENT_LOCKS.get(client)
        if lock is None:
            lock = _CLIENT_LOCKS[client] = threading.RLock()
        return lock


def _is_embedded(options: dict[str, Any]) -> bool:
    return options.get("location") == ":memory:" or options.get("path") is not None


def _client_options(
    location: str | None,
    path: str | None,
    url: str | None,
    client: QdrantClient | None,
    aclient: AsyncQdrantClient | None,
) -> dict[str, Any]:
    """Where the collection lives, as ``QdrantClient`` init options; refuses contradictions."""
    given = [
        n
        for n, v in (("location", location), ("path", path), ("url", url), ("client", client))
        if v is not None
    ]
    if len(given) > 1:
        raise InvalidInputError(
            f"pass only one of location, path, url, client (got {', '.join(given)})"
        )
    if client is not None and not isinstance(client, QdrantClient):
        raise InvalidInputError(f"client must be a QdrantClient, got {type(client).__name__}")
    if aclient is not None and not isinstance(aclient, AsyncQdrantClient):
        raise InvalidInputError(
            f"aclient must be an AsyncQdrantClient, got {type(aclient).__name__}"
        )
    options: dict[str, Any]
    if client is not None:
        options = dict(client.init_options)
    elif given:
        options = {"location": location, "path": path, "url": url}
    elif aclient is not None:  # the sync twin of the caller's async client
        options = {k: v for k, v in aclient.init_options.items() if k != "check_compatibility"}
    else:
        options = {"location": ":memory:"}
    if aclient is not None and (_is_embedded(options) or _is_embedded(aclient.init_options)):
        raise InvalidInputError(
            "aclient needs a Qdrant server shared with the sync client; an embedded Qdrant "
            "(':memory:' or path=) cannot be opened by two clients"
        )
    return options


def _to_point(
    record: models.Record, with_vectors: bool, memo: dict[Any, Utterance] | None = None
) -> RemotePoint:
    vector = None
    if with_vectors:
        if not isinstance(record.vector, list):
            raise RemoteUnavailableError(f"point {record.id} has no single unnamed vector")
        vector = np.asarray(record.vector, dtype=np.float32)
    return RemotePoint(utterance=decode_payload(record.payload or {}, memo), vector=vector)


def _to_scored(hits: Sequence[models.ScoredPoint]) -> list[ScoredPoint]:
    out = []
    for h in hits:
        payload = h.payload or {}
        out.append(
            ScoredPoint(
                route=str(payload["route"]),
                utterance=str(payload["utterance"]),
                score=float(h.score),
            )
        )
    return out


def _meta_from(records: Sequence[models.Record]) -> RemoteMeta | None:
    if not records or not records[0].payload:
        return None
    return RemoteMeta.from_json(str(records[0].payload["meta"]))


def _sorted_points(points: list[RemotePoint]) -> list[RemotePoint]:
    return sorted(points, key=lambda p: p.utterance.key)


class QdrantIndex(ClientRemoteIndex):
    """A Qdrant collection that routers mirror and sync with.

    Exactly one of ``location``/``path``/``url``/``client`` says where the collection lives
    (none: an in-memory embedded Qdrant). Nothing connects before :meth:`bind` (or the
    first read).

    Args:
        index_name: Collection name.
        location: ``":memory:"`` for an embedded in-memory Qdrant, or a server URL.
        path: Directory of an embedded on-disk Qdrant (one process at a time).
        url: Server URL, e.g. ``"http://localhost:6333"`` or a Qdrant Cloud URL.
        api_key: Server API key.
        client: A ``QdrantClient`` to use; the caller keeps ownership (it is not closed).
        aclient: An ``AsyncQdrantClient`` on the same server, for native async reads and
            queries (``afetch``, ``aquery``, ``aquery_batch``, ``aquery_groups``,
            ``aread_meta``, and through them ``SemanticRouter.acall``/``abatch`` with
            ``mirror=False`` and ``async_is_synced``). The caller owns it (it is not closed
            here) and uses it on one event loop. Alone, it also yields the sync client (from
            its init options). Not with an embedded Qdrant, which two clients cannot open.
        retries: Retries of a call that failed transiently (dropped connection, timeout,
            408/429/5xx) before ``RemoteUnavailableError``.
        backoff: First retry delay in seconds; doubles per retry (jittered, capped at 5 s).
        max_retry_time: No retry starts that would end later than this after the first try.
        timeout: Per-request timeout in seconds (server mode).
        batch_size: Points per upsert request.
        page_size: Points per scroll page.
        client_kwargs: Extra ``QdrantClient`` arguments (e.g. ``prefer_grpc=True``).
            ``check_compatibility`` defaults to ``False``: it would start a background
            request from the constructor.
        sleep: Called with each retry delay (tests pass a recorder).
        asleep: Async twin of ``sleep``.
        layout: ``"fingerpost"`` (default), or ``"semantic-router"`` to read (read-only) a
            collection that semantic-router 0.1.x wrote. Opening a collection of another
            layout as fingerpost's raises ``ForeignLayoutError`` instead of showing it empty.
        group_by_route: Score a ``mirror=False`` turn with one ``query_points_groups``
            request. ``None`` (default): on for a server, off for an embedded Qdrant, whose
            local-mode grouping re-scans the collection per group (seconds at 15,000 points),
            so there a turn takes one plain query plus at most one follow-up.
    """

    backend = "Qdrant"
    _transient = staticmethod(_transient)

    def __new__(cls, *args: Any, layout: Layout = "fingerpost", **kwargs: Any) -> QdrantIndex:
        if check_layout(layout) == "semantic-router" and cls is QdrantIndex:
            from ._sr_qdrant import SemanticRouterQdrantIndex

            return super().__new__(SemanticRouterQdrantIndex)
        return super().__new__(cls)

    def __init__(
        self,
        index_name: str = "routes",
        location: str | None = None,
        path: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        client: QdrantClient | None = None,
        aclient: AsyncQdrantClient | None = None,
        retries: int = 3,
        backoff: float = 0.2,
        *,
        max_retry_time: float = 30.0,
        timeout: float = 10.0,
        batch_size: int = 256,
        page_size: int = 1000,
        client_kwargs: dict[str, Any] | None = None,
        sleep: Callable[[float], None] | None = None,
        asleep: Callable[[float], Awaitable[None]] | None = None,
        layout: Layout = "fingerpost",
        group_by_route: bool | None = None,
    ) -> None:
        self.layout = check_layout(layout)
        if (
            not isinstance(index_name, str)
            or not index_name
            or "/" in index_name
            or "\0" in index_name
        ):
            raise InvalidInputError(
                f"index_name must be a non-empty collection name, got {index_name!r}"
            )
        options = _client_options(location, path, url, client, aclient)
        if client is not None and (client_kwargs or api_key is not None):
            raise InvalidInputError(
                "api_key and client_kwargs configure a client; not with client="
            )
        for name, value in (
            ("timeout", timeout),
            ("batch_size", batch_size),
            ("page_size", page_size),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{name} must be > 0, got {value!r}")
        if not isinstance(batch_size, int) or not isinstance(page_size, int):
            raise InvalidInputError("batch_size and page_size must be integers")
        embedded = _is_embedded(options)
        if api_key is not None and embedded:
            raise InvalidInputError("api_key is only for a Qdrant server (url=)")

        self.index_name = index_name
        self._policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            max_retry_time=max_retry_time,
            sleep=time.sleep if sleep is None else sleep,
            asleep=asyncio.sleep if asleep is None else asleep,
        )
        self._options = options
        self._api_key = api_key
        self._timeout = timeout
        self._client_kwargs = dict(client_kwargs or {})
        self._batch_size = batch_size
        self._page_size = page_size
        self._client = client
        self._owns_client = client is None
        self._aclient = aclient
        self._embedded = embedded
        self._group_by_route = not embedded if group_by_route is None else bool(group_by_route)
        # The embedded engine is not thread-safe; a server client is.
        self._lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext()
            if not embedded
            else threading.RLock()
            if client is None
            else client_lock(client)
        )
        self._connect_lock = threading.Lock()
        self._dim: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        where = (
            self._options.get("url") or self._options.get("path") or self._options.get("location")
        )
        return f"QdrantIndex(index_name={self.index_name!r}, where={where!r})"

    # ---- plumbing ------------------------------------------------------------------------
    def _sync(self) -> QdrantClient:
        self._check_open()
        with self._connect_lock:
            if self._client is None:
                kwargs: dict[str, Any] = {"check_compatibility": False}
                if self._embedded:
                    kwargs["force_disable_check_same_thread"] = True  # guarded by self._lock
                else:
                    kwargs["timeout"] = math.ceil(self._timeout)
                if self._api_key is not None:
                    kwargs["api_key"] = self._api_key
                base = {k: v for k, v in self._options.items() if v is not None}
                try:
                    self._client = QdrantClient(**{**base, **kwargs, **self._client_kwargs})
                except Exception as exc:  # e.g. an embedded path locked by another process
                    raise RemoteUnavailableError(f"cannot open Qdrant ({self!r}): {exc}") from exc
        return self._client

    def _guard(self, fn: Callable[[], T]) -> Callable[[], T]:
        def locked() -> T:
            with self._lock:
                return fn()

        return locked

    # ---- lifecycle -----------------------------------------------------------------------
    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        return self._bind_meta(
            encoder_name, dim, self._ensure_collection, f"Qdrant collection {self.index_name!r}"
        )

    def _ensure_collection(self, dim: int) -> bool:
        """Check the collection, or create it; True when it existed (or another agent
        created it meanwhile)."""
        client = self._sync()
        if self._call("collection_exists", partial(client.collection_exists, self.index_name)):
            self._refuse_foreign(client)
            self._check_collection(client, dim)
            return True
        return self._create_collection(client, dim)

    def _refuse_foreign(self, client: QdrantClient) -> None:
        """A collection without fingerpost's meta record must hold none but fingerpost's."""
        if self.read_meta() is not None:
            return
        page, _ = self._call(
            "scroll",
            partial(client.scroll, self.index_name, limit=SAMPLE, with_payload=True),
        )
        where = f"Qdrant collection {self.index_name!r}"
        refuse_foreign((r.payload or {} for r in page), where, "QdrantIndex")

    def _check_collection(self, client: QdrantClient, dim: int) -> None:
        info = self._call("get_collection", partial(client.get_collection, self.index_name))
        params = info.config.params.vectors
        if not isinstance(params, models.VectorParams):
            raise InvalidInputError(
                f"Qdrant collection {self.index_name!r} has named vectors; fingerpost needs one unnamed vector"
            )
        if params.size != dim:
            raise EncoderMismatchError(
                f"Qdrant collection {self.index_name!r} holds {params.size}-dim vectors, the encoder makes {dim}"
            )
        if params.distance != models.Distance.COSINE:
            raise InvalidInputError(
                f"Qdrant collection {self.index_name!r} uses {params.distance.value} distance; fingerpost needs Cosine"
            )

    def _create_collection(self, client: QdrantClient, dim: int) -> bool:
        config = models.VectorParams(size=dim, distance=models.Distance.COSINE)
        try:
            self._call(
                "create_collection",
                partial(client.create_collection, self.index_name, vectors_config=config),
            )
        except RemoteUnavailableError:
            # Another agent may have created it meanwhile (409): then use theirs.
            if not self._call(
                "collection_exists", partial(client.collection_exists, self.index_name)
            ):
                raise
            self._check_collection(client, dim)
            return True
        if not self._embedded:  # the embedded engine has no payload indexes (and warns)
            for field in (_KIND, "route"):
                self._call(
                    "create_payload_index",
                    partial(
                        client.create_payload_index,
                        self.index_name,
                        field,
                        models.PayloadSchemaType.KEYWORD,
                    ),
                )
        return False

    def close(self) -> None:
        """Close the sync client if this index created it; user-supplied clients stay open."""
        if self._closed:
            return
        self._closed = True
        if self._client is not None and self._owns_client:
            with self._lock:
                self._client.close()
        self._client = None

    # ---- content (requests built once, sent by the sync or the async client) --------------
    def _scroll_args(
        self, flt: models.Filter | None, with_vectors: bool, offset: models.ExtendedPointId | None
    ) -> dict[str, Any]:
        return {
            "collection_name": self.index_name,
            "scroll_filter": flt,
            # The embedded engine evaluates the filter over the whole collection for every page,
            # so paging there is quadratic: scan in one page (15,000 points: 4 s -> 0.3 s).
            "limit": _EMBEDDED_PAGE if self._embedded else self._page_size,
            "offset": offset,
            "with_payload": True,
            "with_vectors": with_vectors,
        }

    def _query_args(
        self, q: list[float], limit: int, routes: Sequence[str] | None
    ) -> dict[str, Any]:
        return {
            "collection_name": self.index_name,
            "query": q,
            "query_filter": _utterance_filter(routes),
            "limit": limit,
            "with_payload": ["route", "utterance"],
        }

    def _scroll(self, flt: models.Filter | None, with_vectors: bool) -> list[models.Record]:
        client = self._sync()
        out: list[models.Record] = []
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = self._call(
                "scroll", partial(client.scroll, **self._scroll_args(flt, with_vectors, offset))
            )
            out.extend(page)
            if offset is None:
                return out

    async def _ascroll(self, flt: models.Filter, with_vectors: bool) -> list[models.Record]:
        assert self._aclient is not None
        out: list[models.Record] = []
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = await self._acall(
                "scroll",
                partial(self._aclient.scroll, **self._scroll_args(flt, with_vectors, offset)),
            )
            out.extend(page)
            if offset is None:
                return out

    def get_utterances(self) -> list[Utterance]:
        return [p.utterance for p in self.fetch(with_vectors=False)]

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        if routes is not None and not routes:
            return []
        if self._embedded:
            # The embedded engine checks a scroll's filter in Python against every point of
            # the collection: a full read goes unfiltered and a read of some routes filters
            # by route alone (15,000 points: 0.9 -> 0.5 s and 0.4 -> 0.2 s); the kind is
            # checked here instead.
            flt = None if routes is None else models.Filter(must=[_route_in(routes)])
            records = [
                r
                for r in self._scroll(flt, with_vectors)
                if (r.payload or {}).get(_KIND) == "utterance"
            ]
        else:
            records = self._scroll(_utterance_filter(routes), with_vectors)
        memo: dict[Any, Utterance] = {}
        return _sorted_points([_to_point(r, with_vectors, memo) for r in records])

    def fetch_keys(self, keys: Sequence[tuple[str, str]]) -> list[RemotePoint]:
        """By id (``retrieve``): no filter, so O(keys) on a server and in the embedded
        engine alike (whose filtered scroll checks every point of the collection)."""
        ids: list[models.ExtendedPointId] = list(dict.fromkeys(utterance_uuid(*k) for k in keys))
        if not ids:
            return []
        client = self._sync()
        records: list[models.Record] = []
        for chunk in batches(ids, 1000):
            records.extend(
                self._call(
                    "retrieve",
                    partial(
                        client.retrieve,
                        self.index_name,
                        ids=list(chunk),
                        with_payload=True,
                        with_vectors=False,
                    ),
                )
            )
        memo: dict[Any, Utterance] = {}
        wanted = set(keys)
        points = [
            _to_point(r, False, memo)
            for r in records
            if (r.payload or {}).get(_KIND) == "utterance"
        ]
        return _sorted_points([p for p in points if p.utterance.key in wanted])

    def validate(self, points: Sequence[RemotePoint]) -> None:
        check_points(points, self._require_dim())

    def upsert(self, points: Sequence[RemotePoint]) -> None:
        checked = check_points(points, self._require_dim())
        structs = [
            models.PointStruct(
                id=utterance_uuid(*p.utterance.key), vector=vec, payload=encode_payload(p.utterance)
            )
            for p, vec in checked
        ]
        client = self._sync()
        for chunk in batches(structs, self._batch_size):
            self._call(
                "upsert", partial(client.upsert, self.index_name, points=list(chunk), wait=True)
            )

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        ids: list[models.ExtendedPointId] = list(
            dict.fromkeys(utterance_uuid(r, u) for r, u in keys)
        )
        client = self._sync()
        for chunk in batches(ids, 1000):
            selector = models.PointIdsList(points=list(chunk))
            self._call(
                "delete",
                partial(client.delete, self.index_name, points_selector=selector, wait=True),
            )

    def count(self) -> int:
        client = self._sync()
        result = self._call(
            "count",
            partial(
                client.count, self.index_name, count_filter=_utterance_filter(None), exact=True
            ),
        )
        return int(result.count)

    def query(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        client = self._sync()
        response = self._call(
            "query_points", partial(client.query_points, **self._query_args(q, limit, routes))
        )
        return _to_scored(response.points)

    def query_batch(self, requests: Sequence[QueryRequest]) -> list[list[ScoredPoint]]:
        """Every query in ONE ``query_batch_points`` request (up to ``_QUERY_BATCH`` each)."""
        out, chunks = self._batch_requests(requests)
        if not chunks:
            return out
        client = self._sync()
        for chunk, batch in chunks:
            responses = self._call(
                "query_batch_points",
                partial(client.query_batch_points, self.index_name, requests=batch),
            )
            for i, response in zip(chunk, responses, strict=True):
                out[i] = _to_scored(response.points)
        return out

    def _batch_requests(
        self, requests: Sequence[QueryRequest]
    ) -> tuple[list[list[ScoredPoint]], list[tuple[Sequence[int], list[models.QueryRequest]]]]:
        """Empty answers for every query, and the ``query_batch_points`` requests (positions,
        queries) of those that can match anything (an empty route list matches nothing)."""
        checked = [(check_query(v, limit, self._dim), limit, r) for v, limit, r in requests]
        out: list[list[ScoredPoint]] = [[] for _ in checked]
        live = [i for i, (_, _, r) in enumerate(checked) if r is None or r]
        chunks = [
            (
                chunk,
                [
                    models.QueryRequest(
                        query=checked[i][0],
                        filter=_utterance_filter(checked[i][2]),
                        limit=checked[i][1],
                        with_payload=["route", "utterance"],
                    )
                    for i in chunk
                ],
            )
            for chunk in batches(live, _QUERY_BATCH)
        ]
        return out, chunks

    def query_groups(
        self, vector: Vector, per_route: int, routes: Sequence[str] | None, n_routes: int
    ) -> list[ScoredPoint] | None:
        """One ``query_points_groups`` request grouped by ``route``: exact per-route top-k."""
        if not self._group_by_route:
            return None
        q = check_query(vector, per_route, self._dim)
        if (routes is not None and not routes) or n_routes < 1:
            return []
        client = self._sync()
        result = self._call(
            "query_points_groups",
            partial(
                client.query_points_groups, **self._groups_args(q, per_route, routes, n_routes)
            ),
        )
        return [hit for group in result.groups for hit in _to_scored(group.hits)]

    def _groups_args(
        self, q: list[float], per_route: int, routes: Sequence[str] | None, n_routes: int
    ) -> dict[str, Any]:
        return {
            "collection_name": self.index_name,
            "group_by": "route",
            "query": q,
            "query_filter": _utterance_filter(routes),
            "limit": n_routes,
            "group_size": per_route,
            "with_payload": ["route", "utterance"],
        }

    # ---- coordination --------------------------------------------------------------------
    def read_meta(self) -> RemoteMeta | None:
        client = self._sync()
        if self._dim is None and not self._call(
            "collection_exists", partial(client.collection_exists, self.index_name)
        ):
            return None
        return _meta_from(
            self._call("retrieve", partial(client.retrieve, self.index_name, ids=[_META_ID]))
        )

    def write_meta(self, meta: RemoteMeta) -> None:
        self._put_record(_META_ID, {_KIND: "meta", "meta": meta.to_json()})

    def put_ticket(self, ticket: LeaseTicket) -> None:
        self._put_record(record_uuid("lease:" + ticket.token), ticket_payload(ticket))

    def list_tickets(self) -> list[LeaseTicket]:
        tickets = [ticket_from_payload(r.payload or {}) for r in self._scroll(_LEASE_FILTER, False)]
        return sorted(tickets, key=lambda t: (t.created_at, t.token))

    def delete_ticket(self, token: str) -> None:
        client = self._sync()
        selector = models.PointIdsList(points=[record_uuid("lease:" + token)])
        self._call(
            "delete", partial(client.delete, self.index_name, points_selector=selector, wait=True)
        )

    def _put_record(self, point_id: str, payload: dict[str, Any]) -> None:
        point = models.PointStruct(
            id=point_id, vector=unit_vector(self._require_dim()), payload=payload
        )
        client = self._sync()
        self._call("upsert", partial(client.upsert, self.index_name, points=[point], wait=True))

    # ---- async twins: native with an AsyncQdrantClient, else a worker thread ---------------
    @property
    def native_async(self) -> bool:
        return self._aclient is not None

    async def aget_utterances(self) -> list[Utterance]:
        return [p.utterance for p in await self.afetch(with_vectors=False)]

    async def afetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        if self._aclient is None:
            return await super().afetch(routes, with_vectors=with_vectors)
        if routes is not None and not routes:
            return []
        records = await self._ascroll(_utterance_filter(routes), with_vectors)
        memo: dict[Any, Utterance] = {}
        return _sorted_points([_to_point(r, with_vectors, memo) for r in records])

    async def aquery(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        if self._aclient is None:
            return await super().aquery(vector, limit, routes)
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        response = await self._acall(
            "query_points",
            partial(self._aclient.query_points, **self._query_args(q, limit, routes)),
        )
        return _to_scored(response.points)

    async def aread_meta(self) -> RemoteMeta | None:
        if self._aclient is None:
            return await super().aread_meta()
        name = self.index_name
        if self._dim is None and not await self._acall(
            "collection_exists", partial(self._aclient.collection_exists, name)
        ):
            return None
        return _meta_from(
            await self._acall("retrieve", partial(self._aclient.retrieve, name, ids=[_META_ID]))
        )

    async def aquery_batch(self, requests: Sequence[QueryRequest]) -> list[list[ScoredPoint]]:
        """Async twin of :meth:`query_batch` (one ``query_batch_points`` per 256 queries)."""
        if self._aclient is None:
            return await super().aquery_batch(requests)
        out, chunks = self._batch_requests(requests)
        for chunk, batch in chunks:
            responses = await self._acall(
                "query_batch_points",
                partial(self._aclient.query_batch_points, self.index_name, requests=batch),
            )
            for i, response in zip(chunk, responses, strict=True):
                out[i] = _to_scored(response.points)
        return out

    async def aquery_groups(
        self, vector: Vector, per_route: int, routes: Sequence[str] | None, n_routes: int
    ) -> list[ScoredPoint] | None:
        """Async twin of :meth:`query_groups`."""
        if self._aclient is None:
            return await super().aquery_groups(vector, per_route, routes, n_routes)
        if not self._group_by_route:
            return None
        q = check_query(vector, per_route, self._dim)
        if (routes is not None and not routes) or n_routes < 1:
            return []
        result = await self._acall(
            "query_points_groups",
            partial(
                self._aclient.query_points_groups,
                **self._groups_args(q, per_route, routes, n_routes),
            ),
        )
        return [hit for group in result.groups for hit in _to_scored(group.hits)]
