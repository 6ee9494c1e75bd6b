"""A write lease on a remote that offers no compare-and-set.

Protocol (each agent): write my ticket, then list all tickets. If any other live ticket is
there, withdraw mine and retry later; otherwise I hold the lease.

Why at most one agent proceeds: if A's listing misses B's ticket, B wrote it after A listed,
so B's own listing (after its write) sees A's ticket and B withdraws. Two agents can both
withdraw (then both retry after a random back-off), but never both proceed. This needs
read-your-writes on single records (Qdrant with ``wait=true``; Pinecone's freshness is
eventual, so there the lease narrows races rather than excluding them).

A crashed holder's ticket expires after ``ttl`` seconds and is then ignored and cleaned up.
Write intents (``_intent``) and digest manifests (``_manifest``) are stored as tickets too;
they never count as a holder.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from .._exceptions import LeaseHeldError
from ..index.base import LeaseTicket, RemoteIndex
from ._intent import is_intent
from ._manifest import is_manifest

__all__ = ["Lease", "default_owner"]


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """Acquire/release the remote's write lease.

    Args:
        remote: The shared index.
        owner: Who holds it (shown in errors).
        ttl: Seconds a ticket stays valid; a holder that dies is ignored after this.
        wait: Seconds to keep retrying before ``LeaseHeldError``; 0 fails at once.
    """

    def __init__(
        self,
        remote: RemoteIndex,
        *,
        owner: str | None = None,
        ttl: float = 30.0,
        wait: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.remote, self.owner, self.ttl, self.wait = remote, owner or default_owner(), ttl, wait
        self._clock, self._sleep = clock, sleep
        self._rng = random.Random()
        # Tickets of ours that may still be on the remote (a put whose answer was lost, a
        # release that failed): never mistaken for another agent's, removed on the next try.
        self._orphans: set[str] = set()
        # Write intents seen by the last attempt (``_intent``): not claims on the lease.
        self.intents: list[LeaseTicket] = []
        # Digest manifest parts seen by the last attempt (``_manifest``): read without a request.
        self.manifests: list[LeaseTicket] = []

    def try_acquire(self) -> tuple[str | None, list[LeaseTicket]]:
        """One attempt: my token if I hold the lease now, else None and the live others."""
        for old in list(self._orphans):
            self.remote.delete_ticket(old)
            self._orphans.discard(old)
        now = self._clock()
        token = uuid.uuid4().hex
        self._orphans.add(token)
        self.remote.put_ticket(LeaseTicket(token, self.owner, now, now + self.ttl))
        self._orphans.discard(token)
        try:
            listed = self.remote.list_tickets()
            self.intents = [t for t in listed if is_intent(t)]  # the writer's recovery reads them
            self.manifests = [t for t in listed if is_manifest(t)]
            tickets = [t for t in listed if not is_intent(t) and not is_manifest(t)]
            now = self._clock()
            others = [t for t in tickets if t.token != token and t.expires_at > now]
            for t in tickets:
                if t.token != token and t.expires_at <= now:
                    self.remote.delete_ticket(t.token)  # a crashed holder's leftovers
        except BaseException:
            self._orphans.add(token)
            raise
        if others:
            self.release(token)
            return None, others
        return token, []

    def acquire(self) -> str:
        deadline = self._clock() + self.wait
        delay = 0.05
        while True:
            token, others = self.try_acquire()
            if token is not None:
                return token
            if self._clock() >= deadline:
                holder = min(others, key=lambda t: t.created_at)
                raise LeaseHeldError(
                    f"the sync lease on {self.remote.index_name!r} is held by {holder.owner} "
                    f"(expires in {max(0.0, holder.expires_at - self._clock()):.1f} s)"
                )
            self._sleep(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2, 1.0)

    def release(self, token: str) -> None:
        self._orphans.add(token)
        self.remote.delete_ticket(token)
        self._orphans.discard(token)

    @contextmanager
    def held(self) -> Iterator[str]:
        token = self.acquire()
        try:
            yield token
        finally:
            with suppress(Exception):  # remembered as an orphan; it also expires on its own
                self.release(token)
