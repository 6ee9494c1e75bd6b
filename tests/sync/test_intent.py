"""Write intents (``sync._intent``): split over tickets small enough for Pinecone's 40 KB
metadata limit, read back whole or not at all, never mistaken for a lease holder."""

from __future__ import annotations

import json
from dataclasses import replace

from fingerpost import Route
from fingerpost.index._records import ticket_payload
from fingerpost.sync._intent import Intent, intent_tickets, is_intent, read_intent

ROUTES = (
    Route(
        name='big "quoted" ü',
        utterances=[f'utterance "{i}" \\ ü' for i in range(3000)],
        metadata={"k": ["v", {"n": 1}]},
        function_schemas=[{"name": "f"}],
        score_threshold=0.4,
    ),
    Route(name="small", utterances=["x"]),
)


def test_a_long_intent_round_trips_over_tickets_under_40_kb() -> None:
    intent = Intent(ROUTES, ("gone", "also gone"))
    tickets = intent_tickets("t1", intent, 5.0)
    assert len(tickets) > 5
    for t in tickets:
        assert is_intent(t) and t.expires_at <= t.created_at  # never a live lease claim
        assert len(json.dumps(ticket_payload(t)).encode()) < 40_000
    assert read_intent(list(reversed(tickets)), "t1") == intent
    assert read_intent(tickets, "other") is None


def test_a_missing_or_damaged_part_reads_as_no_intent() -> None:
    tickets = intent_tickets("t2", Intent(ROUTES, ()), 0.0)
    assert read_intent(tickets[:-1], "t2") is None
    first = tickets[0]
    damaged = replace(first, extra={**first.extra, "data": "{not json"})
    assert read_intent([damaged, *tickets[1:]], "t2") is None
