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
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..index.base import RemoteIndex, ScoredPoint
from ..schema import Aggregation
from ._scoring import passing_routes
from ._table import Snapshot

__all__ = ["remote_passing_routes"]

MAX_FOLLOW_UP = 10_000  # points one follow-up query may ask for (Pinecone's top_k limit)


def remote_passing_routes(
    remote: RemoteIndex,
    snap: Snapshot,
    query: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    st = snap.settings
    k = 1 if st.aggregation is Aggregation.MAX else st.top_k
    cent = snap.vectors @ query  # one centroid row per route
    slots = np.flatnonzero(candidates)
    if slots.size == 0:
        return slots.astype(np.int64), np.empty(0, dtype=np.float32)
    names = None if slots.size == snap.n_slots else [snap.routes[int(s)].name for s in slots]
    grouped = remote.query_groups(query, k, names, int(slots.size))
    if grouped is not None:
        per_route = _by_route(grouped, k)
    else:
        per_route = _bounded_hits(remote, snap, query, slots, thresholds, cent, k)
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


def _bounded_hits(
    remote: RemoteIndex,
    snap: Snapshot,
    query: NDArray[np.float32],
    slots: NDArray[np.intp],
    thresholds: NDArray[np.float32],
    cent: NDArray[np.float32],
    k: int,
) -> dict[str, list[float]]:
    """Per-route scores from one plain query plus at most one follow-up (see the module)."""
    w = np.float32(snap.settings.centroid_weight)
    names = None if slots.size == snap.n_slots else [snap.routes[int(s)].name for s in slots]
    n = max(64, 8 * k)
    hits = remote.query(query, n, names)
    complete = len(hits) < n
    floor = -1.0 if complete or not hits else hits[-1].score
    per_route = _by_route(hits, n)
    if complete:
        return per_route
    follow: list[str] = []
    for s in slots.tolist():
        route = snap.routes[s]
        got = per_route.get(route.name, [])
        if not got and (1 - w) * floor + w * cent[s] < thresholds[s]:
            continue  # cannot pass even if its best match sat just under the last hit
        if len(got) < min(k, len(route.utterances)):
            follow.append(route.name)
    size = {snap.routes[int(s)].name: len(snap.routes[int(s)].utterances) for s in slots}
    batch: list[str] = []
    for name in [*follow, ""]:  # "" flushes the last batch
        if batch and (not name or sum(size[b] for b in batch) + size[name] > MAX_FOLLOW_UP):
            limit = min(MAX_FOLLOW_UP, sum(size[b] for b in batch))
            per_route.update(_by_route(remote.query(query, limit, batch), k))
            batch = []
        if name:
            batch.append(name)
    return per_route
