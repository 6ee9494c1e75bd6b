"""semantic-router 0.1.x's route decision, exactly (pure: similarities in, choices out).

semantic-router takes the ``top_k`` nearest utterances of *all* routes, groups their
similarities by route, aggregates each group (``mean``, ``max``, or a raw ``sum``), and walks
the routes best first: a route passes when its score reaches its threshold, and a threshold of
``None`` or ``0.0`` lets it pass whatever the score (a truthiness test). fingerpost scores each
route over its own nearest utterances instead (see ``fingerpost.engine._scoring``), which differs when
other routes' utterances take some of the ``top_k`` places; the compat layer uses this
function so code written for semantic-router gets semantic-router's answers.
(``semantic_router/routers/base.py``: ``__call__``, ``_score_routes``, ``_pass_routes``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["sr_decide"]

_AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "max": max,
    "sum": lambda v: float(sum(v)),
}


def sr_decide(
    sims: NDArray[np.float32],
    row_routes: Sequence[str],
    thresholds: Mapping[str, float | None],
    top_k: int,
    aggregation: str,
    limit: int | None,
    route_filter: Sequence[str] | None = None,
) -> list[tuple[str, float]]:
    """Passing ``(route, score)`` pairs, best first, at most ``limit`` (``None``: all).

    Args:
        sims: cosine similarity of the turn to every stored utterance (row).
        row_routes: the route of each row.
        thresholds: each route's effective threshold (``None``/``0.0``: always passes).
        top_k: rows looked at, over all routes.
        aggregation: ``"mean"``, ``"max"`` or ``"sum"`` of a route's rows among them.
        limit: most routes returned.
        route_filter: only rows of these routes are candidates.
    """
    agg = _AGGREGATE[aggregation]
    candidates = np.arange(len(row_routes))
    if route_filter is not None:
        allowed = set(route_filter)
        candidates = np.asarray(
            [i for i, r in enumerate(row_routes) if r in allowed], dtype=np.int64
        )
    if candidates.size == 0:
        return []
    order = candidates[np.argsort(-sims[candidates], kind="stable")[:top_k]]
    groups: dict[str, list[float]] = {}
    for i in order.tolist():
        groups.setdefault(row_routes[i], []).append(float(sims[i]))
    scored = sorted(((r, agg(v)) for r, v in groups.items()), key=lambda x: x[1], reverse=True)
    passed: list[tuple[str, float]] = []
    for route, score in scored:
        threshold = thresholds.get(route)
        if not threshold or score >= threshold:
            passed.append((route, score))
            if limit is not None and len(passed) >= limit:
                break
    return passed
