"""Pure numpy: a route's gate against ordinary turns, and its pass level.

No router, no I/O, no threads: arrays in, numbers out, equal inputs give equal outputs.

Why this should carry over to routes and data nobody here has seen (nothing below is a
constant fitted to one benchmark):

* A raw cosine threshold means different things for a broad topic (politics: its turns score
  0.3 against a handful of examples) and a narrow intent (a refund: 0.6). What is comparable
  across routes is how the route's examples differ from *ordinary* turns. So a calibrated
  route gets a **gate**: a linear one-vs-background model on the frozen embeddings (the
  route's utterances against a background corpus of ordinary turns, class-balanced, L2
  regularised; closed form, least squares = Fisher's discriminant, one 385 x 385 solve), and
  the gate's pass level is set on *held-out* background turns (two folds: each half is
  scored by the model trained on the other half), so the level is an honest estimate of how
  many ordinary turns pass. A turn passes a calibrated route when its similarity reaches the
  router's default threshold (exactly as without calibration) **or** the gate passes it;
  passing routes are still ranked by similarity.
* The background may hold turns of the route's own topic (a ``card_arrival`` route and a
  background with banking turns). Counting those as "ordinary" would teach the gate to
  reject the route's own turns. So background turns that sit inside the route's own
  neighbourhood are left out first: those whose similarity to the route is at least the
  median of the route's own utterances' leave-one-out similarities (one odd utterance must
  not open the whole neighbourhood), at most ``NEIGHBOURHOOD_SHARE`` (5 %) of the background
  (the most similar turns): a route whose examples are unrelated to each other would
  otherwise have a neighbourhood as wide as the background itself, and a broad topic (one of
  CLINC150's ten domains is a tenth of it) keeps half of its own turns out of the negatives.
  The turns left out then join the route's class as weak examples, each weighing
  ``NEIGHBOURHOOD_WEIGHT`` (3 %) of one of the route's utterances: a gate fitted against a
  background with a hole cut around the route learns to pass whatever that background lacks,
  and so passes turns of topics it does not hold at all. The weight was chosen on CLINC150
  validation turns with one domain left out of the background at a time (its turns are then
  as new to the gate as a user's own traffic); ``benchmarks/run.py --only fewshot`` ("Topics
  the background lacks") measures the same on the test turns, with and without the weak
  examples. A small neighbourhood weighs little: three stray turns beside six utterances
  are 1.5 % of the class.
* A user's own turns (``background=``) join the shipped corpus rather than replace it: a
  user's traffic is often one domain, and a gate fitted against a bank's turns alone learns
  only "not banking" (``benchmarks/run.py --only fewshot``, "Your own traffic as
  background=": one CLINC150 domain's turns alone made the seed's routes flag 40 % of the
  other domains' turns). The level holds the target on all held-out turns pooled and on the
  shipped corpus's alone, the stricter of the two. Not on the user's turns alone: with a
  few hundred of them that level sits at the highest of a handful of scores, and one
  political turn among them is enough (in an ad-hoc check of that rule, round 6, 100 of
  CLINC150's ``val`` turns moved the seed's politics level from 0.11 to 0.18 and its recall
  on the political lists from 0.93 to 0.65).
* ``target_fpr`` is a ceiling, not an average: the pass level lets through ``k`` held-out
  turns where ``k + 1.645 sqrt(k)`` (the one-sided 95 % upper Poisson-normal bound of the
  count) stays within the budget, so a route meets its target on new ordinary turns with
  about 95 % confidence instead of half the time (a 1 % target lets 23 of 3,100 held-out
  turns through, not 31).
* False positives add up over routes: 150 routes that each let 1 % of ordinary turns through
  flag far more than 1 % of turns (measured on CLINC150: out-of-scope recall fell from 0.76
  to 0.69 with per-route 1 % thresholds). So ``target_fpr`` is a *router-wide* budget,
  split evenly over the calibrated routes: with n of them, each gate lets through at most
  ``target_fpr / n`` of the held-out background (Bonferroni: the union then stays within
  ``target_fpr``). A gate keeps the top held-out scores it needs for any n, so adding or
  deleting a route changes the other routes' pass levels by a lookup, never a refit: only
  the routes a write touches are fitted. Past about a dozen routes a route's share is under
  one held-out turn; its level is then extrapolated above the highest held-out score from
  the tail of the held-out scores (:func:`tail_level`) rather than set at that score, which
  would let about one ordinary turn in ``n_held`` through per route (5 % over 150 routes). A
  dense router (150 routes) gets gates so strict that it answers like an uncalibrated one; a
  two-route guardrail gets 0.5 % each.
* Cost: fitting a gate takes milliseconds (two solves; the background's Gram matrices are
  computed once per background); scoring a turn adds one (calibrated routes x dim) product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._defaults import DEFAULT_TARGET_FPR
from ._types import F32, F64
from .engine._scoring import all_route_scores
from .engine._table import ScoringSettings

__all__ = [
    "CONFIDENCE_Z",
    "DEFAULT_TARGET_FPR",
    "MIN_BACKGROUND_PASSES",
    "NEIGHBOURHOOD_SHARE",
    "NEIGHBOURHOOD_WEIGHT",
    "BackgroundStats",
    "Gate",
    "allowed",
    "background_grams",
    "check_background_size",
    "check_target_fpr",
    "fit_gate",
    "leave_one_out",
    "neighbourhood",
    "route_score",
    "tail_level",
]

# Share of the background that may be left out as the route's own neighbourhood.
NEIGHBOURHOOD_SHARE = 0.05
# Weight of each neighbourhood turn (a weak example of the route) relative to one of the
# route's utterances. Chosen on CLINC150 validation turns with one domain left out of the
# background at a time.
NEIGHBOURHOOD_WEIGHT = 0.03
# A background must expect at least this many of its turns to pass at the router-wide target.
MIN_BACKGROUND_PASSES = 0.5
# One-sided 95 % normal quantile: the margin kept between the held-out count and the budget.
CONFIDENCE_Z = 1.645

# L2 penalty on the gate's weights, relative to classes of total weight 1 each: keeps the
# solve well posed with a handful of utterances in 384 dimensions. Recall and false
# positives on CLINC150 validation turns were flat over a 100x range around it.
RIDGE = 1e-3


def check_target_fpr(value: object) -> float:
    """``value`` as a float in (0, 0.5], else ``ValueError`` (the caller maps it)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 < float(value) <= 0.5
    ):
        raise ValueError(f"target_fpr must be within (0, 0.5], got {value!r}")
    return float(value)


