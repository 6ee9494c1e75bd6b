"""Pure scoring: similarities in, passing routes out. No model, no I/O, no threads.

Every route is scored over *its own* nearest utterances (per-route top-k), never over a global
top-k: a route that passes its threshold cannot be hidden because other routes' utterances
filled the nearest k rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .._types import F32
from ..schema import Aggregation

__all__ = [
    "aggregate_block",
    "all_route_scores",
    "passing_routes",
    "pruned_passing_routes",
    "segment_max",
]


def segment_max(sims: F32, starts: NDArray[np.int64]) -> F32:
    """Per-slot maximum over contiguous row runs; works on (n,) or (b, n) similarities."""
    if starts.shape[0] == 0:
        return np.empty((*sims.shape[:-1], 0), dtype=np.float32)
    out: F32 = np.maximum.reduceat(sims, starts, axis=-1)
    return out


def aggregate_block(block: F32, top_k: int, aggregation: Aggregation) -> F32:
    """Aggregate one route's similarities (last axis) into one score per query."""
    m = block.shape[-1]
    if aggregation is Aggregation.MAX or top_k == 1:
        best: F32 = block.max(axis=-1)
        return best
    k = min(top_k, m)
    top = block if k == m else np.partition(block, m - k, axis=-1)[..., m - k :]
    total = top.sum(axis=-1, dtype=np.float32)
    out: F32 = (total / np.float32(k if aggregation is Aggregation.MEAN else top_k)).astype(
        np.float32
    )
    return out


def passing_routes(
    sims: F32,
    starts: NDArray[np.int64],
    candidates: NDArray[np.bool_],
    thresholds: F32,
    top_k: int,
    aggregation: Aggregation,
    centroid_sims: F32 | None = None,
    centroid_weight: float = 0.0,
    head_scale: F32 | None = None,
    head_offset: F32 | None = None,
) -> tuple[NDArray[np.int64], F32]:
    """Slots whose score reaches their threshold, best first.

    Args:
        sims: (n_rows,) cosine similarity of one turn to every row.
        starts: (n_slots,) first row of each slot; slot s spans ``starts[s]:starts[s+1]``.
        candidates: (n_slots,) slots that may be chosen (alive and within any route filter).
        thresholds: (n_slots,) effective threshold of each slot.
        top_k: neighbours per route for ``mean``/``sum``.
        aggregation: how a route's neighbours become its score.
        centroid_sims: (n_slots,) cosine similarity to each route's normalised centroid.
        centroid_weight: w in ``sim = (1 - w) * aggregate + w * centroid_sim``.
        head_scale: (n_slots,) with ``head_offset``, a fitted route head's part (optional):
            ``score = head_scale * sim + head_offset``.
        head_offset: (n_slots,) the head's term for this turn; scale 1 and offset 0 for
            routes the head does not know (added since the fit): they score by similarity.

    Returns:
        ``(slots, scores)`` sorted by score, highest first (ties: lower slot first).
    """
    w = np.float32(centroid_weight)
    seg = segment_max(sims, starts)
    # Every aggregation is <= the route's best match, so this bound is >= every route score:
    # only routes whose bound clears the threshold can pass, and only those are aggregated.
    bound = seg if centroid_sims is None or w == 0 else (1 - w) * seg + w * centroid_sims
    if head_scale is not None and head_offset is not None:
        bound = head_scale * bound + head_offset
    slots = np.flatnonzero(candidates & (bound >= thresholds))
    if slots.size == 0:
        return slots.astype(np.int64), np.empty(0, dtype=np.float32)
    if aggregation is Aggregation.MAX or top_k == 1:
        scores = bound[slots]
    else:
        n = sims.shape[0]
        ends = np.append(starts[1:], n)
        scores = np.fromiter(
            (aggregate_block(sims[starts[s] : ends[s]], top_k, aggregation) for s in slots),
            dtype=np.float32,
            count=slots.size,
        )
        if centroid_sims is not None and w != 0:
            scores = (1 - w) * scores + w * centroid_sims[slots]
        if head_scale is not None and head_offset is not None:
            scores = head_scale[slots] * scores + head_offset[slots]
        keep = scores >= thresholds[slots]
        slots, scores = slots[keep], scores[keep]
    order = np.lexsort((slots, -scores))
    return slots[order].astype(np.int64), scores[order].astype(np.float32)


