"""Scoring without a mirror: the remote's nearest-neighbour search supplies the similarities.

The result equals mirror scoring whenever the remote's search is exact (embedded Qdrant,
brute force) and approximates it as closely as the remote's ANN does otherwise. One round
trip per turn where the backend groups by route, at most two where it cannot:

* grouped (Qdrant ``query_points_groups`` by ``route``): every candidate route's own
  ``top_k`` nearest points in one request; exact, nothing to bound;
* otherwise (Pinecone): one query for the turn's ``n`` nearest utterance points. A route
  with hits has its best match among them (every point scoring above the last hit is a
  hit). A route without hits scores at most ``(1 - w) * last_hit + w * centroid_sim``, so
  it matters only if that bound reaches its threshold. The routes that still need their
  own ``top_k`` (too few hits for ``mean``/``sum``, or a bound that passes) are read
  together in ONE more query, filtered to them and sized to all their points.

Then the very same pure ``passing_routes`` decides, over those per-route similarities.

The decisions are written once, as plans (generators) that yield the remote requests they
need (:class:`Groups`, :class:`Query`, :class:`Batch`) and receive the answers; nothing in a
plan does I/O. :func:`run_plan` answers a plan with the index's sync methods (the caller's
thread), :func:`arun_plan` with its async twins (the event loop), so ``__call__`` and
``acall`` with ``mirror=False`` make the same requests and reach the same answers.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ..index.base import QueryRequest, RemoteIndex, ScoredPoint
from ..schema import Aggregation
from ._decide import gate_passes, query_thresholds
from ._scoring import passing_routes
from ._table import Snapshot

__all__ = [
    "Batch",
    "Groups",
    "Query",
    "aremote_passing_routes_batch",
    "arun_plan",
    "remote_passing_routes",
    "remote_passing_routes_batch",
    "run_plan",
    "scoring_plan",
]

MAX_FOLLOW_UP = 10_000  # points one follow-up query may ask for (Pinecone's top_k limit)

Passing: TypeAlias = "tuple[NDArray[np.int64], NDArray[np.float32]]"


# ---- the requests a plan yields (answered by run_plan / arun_plan) ---------------------------
@dataclass(frozen=True, slots=True)
class Groups:
    """``RemoteIndex.query_groups``: answered with hits, or ``None`` (cannot group)."""

    vector: NDArray[np.float32]
    per_route: int
    routes: Sequence[str] | None
    n_routes: int


@dataclass(frozen=True, slots=True)
class Query:
    """``RemoteIndex.query``: answered with hits."""

    vector: NDArray[np.float32]
    limit: int
    routes: Sequence[str] | None


@dataclass(frozen=True, slots=True)
class Batch:
    """``RemoteIndex.query_batch``: answered with one list of hits per request."""

    requests: list[QueryRequest]


Ask: TypeAlias = "Groups | Query | Batch"
Plan: TypeAlias = "Generator[Ask, Any, list[Passing]]"


def run_plan(remote: RemoteIndex, plan: Plan) -> list[Passing]:
    """Answer ``plan``'s requests with the index's sync methods."""
    try:
        ask = next(plan)
        while True:
            if isinstance(ask, Groups):
                answer: Any = remote.query_groups(
                    ask.vector, ask.per_route, ask.routes, ask.n_routes
                )
            elif isinstance(ask, Query):
                answer = remote.query(ask.vector, ask.limit, ask.routes)
            else:
                answer = remote.query_batch(ask.requests)
            ask = plan.send(answer)
    except StopIteration as done:
        result: list[Passing] = done.value
        return result


async def arun_plan(remote: RemoteIndex, plan: Plan) -> list[Passing]:
    """Answer ``plan``'s requests with the index's async twins (same requests, same order)."""
    try:
        ask = next(plan)
        while True:
            if isinstance(ask, Groups):
                answer: Any = await remote.aquery_groups(
                    ask.vector, ask.per_route, ask.routes, ask.n_routes
                )
            elif isinstance(ask, Query):
                answer = await remote.aquery(ask.vector, ask.limit, ask.routes)
            else:
                answer = await remote.aquery_batch(ask.requests)
            ask = plan.send(answer)
    except StopIteration as done:
        result: list[Passing] = done.value
        return result


# ---- entry points ----------------------------------------------------------------------------
def remote_passing_routes(
    remote: RemoteIndex,
    snap: Snapshot,
    query: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> Passing:
    """One turn's passing routes and scores, from the remote's search (see the module)."""
    return run_plan(remote, scoring_plan(snap, query[None, :], candidates, thresholds))[0]


def remote_passing_routes_batch(
    remote: RemoteIndex,
    snap: Snapshot,
    queries: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> list[Passing]:
    """Each turn's ``remote_passing_routes``, with the whole batch's queries sent together:
    every turn's first query in ONE ``RemoteIndex.query_batch``, then every follow-up in one
    more, so a batch costs at most two round trips where the backend has a batch API
    (Qdrant ``query_batch_points``), however many turns it holds. Same answers: the same
    bound decides which routes are read again (see the module)."""
    return run_plan(remote, scoring_plan(snap, queries, candidates, thresholds))


async def aremote_passing_routes_batch(
    remote: RemoteIndex,
    snap: Snapshot,
    queries: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> list[Passing]:
    """Async twin of :func:`remote_passing_routes_batch`: the same plan, awaited."""
    return await arun_plan(remote, scoring_plan(snap, queries, candidates, thresholds))


# ---- the plans: every decision, no I/O -------------------------------------------------------
def scoring_plan(
    snap: Snapshot,
    queries: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> Plan:
    """The plan of :func:`remote_passing_routes_batch` (one turn: the single-turn plan).
    A calibrated route whose gate passes a turn needs no similarity level for that turn (the
    gates are local: one product, as with a mirror)."""
    gated = gate_passes(snap, queries)
    levels = [query_thresholds(thresholds, gated, t) for t in range(len(queries))]
    if len(queries) == 1:
        return _turn_plan(snap, queries[0], candidates, levels[0])
    return _batch_plan(snap, queries, candidates, levels)


def _turn_plan(
    snap: Snapshot,
    query: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> Plan:
    k = _per_route(snap)
    cent = snap.vectors @ query  # one centroid row per route
    slots = np.flatnonzero(candidates)
    if slots.size == 0:
        return [(slots.astype(np.int64), np.empty(0, dtype=np.float32))]
    names = _names(snap, slots)
    grouped = yield Groups(query, k, names, int(slots.size))
    if grouped is not None:
        per_route = _by_route(grouped, k)
    else:
        hits = yield Query(query, _first_limit(k), names)
        per_route, follow = _follow_ups(snap, slots, thresholds, cent, k, hits)
        for batch, limit in follow:
            per_route.update(_by_route((yield Query(query, limit, batch)), k))
    return [_decide(snap, per_route, slots, thresholds, cent)]


def _batch_plan(
    snap: Snapshot,
    queries: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: Sequence[NDArray[np.float32]],
) -> Plan:
    """``thresholds[t]``: turn ``t``'s levels."""
    slots = np.flatnonzero(candidates)
    if slots.size == 0 or len(queries) == 0:
        return [(slots.astype(np.int64), np.empty(0, dtype=np.float32))] * len(queries)
    k = _per_route(snap)
    cents = queries @ snap.vectors.T  # (turns, routes): centroid similarities
    names = _names(snap, slots)
    first = yield Batch([(q, _first_limit(k), names) for q in queries])
    per_route: list[dict[str, list[float]]] = []
    more: list[QueryRequest] = []
    owner: list[int] = []
    for t, hits in enumerate(first):
        got, follow = _follow_ups(snap, slots, thresholds[t], cents[t], k, hits)
        per_route.append(got)
        for batch, limit in follow:
            more.append((queries[t], limit, batch))
            owner.append(t)
    answers = (yield Batch(more)) if more else []
    for t, hits in zip(owner, answers, strict=True):
        per_route[t].update(_by_route(hits, k))
    return [
        _decide(snap, per_route[t], slots, thresholds[t], cents[t]) for t in range(len(queries))
    ]