def check_background_size(n_turns: int, target_fpr: float, *, shipped: bool = False) -> None:
    """``ValueError`` unless ``n_turns`` distinct ordinary turns can calibrate at the
    router-wide ``target_fpr``: a route alone may let ``n_turns * target_fpr`` of them
    through, and below half a turn its level would sit at the highest held-out score, which
    lets through about one turn in ``n_turns`` (two turns: a third of all turns), more than
    twice the target. Smaller shares (a route's own ``target_fpr``, the budget split over
    many routes) are extrapolated from the held-out tail (:func:`tail_level`).
    ``shipped``: the corpus is the package's, not the user's (said so in the message)."""
    need = math.ceil(round(MIN_BACKGROUND_PASSES / target_fpr, 9))
    if n_turns < need:
        what = "the shipped background" if shipped else "a background"
        fix = "pass background= with more turns, " if shipped else "give more turns, "
        raise ValueError(
            f"{what} of {n_turns} distinct turns cannot calibrate at target_fpr="
            f"{target_fpr:g}: it needs at least {need} ({fix}a larger target_fpr, "
            "or a fixed score_threshold)"
        )


def route_score(route: F32, queries: F32, settings: ScoringSettings) -> F32:
    """(n,) scores of ``queries`` against one route made of the unit rows ``route``, exactly as
    the router scores a turn (aggregate of the route's top-k, blended with its centroid)."""
    centroid = route.mean(axis=0)
    centroid = (centroid / max(float(np.linalg.norm(centroid)), 1e-12)).astype(np.float32)
    out = all_route_scores(
        queries @ route.T,
        np.zeros(1, np.int64),
        settings.top_k,
        settings.aggregation,
        (queries @ centroid)[:, None],
        settings.centroid_weight,
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


def neighbourhood(route: F32, scores: F64, settings: ScoringSettings) -> NDArray[np.int64]:
    """Indices of the background turns inside the route's neighbourhood (left out of its
    background): those scoring at least the median of the route's leave-one-out scores, at
    most ``floor(n * NEIGHBOURHOOD_SHARE)`` of them, the highest-scoring first."""
    loo = leave_one_out(route, settings)
    # One utterance: no neighbourhood to measure; only (near-)copies of it are left out.
    level = float(np.median(loo)) if loo.size else 1.0 - 1e-6
    budget = math.floor(scores.shape[0] * NEIGHBOURHOOD_SHARE)
    order = np.argsort(-scores, kind="stable")
    inside = min(int((scores >= level).sum()), budget)
    return order[:inside].astype(np.int64)


@dataclass(frozen=True, eq=False)
class Gate:
    """A route's linear gate: ``weights @ turn + bias``, passed above :meth:`cutoff`.

    ``held`` keeps the highest held-out background scores (descending), enough for any
    number of calibrated routes; ``n_held`` counts all held-out turns. When a user's turns
    join the shipped corpus, ``base_held`` and ``n_base`` keep the same of the shipped
    corpus's turns alone (empty and 0 otherwise), and the level holds the target on both.
    """

    weights: F32  # (d,)
    bias: float
    held: F64  # (m,) descending
    n_held: int
    target_fpr: float
    base_held: F64 = field(default_factory=lambda: np.empty(0, np.float64))
    n_base: int = 0

    def cutoff(self, n_routes: int) -> float:
        """The pass level when ``n_routes`` routes share the budget: a turn passes when its
        gate score is above it; :func:`allowed` of ``n_held * target_fpr / n_routes``
        held-out turns do, and as many of the shipped corpus's alone when a user's turns
        joined it (the stricter level of the two: a user's traffic is often one domain, and
        a level set on it would pass whatever it lacks). A budget too small to let even one
        held-out turn through (many routes) is met above the highest held-out score, by
        :func:`tail_level`. (Below half a turn of the shipped corpus, a target under about
        0.016 % for one route, its own level is its highest held-out score, or the tail
        above it: none of its held-out turns passes.)"""
        routes = max(1, n_routes)
        level = _cutoff(self.held, self.n_held * self.target_fpr / routes)
        if self.n_base:
            level = max(level, _cutoff(self.base_held, self.n_base * self.target_fpr / routes))
        return level

    def level(self, n_routes: int) -> float:
        """:meth:`cutoff` as a cosine, the route's threshold on its own scale: for a unit
        turn ``x``, ``weights @ x + bias > cutoff`` exactly when the cosine of ``x`` and the
        gate's direction (``weights / |weights|``) is above ``(cutoff - bias) / |weights|``.
        Clipped to [-1, 1] (-1: the gate passes every turn, 1: none)."""
        norm = float(np.linalg.norm(self.weights.astype(np.float64)))
        cut = self.cutoff(n_routes)
        if not norm > 0:
            return -1.0 if self.bias > cut else 1.0
        return min(1.0, max(-1.0, (cut - self.bias) / norm))


def _cutoff(held: F64, budget: float) -> float:
    """The level that lets :func:`allowed` of ``budget`` of the held-out turns whose top
    scores are ``held`` (descending) through."""
    k = allowed(budget)
    if k == 0:
        return tail_level(held, budget)
    return float(held[k]) if k < held.shape[0] else -math.inf


def tail_level(held: F64, budget: float) -> float:
    """The pass level for an expected ``budget`` of held-out passes under one
    (``allowed(budget) == 0``), beyond the highest held-out score ``held[0]``.

    The held-out sample cannot show such a rate: passing every turn above its highest score
    lets through about one turn in ``n_held``, and with many routes those add up past the
    router-wide budget (150 routes x 1 / 3,100 is 5 %, not 1 %). So the tail above the last
    kept score ``u = held[-1]`` is taken as exponential (peaks over a threshold: the mean
    excess ``beta`` of the ``t - 1`` kept scores above ``u``), and the level is where
    ``budget / (1 + CONFIDENCE_Z)`` turns are expected above it: ``u + beta * ln((t - 1) /
    c)``. The factor is the margin :func:`allowed` keeps for one turn (``1 + z * sqrt(1)``),
    so at the boundary the level sits where the tail expects one held-out turn above it
    (about ``held[0]``, next to the counted rule's ``held[1]``) and it rises as the budget
    shrinks.
    Scores of ordinary turns fall off at least as fast as an exponential in practice (a
    lighter tail makes the level conservative). Never below ``held[0]``; ``held[0]`` itself
    when fewer than three scores are kept (no tail to measure)."""
    top = float(held[0])
    t = held.shape[0]
    if t < 3 or budget <= 0:
        return top
    u = float(held[t - 1])
    beta = float(np.mean(held[: t - 1])) - u
    if not beta > 0:
        return top
    expected = budget / (1.0 + CONFIDENCE_Z)
    return max(top, u + beta * math.log((t - 1) / expected))


def allowed(budget: float) -> int:
    """How many held-out turns may pass for an expected ``budget`` of false positives: the
    largest ``k`` with ``k + CONFIDENCE_Z * sqrt(k) <= budget`` (0 when the budget is under
    one turn's margin)."""
    if budget <= 0:
        return 0
    root = (-CONFIDENCE_Z + math.sqrt(CONFIDENCE_Z * CONFIDENCE_Z + 4.0 * budget)) / 2.0
    k = math.floor(root * root)
    # floating point: step back if the rounded root overshoots
    while k > 0 and k + CONFIDENCE_Z * math.sqrt(k) > budget + 1e-9:
        k -= 1
    return k


@dataclass(frozen=True, eq=False)
class BackgroundStats:
    """What every gate of one background reuses, computed once per background: its rows
    extended by a constant 1 (the bias) in float64, each row's fold (even / odd position), and
    per fold the Gram matrix and the sum of those rows. A gate then costs two small solves."""

    x: F64  # (n, d + 1)
    fold: NDArray[np.int64]  # (n,)
    grams: tuple[F64, F64]
    sums: tuple[F64, F64]
    base_rows: int  # the shipped corpus's rows, first, when a user's turns follow (n: one corpus)


def background_grams(background: F32, base_rows: int | None = None) -> BackgroundStats:
    """The :class:`BackgroundStats` of ``background`` ((n, d) unit rows); ``base_rows``: how
    many of its first rows are the shipped corpus when a user's turns follow them (default:
    one corpus)."""
    n = background.shape[0]
    base_rows = n if base_rows is None else base_rows
    x = np.hstack([background.astype(np.float64), np.ones((n, 1))])
    fold = (np.arange(n) % 2).astype(np.int64)
    grams = (x[fold == 0].T @ x[fold == 0], x[fold == 1].T @ x[fold == 1])
    sums = (x[fold == 0].sum(axis=0), x[fold == 1].sum(axis=0))
    return BackgroundStats(x=x, fold=fold, grams=grams, sums=sums, base_rows=base_rows)


def fit_gate(
    route: F32,
    background: F32,
    settings: ScoringSettings,
    target_fpr: float,
    grams: BackgroundStats | None = None,
    neighbourhood_weight: float = NEIGHBOURHOOD_WEIGHT,
) -> Gate | None:
    """The route's gate against the background (``None`` without a background or route).

    Args:
        route: (k, d) the route's unit utterance vectors.
        background: (n, d) unit vectors of ordinary turns (same encoder).
        settings: The router's scoring settings (the neighbourhood is measured by its score).
        target_fpr: The router-wide share of ordinary turns allowed to pass.
        grams: :func:`background_grams` of ``background`` (computed here when not given).
        neighbourhood_weight: Weight of each neighbourhood turn in the route's class, per
            utterance (0: round 3's gates, the neighbourhood only left out of the negatives).
    """
    n, d = background.shape
    if n < 2 or route.shape[0] == 0:
        return None
    stats = grams if grams is not None else background_grams(background)
    xb, fold = stats.x, stats.fold
    scores = route_score(route, background, settings).astype(np.float64)
    out = neighbourhood(route, scores, settings)
    xr = np.hstack([route.astype(np.float64), np.ones((route.shape[0], 1))])
    own = (xr.T @ xr, xr.sum(axis=0))  # the route's class, before its neighbourhood joins
    keep = np.ones(n, dtype=bool)
    keep[out] = False
    diag = np.arange(d)  # the bias (index d) is not penalised
    split = stats.base_rows < n  # a user's turns follow the shipped corpus's
    base = np.arange(n) < stats.base_rows
    ws, held, held_base = [], [], []
    for f, (gram, total) in enumerate(zip(stats.grams, stats.sums, strict=True)):
        left = xb[out[fold[out] == f]]
        count = int((fold == f).sum()) - left.shape[0]
        if count == 0:
            return None
        # class-balanced least squares on +1 (route) / -1 (background), closed form; the
        # neighbourhood's turns of this fold join the route's class, each weighing
        # neighbourhood_weight of one of the route's utterances
        left_gram, left_sum = left.T @ left, left.sum(axis=0)
        mass = xr.shape[0] + neighbourhood_weight * left.shape[0]
        a = (gram - left_gram) * (0.5 / count)
        a += (0.5 / mass) * (own[0] + neighbourhood_weight * left_gram)
        a[diag, diag] += RIDGE
        rhs = (0.5 / mass) * (own[1] + neighbourhood_weight * left_sum)
        rhs -= (0.5 / count) * (total - left_sum)
        w = np.linalg.solve(a, rhs)
        ws.append(w)
        # the other half, which this model never saw (one product over all rows, then select)
        scored = xb @ w
        held.append(scored[keep & (fold != f)])
        if split:
            held_base.append(scored[keep & (fold != f) & base])
    w = (ws[0] + ws[1]) / 2
    pooled, top = _top(held, target_fpr)
    n_base, base_top = _top(held_base, target_fpr) if split else (0, top[:0])
    return Gate(
        weights=w[:d].astype(np.float32),
        bias=float(w[d]),
        held=top,
        n_held=pooled,
        target_fpr=float(target_fpr),
        base_held=base_top,
        n_base=n_base,
    )


def _top(held: list[F64], target_fpr: float) -> tuple[int, F64]:
    """How many held-out scores there are, and the highest ``floor(n * target_fpr) + 1`` of
    them, descending (what any number of routes sharing the budget needs)."""
    pooled = np.sort(np.concatenate(held))[::-1]
    m = math.floor(pooled.shape[0] * target_fpr) + 1
    return int(pooled.shape[0]), pooled[:m].copy()