def all_route_scores(
    sims: F32,
    starts: NDArray[np.int64],
    top_k: int,
    aggregation: Aggregation,
    centroid_sims: F32 | None = None,
    centroid_weight: float = 0.0,
) -> F32:
    """(b, n_rows) similarities -> (b, n_slots) route scores, no thresholds (for fitting)."""
    if aggregation is Aggregation.MAX or top_k == 1:
        out = segment_max(sims, starts)
    else:
        n = sims.shape[-1]
        ends = np.append(starts[1:], n)
        out = np.empty((*sims.shape[:-1], starts.shape[0]), dtype=np.float32)
        for s in range(starts.shape[0]):
            out[..., s] = aggregate_block(sims[..., starts[s] : ends[s]], top_k, aggregation)
    if centroid_sims is None or centroid_weight == 0:
        return out
    w = np.float32(centroid_weight)
    blended: F32 = ((1 - w) * out + w * centroid_sims).astype(np.float32)
    return blended


def pruned_passing_routes(
    query: F32,
    vectors: F32,
    starts: NDArray[np.int64],
    candidates: NDArray[np.bool_],
    thresholds: F32,
    top_k: int,
    aggregation: Aggregation,
    centroid_sims: F32,
    centroid_weight: float,
    caps: F32,
    limit: int | None,
    head_scale: F32 | None = None,
    head_offset: F32 | None = None,
) -> tuple[NDArray[np.int64], F32]:
    """``passing_routes`` for one turn, exactly, reading only the rows that can matter.

    Each route's utterances lie within angle ``theta = arccos(cap)`` of its centroid, so by
    the triangle inequality on the sphere no utterance is closer to the turn than
    ``cos(max(0, alpha - theta))``, ``alpha`` being the turn's angle to the centroid. That
    bounds every aggregation (all are <= the best match), hence the route score. Routes are
    visited best bound first; a route is skipped when its bound is below its threshold, or
    below the ``limit``-th best score found so far. On CLINC150 (150 routes x 100) a turn
    reads ~1-5 % of the rows instead of all of them; results are identical.
    """
    n_rows = vectors.shape[0]
    w = np.float32(centroid_weight)
    alpha = np.arccos(np.clip(centroid_sims, -1.0, 1.0))
    theta = np.arccos(np.clip(caps, -1.0, 1.0))
    bound = np.cos(np.maximum(alpha - theta, 0.0)) + np.float32(1e-4)  # float slack
    bound = (1 - w) * bound + w * centroid_sims
    if head_scale is not None and head_offset is not None:
        bound = head_scale * bound + head_offset
    eligible = np.flatnonzero(candidates & (bound >= thresholds))
    order = eligible[np.argsort(-bound[eligible], kind="stable")]
    ends = np.append(starts[1:], n_rows)
    found: list[tuple[float, int]] = []  # (score, slot)
    best: list[float] = []  # the limit best scores so far, ascending
    for s in order.tolist():
        if limit is not None and len(best) >= limit and bound[s] < best[0]:
            break
        block = vectors[starts[s] : ends[s]] @ query
        sim = float(aggregate_block(block, top_k, aggregation))
        score = float((1 - w) * np.float32(sim) + w * centroid_sims[s])
        if head_scale is not None and head_offset is not None:
            score = float(head_scale[s]) * score + float(head_offset[s])
        score = float(np.float32(score))
        if score < thresholds[s]:
            continue
        found.append((score, s))
        if limit is not None:
            best.append(score)
            best.sort()
            if len(best) > limit:
                best.pop(0)
    found.sort(key=lambda x: (-x[0], x[1]))
    if limit is not None:
        found = found[:limit]
    return (
        np.fromiter((s for _, s in found), dtype=np.int64, count=len(found)),
        np.fromiter((sc for sc, _ in found), dtype=np.float32, count=len(found)),
    )