def _per_route(snap: Snapshot) -> int:
    """How many of a route's best matches its score needs."""
    return 1 if snap.settings.aggregation is Aggregation.MAX else snap.settings.top_k


def _first_limit(k: int) -> int:
    return max(64, 8 * k)


def _names(snap: Snapshot, slots: NDArray[np.intp]) -> list[str] | None:
    """The candidate routes' names; ``None`` when every route is a candidate (no filter)."""
    return None if slots.size == snap.n_slots else [snap.routes[int(s)].name for s in slots]


def _decide(
    snap: Snapshot,
    per_route: dict[str, list[float]],
    slots: NDArray[np.intp],
    thresholds: NDArray[np.float32],
    cent: NDArray[np.float32],
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The pure ``passing_routes`` over each route's remote similarities."""
    st = snap.settings
    segs: list[list[float]] = []
    kept: list[int] = []
    for s in slots.tolist():
        got = per_route.get(snap.routes[s].name)
        if got:
            segs.append(got)
            kept.append(s)
    if not kept:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    lengths = np.array([len(g) for g in segs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    sims = np.concatenate([np.asarray(g, dtype=np.float32) for g in segs])
    idx = np.asarray(kept, dtype=np.int64)
    local_slots, scores = passing_routes(
        sims,
        starts,
        np.ones(len(kept), dtype=bool),
        thresholds[idx],
        st.top_k,
        st.aggregation,
        cent[idx].astype(np.float32),
        st.centroid_weight,
    )
    return idx[local_slots], scores


def _by_route(hits: list[ScoredPoint], k: int) -> dict[str, list[float]]:
    """Each route's best ``k`` scores, best first."""
    per_route: dict[str, list[float]] = {}
    for h in hits:
        per_route.setdefault(h.route, []).append(h.score)
    return {n: sorted(v, reverse=True)[:k] for n, v in per_route.items()}


def _follow_ups(
    snap: Snapshot,
    slots: NDArray[np.intp],
    thresholds: NDArray[np.float32],
    cent: NDArray[np.float32],
    k: int,
    hits: list[ScoredPoint],
) -> tuple[dict[str, list[float]], list[tuple[list[str], int]]]:
    """Per-route scores from the first query's ``hits``, and the follow-up queries (route
    names, limit) that the routes still needing their own ``top_k`` take (see the module)."""
    w = np.float32(snap.settings.centroid_weight)
    n = _first_limit(k)
    complete = len(hits) < n
    floor = -1.0 if complete or not hits else hits[-1].score
    per_route = _by_route(hits, n)
    if complete:
        return per_route, []
    follow: list[str] = []
    for s in slots.tolist():
        route = snap.routes[s]
        got = per_route.get(route.name, [])
        if not got and (1 - w) * floor + w * cent[s] < thresholds[s]:
            continue  # cannot pass even if its best match sat just under the last hit
        if len(got) < min(k, len(route.utterances)):
            follow.append(route.name)
    size = {snap.routes[int(s)].name: len(snap.routes[int(s)].utterances) for s in slots}
    queries: list[tuple[list[str], int]] = []
    batch: list[str] = []
    for name in [*follow, ""]:  # "" flushes the last batch
        if batch and (not name or sum(size[b] for b in batch) + size[name] > MAX_FOLLOW_UP):
            queries.append((batch, min(MAX_FOLLOW_UP, sum(size[b] for b in batch))))
            batch = []
        if name:
            batch.append(name)
    return per_route, queries
