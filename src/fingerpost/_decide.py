"""Turning a snapshot and query vectors into RouteChoices: argument checks and the local
(mirror) decision. Pure: no encoder, no network, no locks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._exceptions import InvalidInputError, RouteNotFoundError
from ._head import head_inputs
from ._scoring import pruned_passing_routes
from ._table import ScoringSettings, Snapshot
from .schema import Aggregation, Route, RouteChoice

__all__ = [
    "DEFAULT_AGGREGATION",
    "DEFAULT_CENTROID_WEIGHT",
    "DEFAULT_SCORE_THRESHOLD",
    "DEFAULT_TOP_K",
    "as_routes",
    "candidates",
    "check_limit",
    "check_text",
    "decide",
    "effective_thresholds",
    "format_choices",
    "scoring_settings",
]

Vectors = NDArray[np.float32]

# Chosen by measurement on CLINC150 train/val (never test); see README "How a turn is scored".
DEFAULT_TOP_K = 5
DEFAULT_AGGREGATION = Aggregation.MAX
DEFAULT_SCORE_THRESHOLD = 0.45
DEFAULT_CENTROID_WEIGHT = 0.7


def check_text(text: object) -> str:
    """The turn itself, or ``InvalidInputError`` for non-strings and blank strings."""
    if not isinstance(text, str):
        raise InvalidInputError(f"a turn must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError("a turn must not be empty or blank")
    return text


def as_routes(routes: Route | Iterable[Route]) -> list[Route]:
    items = [routes] if isinstance(routes, Route) else list(routes)
    for r in items:
        if not isinstance(r, Route):
            raise InvalidInputError(f"expected Route objects, got {type(r).__name__}")
    return items


def scoring_settings(
    top_k: int,
    aggregation: Aggregation | str,
    threshold: float | None,
    centroid_weight: float,
    calibrate: bool = False,
) -> ScoringSettings:
    try:
        agg = Aggregation(aggregation)
    except ValueError as exc:
        raise InvalidInputError(f"aggregation must be one of max, mean, sum; got {aggregation!r}") from exc
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive int, got {top_k!r}")
    thr = DEFAULT_SCORE_THRESHOLD if threshold is None else threshold
    if not isinstance(thr, (int, float)) or not -1.0 <= float(thr) <= 1.0:
        raise InvalidInputError(f"score_threshold must be within [-1, 1], got {threshold!r}")
    if not isinstance(centroid_weight, (int, float)) or not 0.0 <= float(centroid_weight) <= 1.0:
        raise InvalidInputError(f"centroid_weight must be within [0, 1], got {centroid_weight!r}")
    return ScoringSettings(
        top_k=top_k, aggregation=agg, score_threshold=float(thr),
        centroid_weight=float(centroid_weight), calibrate=calibrate,
    )


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInputError(f"limit must be None or a positive int, got {limit!r}")


def candidates(snap: Snapshot, route_filter: Sequence[str] | None) -> NDArray[np.bool_]:
    alive = snap.alive()
    if route_filter is None:
        return alive
    if isinstance(route_filter, str):
        raise InvalidInputError("route_filter must be a list of route names, not a str")
    mask = np.zeros_like(alive)
    for name in route_filter:
        slot = snap.slot_of(name)
        if slot is None:
            raise RouteNotFoundError(f"route_filter names no route {name!r}")
        mask[slot] = True
    return mask


def format_choices(snap: Snapshot, slots: NDArray[np.int64], scores: NDArray[np.float32], limit: int | None) -> Any:
    if limit is not None:
        slots, scores = slots[:limit], scores[:limit]
    choices = [choice(snap.routes[s], sc) for s, sc in zip(slots.tolist(), scores.tolist(), strict=True)]
    if limit == 1:
        return choices[0] if choices else RouteChoice()
    return choices


def choice(route: Route, score: float) -> RouteChoice:
    return RouteChoice(name=route.name, similarity_score=score, metadata=route.metadata or None)


def effective_thresholds(snap: Snapshot) -> NDArray[np.float32]:
    """Each slot's threshold: its route's own (explicit or fitted), else its calibrated one
    (when the router calibrates), else the router's."""
    default = np.float32(snap.settings.score_threshold)
    fallback = np.where(np.isnan(snap.calibrated), default, snap.calibrated) if snap.settings.calibrate else default
    out: NDArray[np.float32] = np.where(np.isnan(snap.thresholds), fallback, snap.thresholds).astype(np.float32)
    return out


def decide(
    snap: Snapshot, queries: Vectors, limit: int | None, route_filter: Sequence[str] | None
) -> list[Any]:
    """Choices for each query against the in-memory table (one snapshot for all)."""
    cands = candidates(snap, route_filter)
    st = snap.settings
    thresholds = effective_thresholds(snap)
    cent = queries @ snap.centroids.T if snap.n_slots else np.empty((len(queries), 0), np.float32)
    head = snap.extras.get("head")
    scale, offset = (None, None) if head is None else head_inputs(head, snap, queries)
    out: list[Any] = []
    for i in range(len(queries)):
        # Branch and bound reads only the routes that can pass (exact); measured cheaper per
        # turn than one matrix product over every row, even for batches of 64.
        slots, scores = pruned_passing_routes(
            queries[i], snap.vectors, snap.starts, cands, thresholds, st.top_k, st.aggregation,
            cent[i], st.centroid_weight, snap.caps, limit,
            scale, None if offset is None else offset[i],
        )
        out.append(format_choices(snap, slots, scores, limit))
    return out
