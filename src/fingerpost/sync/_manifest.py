"""The per-route digest manifest, for route sets whose digests do not fit the version record.

The version record carries each route's content digest inline while they fit in
``INLINE_BYTES`` (Pinecone caps a record's metadata at 40 KB, and the change log shares the
record). Beyond that, the digests travel as manifest records, split into parts, under a
fresh id per commit; the version record names the id. A writer writes the new parts first,
then commits the version record naming them, then removes the old parts: a reader that
finds its manifest incomplete (replaced under it) falls back to reading the routes.

Like write intents (``_intent``), manifest parts are stored as lease tickets that never
count as claims (created == expires, ``extra["manifest"]``), so every backend stores them
without a new record kind and a listing of the tickets (one request or page on Qdrant, a
few on Pinecone) reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..index.base import LeaseTicket
from ._tickets import join_parts, text_tickets

__all__ = ["INLINE_BYTES", "is_manifest", "manifest_tickets", "read_manifest"]

INLINE_BYTES = 8_000  # digests JSON kept in the version record up to this size


def is_manifest(ticket: LeaseTicket) -> bool:
    """A part of a digest manifest, not a claim on the lease."""
    return "manifest" in ticket.extra


def manifest_tickets(mid: str, digests: dict[str, str], now: float) -> list[LeaseTicket]:
    """``digests`` as the parts of manifest ``mid``."""
    text = json.dumps(digests, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return text_tickets("manifest", mid, text, now)


def read_manifest(tickets: Sequence[LeaseTicket], mid: str) -> dict[str, str] | None:
    """The digests of manifest ``mid``, or ``None`` if any part is missing or damaged."""
    text = join_parts(tickets, "manifest", mid)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}
