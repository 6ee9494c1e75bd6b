"""PineconeIndex: a Pinecone serverless index (one namespace of it) as the shared remote.

Layout of the namespace (cosine, ``dim``):

* one vector per (route, utterance): id ``f"{route_key}#{uuid5((route, utterance))}"``, where
  ``route_key`` is the first 16 hex digits of SHA-256 of the route name, so
  ``list(prefix=route_key + "#")`` lists one route; metadata is
  :func:`~fingerpost.index.base.encode_payload` (flat: strings and numbers, no nulls);
* the meta record ``__fp_meta__``: metadata ``{"kind": "meta", "meta": RemoteMeta.to_json()}``;
* lease tickets ``__fp_lease__#<token>``: metadata ``kind="lease"`` plus the ticket fields.

Bookkeeping records carry a fixed unit vector (cosine refuses a zero vector); queries filter
on ``kind == "utterance"`` and reads check the exact route name in the metadata, so a hash
prefix collision could never mix two routes.

Retries: the control plane runs with the client's own retries off, so ``retries``/``backoff``
are the whole policy there. The data-plane REST client of pinecone 10.x always retries
408/429/5xx and dropped connections itself (3 retries, jittered, process-wide retry budget)
and offers no switch, so there one of our attempts may be several HTTP requests.

Async twins: with ``aclient=`` (a ``pinecone.AsyncIndex`` on this index's data-plane host,
owned by the caller) reads and queries are native coroutines under the same retry policy
and error mapping; the control plane (does the index exist, which host) is asked once, on a
worker thread. Without it they run the sync methods on a worker thread (the base-class
default): an ``AsyncIndex`` this class opened itself would bind its connection pool to one
event loop and need an ``await``ed close, which :meth:`RemoteIndex.close` cannot give it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from .._exceptions import EncoderMismatchError, InvalidInputError, RemoteUnavailableError
from ..schema import Utterance
from ._records import (
    check_points,
    check_query,
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
    from pinecone import (
        ApiError,
        AsyncIndex,
        Index,
        Pinecone,
        PineconeConnectionError,
        PineconeTimeoutError,
        RetryConfig,
        ServerlessSpec,
    )
    from pinecone.models.vectors.vector import Vector as PineconeVector
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModuleNotFoundError(
        "PineconeIndex needs pinecone: pip install 'fingerpost[pinecone]'"
    ) from exc

__all__ = ["PineconeIndex"]

T = TypeVar("T")

META_ID = "__fp_meta__"
LEASE_PREFIX = "__fp_lease__#"
_UTTERANCE_ID = re.compile(
    r"[0-9a-f]{16}#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?")
_LIST_PAGE = 100  # the API's largest list page
_FETCH_CHUNK = 100  # ids per fetch (the query string grows with every id)
_DELETE_CHUNK = 1000  # the API's limit of ids per delete
_MAX_TOP_K = 10_000
# Vectors per fetch_by_metadata page (the API allows 10,000): about 8 MB of JSON at 384
# dims, so a restart reads 15,000 utterances in 15 requests instead of 150 listings + 150
# fetches by id.
_FILTER_PAGE = 1000
_FILTER_IN = 1000  # route names per ``$in`` filter
_NO_FILTER_FETCH = frozenset({404, 405, 501})  # a server without fetch_by_metadata
_QUERY_THREADS = 8  # queries of one batch in flight at once
_MAX_REQUEST_BYTES = 1_500_000  # under the 2 MB request limit, with room for JSON overhead
_MAX_METADATA_BYTES = 40_000  # Pinecone's per-vector metadata limit (40 KB)
_UTTERANCE_FILTER: dict[str, Any] = {"kind": {"$eq": "utterance"}}


def route_key(route: str) -> str:
    """Short stable hash of a route name: the id prefix of its vectors."""
    return hashlib.sha256(route.encode("utf-8")).hexdigest()[:16]


def vector_id(route: str, utterance: str) -> str:
    """Id of the exact (route, utterance) pair."""
    return f"{route_key(route)}#{utterance_uuid(route, utterance)}"


def _no_filter_fetch(exc: RemoteUnavailableError) -> bool:
    """The server does not serve ``fetch_by_metadata`` (an older API or an emulator)."""
    cause = exc.__cause__
    return isinstance(cause, ApiError) and cause.status_code in _NO_FILTER_FETCH


def _transient(exc: Exception) -> bool:
    """Worth another attempt: transport trouble, timeouts, throttling, 5xx."""
    if isinstance(exc, ApiError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(
        exc,
        (
            PineconeConnectionError,
            PineconeTimeoutError,
            httpx.TransportError,
            ConnectionError,
            TimeoutError,
        ),
    )


def _sizedbatches(items: list[dict[str, Any]], max_count: int) -> Iterator[list[dict[str, Any]]]:
    """Upsert requests under both the count and the byte limit (sizes estimated, generously)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        est = 24 * len(item["values"]) + len(json.dumps(item["metadata"])) + len(item["id"]) + 64
        if batch and (len(batch) >= max_count or size + est > _MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += est
    if batch:
        yield batch


def _metadata(v: PineconeVector) -> dict[str, Any]:
    return dict(v.metadata or {})


def _query_filter(routes: Sequence[str] | None) -> dict[str, Any]:
    """Utterance points, within ``routes`` (exact names) when given."""
    if routes is None:
        return _UTTERANCE_FILTER
    return {"$and": [_UTTERANCE_FILTER, {"route": {"$in": list(dict.fromkeys(routes))}}]}


def _scored(matches: Sequence[Any]) -> list[ScoredPoint]:
    """A query's utterance matches, in the server's order (best first)."""
    out = []
    for m in matches:
        md = m.metadata or {}
        if md.get("kind") == "utterance":
            out.append(
                ScoredPoint(
                    route=str(md["route"]), utterance=str(md["utterance"]), score=float(m.score)
                )
            )
    return out


def _to_points(
    vectors: Sequence[PineconeVector], routes: Sequence[str] | None, with_vectors: bool
) -> list[RemotePoint]:
    """The utterance points among ``vectors`` (of ``routes`` when given), sorted by key."""
    wanted = None if routes is None else set(routes)
    kept = [
        (md, v)
        for v in vectors
        if (md := _metadata(v)).get("kind") == "utterance"
        and (wanted is None or md.get("route") in wanted)
    ]
    # one conversion for all rows: per-row np.asarray costs more than the JSON decode
    rows = (
        np.asarray([v.values for _, v in kept], dtype=np.float32) if with_vectors and kept else None
    )
    memo: dict[Any, Utterance] = {}
    points = [
        RemotePoint(utterance=decode_payload(md, memo), vector=None if rows is None else rows[i])
        for i, (md, _) in enumerate(kept)
    ]
    return sorted(points, key=lambda p: p.utterance.key)


class PineconeIndex(ClientRemoteIndex):
    """A Pinecone serverless index that routers mirror and sync with.

    Nothing connects before :meth:`bind` (or the first read).

    Args:
        index_name: Index name (lowercase letters, digits and ``-``, at most 45).
        api_key: API key; ``None`` reads ``PINECONE_API_KEY``.
        host: Control-plane host with scheme (default: Pinecone's public API), e.g. a local
            emulator at ``"http://127.0.0.1:5080"``.
        namespace: Namespace holding the routes (default: the index's default namespace).
        region: Region of a serverless index that :meth:`bind` creates.
        cloud: Cloud of a serverless index that :meth:`bind` creates.
        dimensions: Expected vector width; :meth:`bind` refuses another one.
        retries: Retries of a call that failed transiently (dropped connection, timeout,
            408/429/5xx) before ``RemoteUnavailableError``.
        backoff: First retry delay in seconds; doubles per retry (jittered, capped at 5 s).
        max_retry_time: No retry starts that would end later than this after the first try.
        timeout: Per-request timeout in seconds.
        ready_timeout: How long :meth:`bind` waits for a new index to become ready.
        batch_size: Most vectors per upsert request (also kept under 2 MB per request).
        client_kwargs: Extra ``Pinecone(...)`` arguments (e.g. ``proxy_url``).
        sleep: Called with each retry or polling delay (tests pass a recorder).
        aclient: A ``pinecone.AsyncIndex`` for this index's data-plane host, for native
            async reads and queries (``aquery``, ``aquery_batch``, ``afetch``,
            ``aread_meta``, and through them ``SemanticRouter.acall``/``abatch`` with
            ``mirror=False``). The caller owns it: it is never closed here, and it serves
            the event loop it was first used on (its connection pool binds to it). Build it
            with ``AsyncIndex(host=..., api_key=...)`` or ``await AsyncPinecone(...).index(name)``;
            the host must be the one Pinecone describes for ``index_name``
            (``InvalidInputError`` at the first async call otherwise).
        asleep: Async twin of ``sleep``.
        layout: ``"fingerpost"`` (default), or ``"semantic-router"`` to read (read-only) an
            index that semantic-router 0.1.x wrote. Opening an index of another layout as
            fingerpost's raises ``ForeignLayoutError`` instead of showing it empty.
    """

    backend = "Pinecone"
    _transient = staticmethod(_transient)

    def __new__(cls, *args: Any, layout: Layout = "fingerpost", **kwargs: Any) -> PineconeIndex:
        if check_layout(layout) == "semantic-router" and cls is PineconeIndex:
            from ._sr_pinecone import SemanticRouterPineconeIndex

            return super().__new__(SemanticRouterPineconeIndex)
        return super().__new__(cls)

    def __init__(
        self,
        index_name: str = "routes",
        api_key: str | None = None,
        host: str | None = None,
        namespace: str | None = None,
        region: str = "us-east-1",
        cloud: str = "aws",
        dimensions: int | None = None,
        retries: int = 3,
        backoff: float = 0.2,
        *,
        max_retry_time: float = 30.0,
        timeout: float = 10.0,
        ready_timeout: float = 300.0,
        batch_size: int = 200,
        client_kwargs: dict[str, Any] | None = None,
        sleep: Callable[[float], None] | None = None,
        aclient: AsyncIndex | None = None,
        asleep: Callable[[float], Awaitable[None]] | None = None,
        layout: Layout = "fingerpost",
    ) -> None:
        self.layout = check_layout(layout)
        if not isinstance(index_name, str) or not _INDEX_NAME.fullmatch(index_name):
            raise InvalidInputError(
                f"index_name must be 1-45 lowercase letters, digits or '-', got {index_name!r}"
            )
        key = api_key if api_key is not None else os.environ.get("PINECONE_API_KEY", "")
        if not isinstance(key, str) or not key.strip():
            raise InvalidInputError("PineconeIndex needs an api_key (or PINECONE_API_KEY)")
        if host is not None:
            _check_host(host)
        if namespace is not None and not isinstance(namespace, str):
            raise InvalidInputError(f"namespace must be a string, got {namespace!r}")
        for name, text in (("region", region), ("cloud", cloud)):
            if not isinstance(text, str) or not text:
                raise InvalidInputError(f"{name} must be a non-empty string, got {text!r}")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise InvalidInputError(f"dimensions must be an integer >= 1, got {dimensions!r}")
        for name, value in (("timeout", timeout), ("ready_timeout", ready_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{name} must be > 0, got {value!r}")
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or not 1 <= batch_size <= 1000
        ):
            raise InvalidInputError(f"batch_size must be an integer in 1..1000, got {batch_size!r}")
        if aclient is not None and not isinstance(aclient, AsyncIndex):
            raise InvalidInputError(
                f"aclient must be a pinecone.AsyncIndex, got {type(aclient).__name__}"
            )

        self.index_name = index_name
        self.namespace = namespace or ""
        self._api_key = key
        self._host = host
        self._region = region
        self._cloud = cloud
        self._expect_dim = dimensions
        self._timeout = float(timeout)
        self._ready_timeout = float(ready_timeout)
        self._batch_size = batch_size
        self._client_kwargs = dict(client_kwargs or {})
        self._policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            max_retry_time=max_retry_time,
            sleep=time.sleep if sleep is None else sleep,
            asleep=asyncio.sleep if asleep is None else asleep,
        )
        self._aclient = aclient
        self._ahost_checked = False
        self._connect_lock = threading.RLock()
        self._pc: Pinecone | None = None
        self._index: Index | None = None
        self._dim: int | None = None
        self._closed = False
        self._filter_fetch = True  # off once the server says it lacks fetch_by_metadata

    def __repr__(self) -> str:
        return f"PineconeIndex(index_name={self.index_name!r}, namespace={self.namespace!r})"

    # ---- plumbing ------------------------------------------------------------------------
    def _control(self) -> Pinecone:
        self._check_open()
        with self._connect_lock:
            if self._pc is None:
                try:
                    self._pc = Pinecone(
                        api_key=self._api_key,
                        host=self._host,
                        timeout=self._timeout,
                        retry_config=RetryConfig(max_retries=0),  # ours is the policy
                        **self._client_kwargs,
                    )
                except (ValueError, TypeError) as exc:
                    raise InvalidInputError(f"cannot configure the Pinecone client: {exc}") from exc
        return self._pc

    def _data(self, *, must_exist: bool = True) -> Index | None:
        """The data-plane client; ``None`` when the index is missing and ``must_exist`` is off."""
        self._check_open()
        with self._connect_lock:  # one data-plane client, however many threads ask at once
            if self._index is not None:
                return self._index
            pc = self._control()
            if not self._call("has_index", partial(pc.has_index, self.index_name)):
                if not must_exist:
                    return None
                raise RemoteUnavailableError(
                    f"Pinecone index {self.index_name!r} does not exist: call bind() first"
                )
            return self._open(self._wait_ready(pc))

    def _index_or_raise(self) -> Index:
        index = self._data()
        assert index is not None
        return index

    def _open(self, host: str) -> Index:
        with self._connect_lock:
            if self._index is None:
                try:
                    self._index = self._control().index(host=host)
                except (ValueError, TypeError) as exc:
                    raise RemoteUnavailableError(
                        f"Pinecone described an unusable host {host!r}: {exc}"
                    ) from exc
            return self._index

    def _wait_ready(self, pc: Pinecone) -> str:
        """Poll until the index is ready; its data-plane host."""
        start = self._policy.clock()
        delay, waited = 0.5, 0.0
        while True:
            desc = self._call("describe_index", partial(pc.describe_index, self.index_name))
            if desc.status.ready and desc.host:
                return desc.host
            if max(self._policy.clock() - start, waited) + delay > self._ready_timeout:
                raise RemoteUnavailableError(
                    f"Pinecone index {self.index_name!r} not ready after {self._ready_timeout:g} s "
                    f"(state {desc.status.state!r})"
                )
            self._policy.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

    # ---- lifecycle -----------------------------------------------------------------------
    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        return self._bind_meta(
            encoder_name, dim, self._ensure_index, f"Pinecone index {self.index_name!r}"
        )

    def _ensure_index(self, dim: int) -> bool:
        """Check the index, or create it, then open its data plane; True when it existed
        (or another agent created it meanwhile)."""
        pc = self._control()
        name = self.index_name
        existed = bool(self._call("has_index", partial(pc.has_index, name)))
        if existed:
            self._refuse_foreign(pc)
            self._check_description(pc, dim)
        else:
            spec = ServerlessSpec(cloud=self._cloud, region=self._region)
            try:
                self._call(
                    "create_index",
                    partial(
                        pc.create_index,
                        name=name,
                        dimension=dim,
                        metric="cosine",
                        spec=spec,
                        timeout=-1,
                    ),
                )
            except RemoteUnavailableError:
                # Another agent may have created it meanwhile (409): then use theirs.
                if not self._call("has_index", partial(pc.has_index, name)):
                    raise
                self._check_description(pc, dim)
                existed = True
        if self._index is None:
            self._open(self._wait_ready(pc))
        return existed

    def _refuse_foreign(self, pc: Pinecone) -> None:
        """A namespace without fingerpost's meta record must hold none but fingerpost's."""
        if self._index is None:
            self._open(self._wait_ready(pc))
        if self.read_meta() is not None:
            return
        index = self._index_or_raise()
        page = self._call(
            "list",
            partial(index.list_paginated, limit=SAMPLE, namespace=self.namespace),
        )
        ids = [v.id for v in page.vectors if v.id]
        where = f"Pinecone index {self.index_name!r} (namespace {self.namespace!r})"
        refuse_foreign((_metadata(v) for v in self._fetch_ids(ids)), where, "PineconeIndex")

    def _check_description(self, pc: Pinecone, dim: int) -> None:
        desc = self._call("describe_index", partial(pc.describe_index, self.index_name))
        try:
            width, metric = desc.dimension, desc.metric
        except AttributeError as exc:  # several or no dense fields
            raise InvalidInputError(
                f"Pinecone index {self.index_name!r} is not a single dense index: {exc}"
            ) from exc
        if width != dim:
            raise EncoderMismatchError(
                f"Pinecone index {self.index_name!r} holds {width}-dim vectors, the encoder makes {dim}"
            )
        if metric != "cosine":
            raise InvalidInputError(
                f"Pinecone index {self.index_name!r} uses {metric}; fingerpost needs cosine"
            )

    def close(self) -> None:
        """Close the data-plane and control-plane clients this index opened."""
        if self._closed:
            return
        self._closed = True
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._pc is not None:
            self._pc.close()
            self._pc = None

    # ---- content -------------------------------------------------------------------------
    def _list_ids(self, prefix: str) -> list[str]:
        index = self._index_or_raise()
        ids: list[str] = []
        token: str | None = None
        while True:
            page = self._call(
                "list",
                partial(
                    index.list_paginated,
                    prefix=prefix or None,
                    limit=_LIST_PAGE,
                    pagination_token=token,
                    namespace=self.namespace,
                ),
            )
            ids.extend(v.id for v in page.vectors if v.id)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return ids

    def _fetch_ids(self, ids: Sequence[str]) -> list[PineconeVector]:
        index = self._index_or_raise()
        out: list[PineconeVector] = []
        for chunk in batches(ids, _FETCH_CHUNK):
            response = self._call(
                "fetch", partial(index.fetch, ids=list(chunk), namespace=self.namespace)
            )
            out.extend(response.vectors.values())
        return out

    def _fetch_filtered(self, flt: dict[str, Any]) -> list[PineconeVector] | None:
        """Every vector whose metadata matches ``flt``, by pages of ``fetch_by_metadata``
        (exact, unlike a filtered query); ``None`` when the server does not serve it (an
        older API or an emulator), and the caller lists ids instead."""
        if not self._filter_fetch:
            return None
        index = self._index_or_raise()
        out: list[PineconeVector] = []
        token: str | None = None
        while True:
            try:
                page = self._call(
                    "fetch_by_metadata",
                    partial(
                        index.fetch_by_metadata,
                        filter=flt,
                        namespace=self.namespace,
                        limit=_FILTER_PAGE,
                        pagination_token=token,
                    ),
                )
            except RemoteUnavailableError as exc:
                if token is None and _no_filter_fetch(exc):
                    self._filter_fetch = False
                    return None
                raise
            out.extend(page.vectors.values())
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return out

    def _route_vectors(self, routes: Sequence[str] | None) -> list[PineconeVector]:
        """The utterance vectors of ``routes`` (every route when ``None``)."""
        if routes is None:
            found = self._fetch_filtered(_UTTERANCE_FILTER)
            return found if found is not None else self._fetch_ids(self._utterance_ids())
        names = list(dict.fromkeys(routes))
        out: list[PineconeVector] = []
        for chunk in batches(names, _FILTER_IN):
            flt = {"$and": [_UTTERANCE_FILTER, {"route": {"$in": list(chunk)}}]}
            found = self._fetch_filtered(flt)
            if found is None:
                ids = [i for r in chunk for i in self._list_ids(route_key(r) + "#")]
                found = self._fetch_ids(ids)
            out.extend(found)
        return out

    def _utterance_ids(self) -> list[str]:
        return [i for i in self._list_ids("") if _UTTERANCE_ID.fullmatch(i)]

    def get_utterances(self) -> list[Utterance]:
        return [p.utterance for p in self.fetch(with_vectors=False)]

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        return _to_points(self._route_vectors(routes), routes, with_vectors)

    def fetch_keys(self, keys: Sequence[tuple[str, str]]) -> list[RemotePoint]:
        """By id (``fetch``, 1,000 ids a request): no metadata filter."""
        if not keys:
            return []
        ids = list(dict.fromkeys(vector_id(*k) for k in keys))
        wanted = set(keys)
        return [
            p for p in _to_points(self._fetch_ids(ids), None, False) if p.utterance.key in wanted
        ]

    def validate(self, points: Sequence[RemotePoint]) -> None:
        self._items(points)

    def _items(self, points: Sequence[RemotePoint]) -> list[dict[str, Any]]:
        """Request items for ``points``; every point is checked before any is sent."""
        items = []
        for p, values in check_points(points, self._require_dim()):
            metadata = encode_payload(p.utterance)
            size = len(json.dumps(metadata).encode())
            if size > _MAX_METADATA_BYTES:
                raise InvalidInputError(
                    f"route {p.utterance.route!r}: the metadata of utterance "
                    f"{p.utterance.utterance[:40]!r} is {size} bytes, over Pinecone's 40 KB limit"
                )
            items.append(
                {"id": vector_id(*p.utterance.key), "values": values, "metadata": metadata}
            )
        return items

    def upsert(self, points: Sequence[RemotePoint]) -> None:
        items = self._items(points)
        index = self._index_or_raise()
        for batch in _sizedbatches(items, self._batch_size):
            self._call("upsert", partial(index.upsert, vectors=batch, namespace=self.namespace))

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        self._delete_ids(list(dict.fromkeys(vector_id(r, u) for r, u in keys)))

    def _delete_ids(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        index = self._index_or_raise()
        for chunk in batches(ids, _DELETE_CHUNK):
            self._call("delete", partial(index.delete, ids=list(chunk), namespace=self.namespace))

    def count(self) -> int:
        # Exact (listing ids), unlike describe_index_stats, which lags and counts every record.
        return len(self._utterance_ids())

    def query(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        index = self._index_or_raise()
        response = self._call("query", partial(index.query, **self._query_args(q, limit, routes)))
        return _scored(response.matches)

    def _query_args(
        self, q: list[float], limit: int, routes: Sequence[str] | None
    ) -> dict[str, Any]:
        """One query's arguments, for the sync and the async client alike."""
        return {
            "vector": q,
            "top_k": min(limit, _MAX_TOP_K),
            "namespace": self.namespace,
            "filter": _query_filter(routes),
            "include_metadata": True,
        }

    def query_batch(self, requests: Sequence[QueryRequest]) -> list[list[ScoredPoint]]:
        """Pinecone has no multi-query: the queries go out together on at most
        ``_QUERY_THREADS`` threads (one data-plane client, whose connection pool they share),
        so a batch waits about one round trip per ``_QUERY_THREADS`` queries, not per query."""
        if len(requests) <= 1:
            return super().query_batch(requests)
        self._index_or_raise()  # connect once, before the threads share the client
        with ThreadPoolExecutor(min(_QUERY_THREADS, len(requests))) as pool:
            return list(pool.map(lambda r: self.query(*r), requests))

    # ---- coordination --------------------------------------------------------------------
    def read_meta(self) -> RemoteMeta | None:
        index = self._data(must_exist=False)
        if index is None:
            return None
        found = self._fetch_ids([META_ID])
        if not found:
            return None
        return RemoteMeta.from_json(str(_metadata(found[0])["meta"]))

    def write_meta(self, meta: RemoteMeta) -> None:
        self._put_record(META_ID, {"kind": "meta", "meta": meta.to_json()})

    def put_ticket(self, ticket: LeaseTicket) -> None:
        self._put_record(LEASE_PREFIX + ticket.token, ticket_payload(ticket))

    def list_tickets(self) -> list[LeaseTicket]:
        vectors = self._fetch_filtered({"kind": {"$eq": "lease"}})
        if vectors is None:
            vectors = self._fetch_ids(self._list_ids(LEASE_PREFIX))
        tickets = [
            ticket_from_payload(_metadata(v))
            for v in vectors
            if _metadata(v).get("kind") == "lease"
        ]
        return sorted(tickets, key=lambda t: (t.created_at, t.token))

    def delete_ticket(self, token: str) -> None:
        self._delete_ids([LEASE_PREFIX + token])

    def _put_record(self, record_id: str, metadata: dict[str, Any]) -> None:
        item = {"id": record_id, "values": unit_vector(self._require_dim()), "metadata": metadata}
        index = self._index_or_raise()
        self._call("upsert", partial(index.upsert, vectors=[item], namespace=self.namespace))

    # ---- async twins: native with an AsyncIndex (``aclient=``), else a worker thread -------
    @property
    def native_async(self) -> bool:
        return self._aclient is not None

    async def _aindex(self, *, must_exist: bool = True) -> AsyncIndex | None:
        """The caller's ``AsyncIndex`` once the index is known to exist at its host; the
        control plane (exists? ready? which host?) is asked once, on a worker thread."""
        self._check_open()
        assert self._aclient is not None
        if not self._ahost_checked:
            index = self._index
            if index is None:
                index = await asyncio.to_thread(self._data, must_exist=must_exist)
                if index is None:
                    return None
            if index.host.rstrip("/") != self._aclient.host.rstrip("/"):
                raise InvalidInputError(
                    f"aclient targets {self._aclient.host!r}, but Pinecone index "
                    f"{self.index_name!r} is served at {index.host!r}"
                )
            self._ahost_checked = True
        return self._aclient

    async def _aclient_or_raise(self) -> AsyncIndex:
        aindex = await self._aindex()
        assert aindex is not None
        return aindex

    async def _alist_ids(self, prefix: str) -> list[str]:
        aindex = await self._aclient_or_raise()
        ids: list[str] = []
        token: str | None = None
        while True:
            page = await self._acall(
                "list",
                partial(
                    aindex.list_paginated,
                    prefix=prefix or None,
                    limit=_LIST_PAGE,
                    pagination_token=token,
                    namespace=self.namespace,
                ),
            )
            ids.extend(v.id for v in page.vectors if v.id)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return ids

    async def _afetch_ids(self, ids: Sequence[str]) -> list[PineconeVector]:
        aindex = await self._aclient_or_raise()
        out: list[PineconeVector] = []
        for chunk in batches(ids, _FETCH_CHUNK):
            response = await self._acall(
                "fetch", partial(aindex.fetch, ids=list(chunk), namespace=self.namespace)
            )
            out.extend(response.vectors.values())
        return out

    async def _afetch_filtered(self, flt: dict[str, Any]) -> list[PineconeVector] | None:
        """Async twin of ``_fetch_filtered`` (same pages, same fallback)."""
        if not self._filter_fetch:
            return None
        aindex = await self._aclient_or_raise()
        out: list[PineconeVector] = []
        token: str | None = None
        while True:
            try:
                page = await self._acall(
                    "fetch_by_metadata",
                    partial(
                        aindex.fetch_by_metadata,
                        filter=flt,
                        namespace=self.namespace,
                        limit=_FILTER_PAGE,
                        pagination_token=token,
                    ),
                )
            except RemoteUnavailableError as exc:
                if token is None and _no_filter_fetch(exc):
                    self._filter_fetch = False
                    return None
                raise
            out.extend(page.vectors.values())
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                return out

    async def _aroute_vectors(self, routes: Sequence[str] | None) -> list[PineconeVector]:
        """Async twin of ``_route_vectors``."""
        if routes is None:
            found = await self._afetch_filtered(_UTTERANCE_FILTER)
            if found is not None:
                return found
            ids = [i for i in await self._alist_ids("") if _UTTERANCE_ID.fullmatch(i)]
            return await self._afetch_ids(ids)
        names = list(dict.fromkeys(routes))
        out: list[PineconeVector] = []
        for chunk in batches(names, _FILTER_IN):
            flt = {"$and": [_UTTERANCE_FILTER, {"route": {"$in": list(chunk)}}]}
            found = await self._afetch_filtered(flt)
            if found is None:
                ids = [i for r in chunk for i in await self._alist_ids(route_key(r) + "#")]
                found = await self._afetch_ids(ids)
            out.extend(found)
        return out

    async def aget_utterances(self) -> list[Utterance]:
        return [p.utterance for p in await self.afetch(with_vectors=False)]

    async def afetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        if self._aclient is None:
            return await super().afetch(routes, with_vectors=with_vectors)
        return _to_points(await self._aroute_vectors(routes), routes, with_vectors)

    async def aquery(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        if self._aclient is None:
            return await super().aquery(vector, limit, routes)
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        aindex = await self._aclient_or_raise()
        response = await self._acall(
            "query", partial(aindex.query, **self._query_args(q, limit, routes))
        )
        return _scored(response.matches)

    async def aquery_batch(self, requests: Sequence[QueryRequest]) -> list[list[ScoredPoint]]:
        """Async twin of :meth:`query_batch`: at most ``_QUERY_THREADS`` queries in flight."""
        if self._aclient is None:
            return await super().aquery_batch(requests)
        checked = [(check_query(v, limit, self._dim), limit, r) for v, limit, r in requests]
        if any(r is None or r for _, _, r in checked):
            await self._aclient_or_raise()  # ask the control plane once, not per query
        gate = asyncio.Semaphore(_QUERY_THREADS)

        async def one(
            vector: Vector, limit: int, routes: Sequence[str] | None
        ) -> list[ScoredPoint]:
            async with gate:
                return await self.aquery(vector, limit, routes)

        # Every query runs to its end (no task left behind); the first failure is raised.
        done = await asyncio.gather(*(one(*r) for r in requests), return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException):
                raise result
        return [r for r in done if not isinstance(r, BaseException)]

    async def aquery_groups(
        self, vector: Vector, per_route: int, routes: Sequence[str] | None, n_routes: int
    ) -> list[ScoredPoint] | None:
        """Pinecone cannot group by a metadata field (as :meth:`query_groups`): no request."""
        return None

    async def aread_meta(self) -> RemoteMeta | None:
        if self._aclient is None:
            return await super().aread_meta()
        if await self._aindex(must_exist=False) is None:
            return None
        found = await self._afetch_ids([META_ID])
        if not found:
            return None
        return RemoteMeta.from_json(str(_metadata(found[0])["meta"]))


def _check_host(host: object) -> None:
    """A usable control-plane URL, or ``InvalidInputError`` now rather than an HTTP client's
    own error (``httpx.InvalidURL``) at the first request."""
    if not isinstance(host, str) or not host.strip():
        raise InvalidInputError(f"host must be a non-empty URL, got {host!r}")
    try:
        parts = urlsplit(host if "://" in host else f"https://{host}")  # ValueError: bad IPv6
        port = parts.port  # raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        raise InvalidInputError(f"host {host!r} is not a usable URL: {exc}") from exc
    name = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or not name
        or any(c.isspace() for c in host)
        or port == 0
    ):
        raise InvalidInputError(f"host {host!r} is not a usable http(s) URL")
