"""Shared pieces of the local reliability tests: routers over the deterministic HashEncoder."""

from __future__ import annotations

from pathlib import Path

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

ROUTES = [
    Route(name="weather", utterances=["what is the weather", "will it rain today", "is it sunny"]),
    Route(name="food", utterances=["order a pizza", "i want sushi", "book a table for dinner"]),
]


def router(
    path: Path | None = None, routes: list[Route] | None = None, **kw: object
) -> SemanticRouter:
    index = LocalIndex(path=path) if path is not None else LocalIndex()
    return SemanticRouter(
        routes=routes, encoder=HashEncoder(), index=index, score_threshold=0.3, **kw
    )  # type: ignore[arg-type]


def state(r: SemanticRouter) -> tuple[object, ...]:
    """Everything a failed call must leave unchanged: routes, thresholds, settings."""
    return (
        [x.model_dump() for x in r.routes],
        r.get_thresholds(),
        r.score_threshold,
        r.to_config().model_dump(),
    )
