"""An in-memory RemoteIndex for unit tests of the sync engine (our interface, not a client
mock): deterministic, countable, and able to fail at the n-th write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from fingerpost import EncoderMismatchError, RemoteUnavailableError
from fingerpost.index.base import LeaseTicket, RemoteIndex, RemoteMeta, RemotePoint, ScoredPoint
from fingerpost.schema import Utterance


class MemoryRemote(RemoteIndex):
    def __init__(self, index_name: str = "mem") -> None:
        self.index_name = index_name
        self.points: dict[tuple[str, str], RemotePoint] = {}
        self.meta: RemoteMeta | None = None
        self.tickets: dict[str, LeaseTicket] = {}
        self.writes: list[str] = []
        self.fetches: list[tuple[str, ...] | None] = []
        self.fail_at: int | None = None  # fail the n-th content/meta write from now (1-based)
        self.before_write: Callable[[str], None] | None = None
        self._lock = threading.Lock()

    def _write(self, kind: str) -> None:
        if self.before_write is not None:
            self.before_write(kind)
        with self._lock:
            if self.fail_at is not None:
                self.fail_at -= 1
                if self.fail_at == 0:
                    self.fail_at = None
                    raise RemoteUnavailableError(f"injected failure on {kind}")
            self.writes.append(kind)

    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        if self.meta is None:
            self.meta = RemoteMeta(encoder_name, dim)
        elif (self.meta.encoder_name, self.meta.encoder_dim) != (encoder_name, dim):
            raise EncoderMismatchError("remote built with another encoder")
        return self.meta

    def get_utterances(self) -> list[Utterance]:
        return [p.utterance for p in self.points.values()]

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        self.fetches.append(None if routes is None else tuple(routes))
        want = None if routes is None else set(routes)
        return [
            p if with_vectors else RemotePoint(p.utterance, None)
            for p in self.points.values()
            if want is None or p.utterance.route in want
        ]

    def upsert(self, points: Sequence[RemotePoint]) -> None:
        self._write("upsert")
        for p in points:
            assert p.vector is not None
            self.points[p.utterance.key] = RemotePoint(
                p.utterance, np.asarray(p.vector, np.float32)
            )

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        self._write("delete")
        for k in keys:
            self.points.pop(k, None)

    def count(self) -> int:
        return len(self.points)

    def query(self, vector, limit, routes=None):  # type: ignore[no-untyped-def]
        hits = [
            ScoredPoint(p.utterance.route, p.utterance.utterance, float(p.vector @ vector))  # type: ignore[operator]
            for p in self.points.values()
            if routes is None or p.utterance.route in routes
        ]
        return sorted(hits, key=lambda h: -h.score)[:limit]

    def read_meta(self) -> RemoteMeta | None:
        return self.meta

    def write_meta(self, meta: RemoteMeta) -> None:
        self._write("meta")
        self.meta = meta

    def put_ticket(self, ticket: LeaseTicket) -> None:
        self.tickets[ticket.token] = ticket

    def list_tickets(self) -> list[LeaseTicket]:
        return list(self.tickets.values())

    def delete_ticket(self, token: str) -> None:
        self.tickets.pop(token, None)
