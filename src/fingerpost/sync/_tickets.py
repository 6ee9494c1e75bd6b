"""Text stored as lease tickets that never count as claims (created == expires): how write
intents (``_intent``) and digest manifests (``_manifest``) ride on every backend without a new
record kind. Long text is split into parts, each small enough for Pinecone's 40 KB metadata
limit; a reader gets the text back only when every part is present."""

from __future__ import annotations

from collections.abc import Sequence

from ..index.base import LeaseTicket

__all__ = ["CHUNK", "join_parts", "text_tickets"]

CHUNK = 12_000  # characters of ASCII JSON per part; escaped once more it stays under 40 KB


def text_tickets(kind: str, key: str, text: str, now: float) -> list[LeaseTicket]:
    """``text`` as the parts of record ``key`` of ``kind`` (``extra[kind] == key``)."""
    parts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    return [
        LeaseTicket(
            f"{kind}-{key}-{i}", kind, now, now, {kind: key, "part": i, "of": len(parts), "data": p}
        )
        for i, p in enumerate(parts)
    ]


def join_parts(tickets: Sequence[LeaseTicket], kind: str, key: str) -> str | None:
    """The text of record ``key`` of ``kind``, or ``None`` if any part is missing."""
    parts: dict[int, str] = {}
    total = -1
    for t in tickets:
        if t.extra.get(kind) == key:
            parts[int(t.extra["part"])] = str(t.extra["data"])
            total = int(t.extra["of"])
    if total < 1 or sorted(parts) != list(range(total)):
        return None
    return "".join(parts[i] for i in range(total))
