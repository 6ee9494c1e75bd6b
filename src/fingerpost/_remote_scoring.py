"""Scoring without a mirror: the remote's nearest-neighbour search supplies the similarities.

The result equals mirror scoring whenever the remote's search is exact (embedded Qdrant,
brute force) and approximates it as closely as the remote's ANN does otherwise:

* one query for the turn's ``n`` nearest utterance points;
* a route with hits has its best match among them (every point scoring above the last hit
  is a hit); for ``mean``/``sum`` a route with fewer than ``top_k`` hits gets one small
  filtered query for its own ``top_k``;
* a route without hits scores at most ``(1 - w) * last_hit + w * centroid_sim``; only if that
  bound reaches its threshold is it queried on its own. Usually none is.

Then the very same pure ``passing_routes`` decides, over those per-route similarities.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._scoring import passing_routes
from ._table import Snapshot
from .index.base import RemoteIndex
from .schema import Aggregation

__all__ = ["remote_passing_routes"]


def remote_passing_routes(
    remote: RemoteIndex,
    snap: Snapshot,
    query: NDArray[np.float32],
    candidates: NDArray[np.bool_],
    thresholds: NDArray[np.float32],
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    st = snap.settings
    k = 1 if st.aggregation is Aggregation.MAX else st.top_k
    w = np.float32(st.centroid_weight)
    cent = snap.vectors @ query  # one centroid row per route
    slots = np.flatnonzero(candidates)
    if slots.size == 0:
        return slots.astype(np.int64), np.empty(0, dtype=np.float32)
    names = None if slots.size == snap.n_slots else [snap.routes[int(s)].name for s in slots]
    n = max(64, 8 * k)
    hits = remote.query(query, n, names)
    complete = len(hits) < n
    floor = -1.0 if complete or not hits else hits[-1].score
    per_route: dict[str, list[float]] = {}
    for h in hits:
        per_route.setdefault(h.route, []).append(h.score)
    segs: list[list[float]] = []
    kept: list[int] = []
    for s in slots.tolist():
        name = snap.routes[s].name
        got = per_route.get(name, [])
        if not got:
            if complete:
                continue
            if (1 - w) * floor + w * cent[s] < thresholds[s]:
                continue  # cannot pass even if its best match sat just under the last hit
        if not complete and len(got) < min(k, len(snap.routes[s].utterances)):
            got = [h.score for h in remote.query(query, k, [name])]
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
        sims, starts, np.ones(len(kept), dtype=bool), thresholds[idx], st.top_k, st.aggregation,
        cent[idx].astype(np.float32), st.centroid_weight,
    )
    return idx[local_slots], scores
