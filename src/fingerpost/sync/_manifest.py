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

__all__ = ["INLINE_BYTES", "is_manifest", "manifest_tickets", "read_manifest"]

INLINE_BYTES = 8_000  # digests JSON kept in the version record up to this size
CHUNK = 12_000  # characters of ASCII JSON per part (escaped once more it stays under 40 KB)


def is_manifest(ticket: LeaseTicket) -> bool:
    """A part of a digest manifest, not a claim on the lease."""
    return "manifest" in ticket.extra


def manifest_tickets(mid: str, digests: dict[str, str], now: float) -> list[LeaseTicket]:
    """``digests`` as the parts of manifest ``mid``."""
    text = json.dumps(digests, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    parts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    return [
        LeaseTicket(
            f"manifest-{mid}-{i}",
            "manifest",
            now,
            now,
            {"manifest": mid, "part": i, "of": len(parts), "data": p},
        )
        for i, p in enumerate(parts)
    ]


def read_manifest(tickets: Sequence[LeaseTicket], mid: str) -> dict[str, str] | None:
    """The digests of manifest ``mid``, or ``None`` if any part is missing or damaged."""
    parts: dict[int, str] = {}
    total = -1
    for t in tickets:
        if t.extra.get("manifest") == mid:
            parts[int(t.extra["part"])] = str(t.extra["data"])
            total = int(t.extra["of"])
    if total < 1 or sorted(parts) != list(range(total)):
        return None
    try:
        data = json.loads("".join(parts[i] for i in range(total)))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}
