"""What the two read-only semantic-router views (``_sr_qdrant``, ``_sr_pinecone``) share:
the stand-in version record, the refused writes, and the reads that must not fall through to
fingerpost's own layout (grouped and batched queries, native async twins)."""

from __future__ import annotations

from collections.abc import Sequence

from .._exceptions import ForeignLayoutError
from ..schema import Utterance
from ._remote import ClientRemoteIndex
from ._sr_layout import read_only_error
from .base import (
    LeaseTicket,
    QueryRequest,
    RemoteIndex,
    RemoteMeta,
    RemotePoint,
    ScoredPoint,
    Vector,
)

__all__ = ["SemanticRouterView"]


class SemanticRouterView(ClientRemoteIndex):
    """Mixed in before ``QdrantIndex``/``PineconeIndex`` by the semantic-router views."""

    _encoder_name = ""

    def _where(self) -> str:
        """The collection or index, as error messages name it."""
        return f"{self.backend} index {self.index_name!r}"

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + ", layout='semantic-router')"

    def get_utterances(self) -> list[Utterance]:
        return [p.utterance for p in self.fetch(with_vectors=False)]

    def read_meta(self) -> RemoteMeta | None:
        """A stand-in version record: semantic-router keeps no encoder name in the index, so
        the bound encoder's is reported; an empty content hash makes every sync check diff."""
        dim = self._require_dim()
        return RemoteMeta(encoder_name=self._encoder_name, encoder_dim=dim, count=self.count())

    # ---- reads in semantic-router's layout: one plain query at a time --------------------
    def query_groups(
        self, vector: Vector, per_route: int, routes: Sequence[str] | None, n_routes: int
    ) -> list[ScoredPoint] | None:
        return None

    def query_batch(self, requests: Sequence[QueryRequest]) -> list[list[ScoredPoint]]:
        return [self.query(v, limit, routes) for v, limit, routes in requests]

    aget_utterances = RemoteIndex.aget_utterances
    afetch = RemoteIndex.afetch
    aquery = RemoteIndex.aquery
    aread_meta = RemoteIndex.aread_meta
    aquery_batch = RemoteIndex.aquery_batch
    aquery_groups = RemoteIndex.aquery_groups
    native_async = RemoteIndex.native_async

    # ---- writes are refused --------------------------------------------------------------
    def _refuse(self, what: str) -> ForeignLayoutError:
        return read_only_error(self._where(), what)

    def upsert(self, points: Sequence[RemotePoint]) -> None:
        raise self._refuse("upsert")

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        raise self._refuse("delete")

    def write_meta(self, meta: RemoteMeta) -> None:
        raise self._refuse("a version record")

    def put_ticket(self, ticket: LeaseTicket) -> None:
        raise self._refuse("a sync lease")

    def list_tickets(self) -> list[LeaseTicket]:
        return []

    def delete_ticket(self, token: str) -> None:
        raise self._refuse("a sync lease")
