"""``PineconeIndex(..., layout="semantic-router")``: a read-only view of an index (one
namespace) that semantic-router 0.1.x wrote (layout in :mod:`fingerpost.index._sr_layout`).

semantic-router creates ``dotproduct`` indexes by default; its vectors are read as they are
(routers normalise them), and query scores follow the index's metric. Every write raises
``ForeignLayoutError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._exceptions import EncoderMismatchError, InvalidInputError
from ._records import check_bind_args, check_query
from ._sr_layout import SR_CONFIG, SR_ROUTE, utterance_from_pinecone
from ._sr_view import SemanticRouterView
from .base import RemoteMeta, RemotePoint, ScoredPoint, Vector
from .pinecone import PineconeIndex

__all__ = ["SemanticRouterPineconeIndex"]

_MAX_TOP_K = 10_000


class SemanticRouterPineconeIndex(SemanticRouterView, PineconeIndex):
    """Read-only: semantic-router 0.1.x's Pinecone namespace seen as a fingerpost remote."""

    def _where(self) -> str:
        return f"Pinecone index {self.index_name!r}"

    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        check_bind_args(encoder_name, dim)
        if self.namespace == SR_CONFIG:
            raise InvalidInputError(
                "namespace 'sr_config' holds semantic-router's config, not routes"
            )
        pc = self._control()
        name = self.index_name
        if not self._call("has_index", partial(pc.has_index, name)):
            raise InvalidInputError(
                f"Pinecone index {name!r} does not exist (layout='semantic-router' only reads)"
            )
        desc = self._call("describe_index", partial(pc.describe_index, name))
        if desc.dimension != dim:
            raise EncoderMismatchError(
                f"Pinecone index {name!r} holds {desc.dimension}-dim vectors, the encoder makes "
                f"{dim}: semantic-router wrote it with another encoder"
            )
        if self._index is None:
            self._open(self._wait_ready(pc))
        self._dim, self._encoder_name = dim, encoder_name
        meta = self.read_meta()
        assert meta is not None
        return meta

    def _vectors(self, routes: Sequence[str] | None) -> list[Any]:
        wanted = None if routes is None else set(routes)
        return [
            v
            for v in self._fetch_ids(self._list_ids(""))
            if v.metadata
            and SR_ROUTE in v.metadata
            and (wanted is None or v.metadata[SR_ROUTE] in wanted)
        ]

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        if routes is not None and not routes:
            return []
        points = [
            RemotePoint(
                utterance_from_pinecone(v.metadata),
                np.asarray(v.values, dtype=np.float32) if with_vectors else None,
            )
            for v in self._vectors(routes)
        ]
        return sorted(points, key=lambda p: p.utterance.key)

    def count(self) -> int:
        return len(self._vectors(None))

    def query(
        self, vector: Vector, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        q = check_query(vector, limit, self._dim)
        if routes is not None and not routes:
            return []
        flt: dict[str, Any] = {SR_ROUTE: {"$exists": True}}
        if routes is not None:
            flt = {SR_ROUTE: {"$in": list(dict.fromkeys(routes))}}
        index = self._index_or_raise()
        response = self._call(
            "query",
            partial(
                index.query,
                vector=q,
                top_k=min(limit, _MAX_TOP_K),
                namespace=self.namespace,
                filter=flt,
                include_metadata=True,
            ),
        )
        return [
            ScoredPoint(str(md[SR_ROUTE]), str(md["sr_utterance"]), float(m.score))
            for m in response.matches
            if (md := m.metadata or {}) and SR_ROUTE in md
        ]
