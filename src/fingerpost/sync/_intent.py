"""Write intents: what an unfinished remote write was making, so the next writer can finish it.

A remote offers no transaction over many points. A writer therefore records, under the
lease and before its first point upload, the routes it is writing (whole routes: text and
fields, no vectors) and the names it is deleting; then marks the version record
``pending``; then uploads; then commits the version record and drops the intent. A writer
killed in between leaves the marker and the intent. Readers keep their copy of the pending
routes meanwhile; the next writer replays the intent (its uploads are idempotent, and only
the vectors nobody uploaded are encoded), so the write either never shows or shows whole.

Intents travel as lease tickets (``extra["intent"]``) so every backend stores them without a
new record kind; :func:`is_intent` keeps them out of the lease's reckoning. A long intent is
split over several tickets, each small enough for Pinecone's 40 KB metadata limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from ..index.base import LeaseTicket
from ..schema import Route
from ._tickets import join_parts, text_tickets

__all__ = ["Intent", "intent_tickets", "is_intent", "read_intent"]


@dataclass(frozen=True)
class Intent:
    """The routes a write makes whole (upserts) and the routes it removes (deletes)."""

    upserts: tuple[Route, ...]
    deletes: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*(r.name for r in self.upserts), *self.deletes]))


def is_intent(ticket: LeaseTicket) -> bool:
    """An intent record, not a claim on the lease."""
    return "intent" in ticket.extra


def intent_tickets(txn: str, intent: Intent, now: float) -> list[LeaseTicket]:
    """``intent`` as tickets of transaction ``txn`` (never live: created == expires)."""
    text = json.dumps(
        {
            "upserts": [r.model_dump(mode="json") for r in intent.upserts],
            "deletes": list(intent.deletes),
        },
        ensure_ascii=True,
        sort_keys=True,
    )
    return text_tickets("intent", txn, text, now)


def read_intent(tickets: Sequence[LeaseTicket], txn: str) -> Intent | None:
    """The intent of ``txn`` from the tickets present, or ``None`` if any part is missing."""
    text = join_parts(tickets, "intent", txn)
    if text is None:
        return None
    try:
        data = json.loads(text)
        return Intent(
            tuple(Route(**r) for r in data["upserts"]), tuple(str(n) for n in data["deletes"])
        )
    except (ValueError, KeyError, TypeError):  # a damaged intent: recovered without it
        return None
