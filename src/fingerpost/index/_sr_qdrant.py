"""``QdrantIndex(..., layout="semantic-router")``: a read-only view of a collection that
semantic-router 0.1.x wrote (layout in :mod:`fingerpost.index._sr_layout`).

It reads routes, utterances, metadata and vectors, and answers queries, so a router can
route from it and :func:`fingerpost.migrate` can copy it; every write raises
``ForeignLayoutError`` (two tools writing one collection in two layouts would corrupt it).
semantic-router keeps no function schemas in Qdrant, so none come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
from qdrant_client import models

from .._exceptions import EncoderMismatchError, InvalidInputError
from ._records import check_bind_args, check_query
from ._sr_layout import SR_ROUTE, SR_UTTERANCE, utterance_from_qdrant
from ._sr_view import SemanticRouterView
from .base import RemoteMeta, RemotePoint, ScoredPoint, Vector
from .qdrant import QdrantIndex

__all__ = ["SemanticRouterQdrantIndex"]


def _route_filter(routes: Sequence[str] | None) -> models.Filter | None:
    if routes is None:
        return None
    return models.Filter(
        must=[models.FieldCondition(key=SR_ROUTE, match=models.MatchAny(any=list(routes)))]
    )


class SemanticRouterQdrantIndex(SemanticRouterView, QdrantIndex):
    """Read-only: semantic-router 0.1.x's Qdrant collection seen as a fingerpost remote."""

    def _where(self) -> str:
        return f"Qdrant collection {self.index_name!r}"

    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        check_bind_args(encoder_name, dim)
        client = self._sync()
        name = self.index_name
        if not self._call("collection_exists", partial(client.collection_exists, name)):
            raise InvalidInputError(
                f"Qdrant collection {name!r} does not exist (layout='semantic-router' only reads)"
            )
        info = self._call("get_collection", partial(client.get_collection, name))
        params = info.config.params.vectors
        if not isinstance(params, models.VectorParams):
            raise InvalidInputError(f"Qdrant collection {name!r} has named vectors")
        if params.size != dim:
            raise EncoderMismatchError(
                f"Qdrant collection {name!r} holds {params.size}-dim vectors, the encoder makes "
                f"{dim}: semantic-router wrote it with another encoder"
            )
        self._dim, self._encoder_name = dim, encoder_name
        meta = self.read_meta()
        assert meta is not None
        return meta

    def _records(self, routes: Sequence[str] | None, with_vectors: bool) -> list[models.Record]:
        client = self._sync()
        out: list[models.Record] = []
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = self._call(
                "scroll",
                partial(
                    client.scroll,
                    self.index_name,
                    scroll_filter=_route_filter(routes),
                    limit=self._page_size,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                ),
            )
            out.extend(r for r in page if r.payload and SR_ROUTE in r.payload)
            if offset is None:
                return out

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        if routes is not None and not routes:
            return []
        points = []
        for r in self._records(routes, with_vectors):
            vector = None
            if with_vectors:
                if not isinstance(r.vector, list):
                    raise InvalidInputError(f"point {r.id} has no single unnamed vector")
                vector = np.asarray(r.vector, dtype=np.float32)
            points.append(RemotePoint(utterance_from_qdrant(r.payload or {}), vector))
        return sorted(points, key=lambda p: p.utterance.key)

    def count(self) -> int:
        return len(self._records(None, False))

    def query(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        client = self._sync()
        response = self._call(
            "query_points",
            partial(
                client.query_points,
                self.index_name,
                query=q,
                query_filter=_route_filter(routes),
                limit=limit,
                with_payload=[SR_ROUTE, SR_UTTERANCE],
            ),
        )
        return [
            ScoredPoint(str(p.payload[SR_ROUTE]), str(p.payload[SR_UTTERANCE]), float(p.score))
            for p in response.points
            if p.payload and SR_ROUTE in p.payload
        ]
