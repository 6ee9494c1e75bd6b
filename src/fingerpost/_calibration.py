"""Pure numpy: a route's threshold from how ordinary turns score against it.

No router, no I/O, no threads: arrays in, a number out, equal inputs give equal outputs.

Why this should carry over to routes and data nobody here has seen (nothing below is a
constant fitted to one benchmark):

* A raw cosine threshold means different things for a broad topic (politics: its turns score
  0.3 against a handful of examples) and a narrow intent (a refund: 0.6). What is comparable
  across routes is how *ordinary* turns score against each route. So each route's threshold is
  the ``1 - target_fpr`` quantile of the scores of a background corpus of ordinary turns: by
  construction about ``target_fpr`` of turns like the background pass it, whatever the route.
* The background may hold turns of the route's own topic (a ``card_arrival`` route and a
  background with banking turns). Counting those as "ordinary" would push the threshold up
  to where the route's own turns fail. So background turns that sit inside the route's own
  neighbourhood are left out first: those that score at least as high as the route's own
  utterances score against the rest of the route (leave-one-out, the median of them: one odd
  utterance must not open the whole neighbourhood). What is left out is measured on the
  route's own scale, so it is the same rule for a broad topic and a narrow intent. At most
  ``target_fpr`` of the background is left out (the highest-scoring turns): the threshold
  then lets through at most the target share of the rest and at most twice the target of
  the whole background, however loose the route (a route whose examples are unrelated to
  each other has a neighbourhood as wide as the background itself). A topic that fills more
  than that share of the background raises its threshold towards the router default.
* The threshold is never above the router's default threshold:
  calibration loosens a route whose ordinary competitors score far below that default (a
  broad topic, a few examples), it never makes a route stricter than an uncalibrated router
  would. Dense routes, whose ordinary turns already score near the default, keep it.
"""

from __future__ import annotations

import math

import numpy as np

from ._defaults import DEFAULT_TARGET_FPR
from ._scoring import all_route_scores
from ._table import ScoringSettings
from ._types import F32

__all__ = ["DEFAULT_TARGET_FPR", "calibrated_threshold", "check_target_fpr", "leave_one_out", "route_score"]


def check_target_fpr(value: object) -> float:
    """``value`` as a float in (0, 0.5], else ``ValueError`` (the caller maps it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 0.5:
        raise ValueError(f"target_fpr must be within (0, 0.5], got {value!r}")
    return float(value)


def route_score(route: F32, queries: F32, settings: ScoringSettings) -> F32:
    """(n,) scores of ``queries`` against one route made of the unit rows ``route``, exactly as
    the router scores a turn (aggregate of the route's top-k, blended with its centroid)."""
    centroid = route.mean(axis=0)
    centroid = (centroid / max(float(np.linalg.norm(centroid)), 1e-12)).astype(np.float32)
    out = all_route_scores(
        queries @ route.T, np.zeros(1, np.int64), settings.top_k, settings.aggregation,
        (queries @ centroid)[:, None], settings.centroid_weight,
    )
    return out[:, 0]


def leave_one_out(route: F32, settings: ScoringSettings) -> F32:
    """(k,) each utterance's score against the route without it (empty when k < 2)."""
    k = route.shape[0]
    if k < 2:
        return np.empty(0, np.float32)
    keep = ~np.eye(k, dtype=bool)
    return np.array(
        [route_score(route[keep[i]], route[i : i + 1], settings)[0] for i in range(k)],
        dtype=np.float32,
    )


def calibrated_threshold(
    route: F32, background: F32, settings: ScoringSettings, target_fpr: float
) -> float:
    """The route's threshold: the ``1 - target_fpr`` quantile of background scores, after
    leaving out background turns inside the route's neighbourhood.

    Args:
        route: (k, d) the route's unit utterance vectors.
        background: (n, d) unit vectors of ordinary turns (same encoder).
        settings: The router's scoring settings (the threshold applies to that score).
        target_fpr: Share of ordinary turns allowed to pass.

    Returns:
        A threshold within [-1, 1], rounded to 6 decimals (stable across platforms' float
        noise, so configs and stores compare equal).
    """
    if background.shape[0] == 0 or route.shape[0] == 0:
        return float(settings.score_threshold)
    scores = route_score(route, background, settings).astype(np.float64)
    loo = leave_one_out(route, settings)
    # One utterance: no neighbourhood to measure; only (near-)copies of it are left out.
    level = float(np.median(loo)) if loo.size else 1.0 - 1e-6
    # At most as many turns as the target lets through are left out: then at most twice the
    # target of the whole background passes, however wide a loose route's neighbourhood is.
    budget = math.floor(scores.shape[0] * target_fpr)
    ranked = np.sort(scores)[::-1]
    inside = min(int((ranked >= level).sum()), budget)
    kept = ranked[inside:]
    if kept.size == 0:
        return float(settings.score_threshold)
    t = float(np.quantile(kept, 1.0 - target_fpr, method="higher"))
    # just above the quantile turn itself (rounded up): "score >= t" then lets through at
    # most the target share of kept turns
    t = math.floor(t * 1e6 + 1.0) / 1e6
    return min(max(t, -1.0), 1.0, settings.score_threshold)
