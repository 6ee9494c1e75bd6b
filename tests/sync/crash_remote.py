"""A RemoteIndex wrapper that "dies" at its n-th write: the in-process stand-in for kill -9.

Each agent gets its own wrapper around one shared remote. From the n-th write on (content,
meta and ticket writes all count), every call raises :class:`Crash`, a ``BaseException`` that
no ``except Exception`` catches, so the agent leaves everything as a killed process would: its
lease ticket stays until it expires, its intent and pending marker stay, nothing is cleaned up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fingerpost.index.base import LeaseTicket, RemoteIndex, RemoteMeta, RemotePoint, ScoredPoint
from fingerpost.schema import Utterance


class Crash(BaseException):
    """The agent is dead (not an error anyone should handle)."""


class CrashAfter(RemoteIndex):
    def __init__(self, inner: RemoteIndex, writes: int | None = None) -> None:
        self.inner = inner
        self.index_name = inner.index_name
        self.left = writes  # writes allowed before the crash; None: never crash
        self.dead = False

    def _alive(self) -> None:
        if self.dead:
            raise Crash("this agent was killed")

    def _write(self) -> None:
        self._alive()
        if self.left is not None:
            if self.left == 0:
                self.dead = True
                raise Crash("killed before this write")
            self.left -= 1

    def bind(self, encoder_name: str, dim: int) -> RemoteMeta:
        self._alive()
        return self.inner.bind(encoder_name, dim)

    def get_utterances(self) -> list[Utterance]:
        self._alive()
        return self.inner.get_utterances()

    def fetch(
        self, routes: Sequence[str] | None = None, *, with_vectors: bool = True
    ) -> list[RemotePoint]:
        self._alive()
        return self.inner.fetch(routes, with_vectors=with_vectors)

    def validate(self, points: Sequence[RemotePoint]) -> None:
        self._alive()
        self.inner.validate(points)

    def upsert(self, points: Sequence[RemotePoint]) -> None:
        self._write()
        self.inner.upsert(points)

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        self._write()
        self.inner.delete(keys)

    def count(self) -> int:
        self._alive()
        return self.inner.count()

    def query(
        self, vector: Any, limit: int, routes: Sequence[str] | None = None
    ) -> list[ScoredPoint]:
        self._alive()
        return self.inner.query(vector, limit, routes)

    def read_meta(self) -> RemoteMeta | None:
        self._alive()
        return self.inner.read_meta()

    def write_meta(self, meta: RemoteMeta) -> None:
        self._write()
        self.inner.write_meta(meta)

    def put_ticket(self, ticket: LeaseTicket) -> None:
        self._write()
        self.inner.put_ticket(ticket)

    def list_tickets(self) -> list[LeaseTicket]:
        self._alive()
        return self.inner.list_tickets()

    def delete_ticket(self, token: str) -> None:
        self._write()
        self.inner.delete_ticket(token)


def expire_tickets(remote: RemoteIndex, owners: set[str] | None = None) -> int:
    """Let time pass for the lease: live tickets (of ``owners``, or all) become expired."""
    n = 0
    for t in remote.list_tickets():
        if "intent" in t.extra or (owners is not None and t.owner not in owners):
            continue
        if t.expires_at > 0:
            remote.delete_ticket(t.token)
            remote.put_ticket(replace(t, created_at=0.0, expires_at=0.0))
            n += 1
    return n
