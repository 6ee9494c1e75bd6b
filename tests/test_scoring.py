from __future__ import annotations

import numpy as np
import pytest

from fingerpost.engine._scoring import (
    aggregate_block,
    all_route_scores,
    passing_routes,
    segment_max,
)
from fingerpost.schema import Aggregation


def test_segment_max_per_slot() -> None:
    sims = np.array([0.1, 0.9, 0.3, 0.2, 0.5], dtype=np.float32)
    starts = np.array([0, 2, 3], dtype=np.int64)
    assert segment_max(sims, starts).tolist() == pytest.approx([0.9, 0.3, 0.5])
    batch = np.stack([sims, sims[::-1]])
    assert segment_max(batch, starts).shape == (2, 3)


@pytest.mark.parametrize(
    ("agg", "k", "expected"),
    [
        (Aggregation.MAX, 3, 0.9),
        (Aggregation.MEAN, 2, (0.9 + 0.5) / 2),
        (Aggregation.MEAN, 10, (0.9 + 0.5 + 0.1) / 3),
        (Aggregation.SUM, 2, (0.9 + 0.5) / 2),
        (Aggregation.SUM, 10, (0.9 + 0.5 + 0.1) / 10),
    ],
)
def test_aggregate_block(agg: Aggregation, k: int, expected: float) -> None:
    block = np.array([0.1, 0.9, 0.5], dtype=np.float32)
    assert float(aggregate_block(block, k, agg)) == pytest.approx(expected, abs=1e-6)


def test_passing_routes_sorted_and_thresholded() -> None:
    sims = np.array([0.8, 0.2, 0.6, 0.7, 0.1], dtype=np.float32)
    starts = np.array([0, 2, 4], dtype=np.int64)
    cand = np.ones(3, dtype=bool)
    thr = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    slots, scores = passing_routes(sims, starts, cand, thr, 5, Aggregation.MAX)
    assert slots.tolist() == [0, 1]
    assert scores.tolist() == pytest.approx([0.8, 0.7])
    # mean over the route's neighbours: slot 0 -> 0.5, slot 1 -> 0.65
    slots, scores = passing_routes(sims, starts, cand, thr, 5, Aggregation.MEAN)
    assert slots.tolist() == [1, 0]
    # a stricter threshold drops slot 0; excluded candidates never appear
    thr2 = np.array([0.9, 0.5, 0.0], dtype=np.float32)
    cand2 = np.array([True, True, False])
    slots, _ = passing_routes(sims, starts, cand2, thr2, 5, Aggregation.MAX)
    assert slots.tolist() == [1]


def test_route_never_hidden_by_other_routes_filling_top_k() -> None:
    # slot 0: a strict route with 10 near misses (0.80 each, threshold 0.9);
    # slot 1: a lenient route whose only utterance scores 0.6 (threshold 0.5).
    sims = np.array([0.8] * 10 + [0.6], dtype=np.float32)
    starts = np.array([0, 10], dtype=np.int64)
    thr = np.array([0.9, 0.5], dtype=np.float32)
    for agg in Aggregation:
        slots, scores = passing_routes(sims, starts, np.ones(2, bool), thr, 5, agg)
        expected = 0.6 if agg is not Aggregation.SUM else 0.6 / 5
        if agg is Aggregation.SUM:
            assert slots.tolist() == []  # 0.12 < 0.5: sum penalises one-utterance routes
        else:
            assert slots.tolist() == [1]
            assert scores[0] == pytest.approx(expected)


def test_all_route_scores_matches_per_route() -> None:
    rng = np.random.default_rng(0)
    sims = rng.uniform(-1, 1, size=(4, 30)).astype(np.float32)
    starts = np.array([0, 3, 10, 11], dtype=np.int64)
    ends = [3, 10, 11, 30]
    for agg in Aggregation:
        got = all_route_scores(sims, starts, 3, agg)
        for q in range(4):
            for s in range(4):
                want = aggregate_block(sims[q, starts[s] : ends[s]], 3, agg)
                assert got[q, s] == pytest.approx(float(want), abs=1e-6)


def test_empty_table() -> None:
    sims = np.empty(0, dtype=np.float32)
    slots, scores = passing_routes(
        sims, np.empty(0, np.int64), np.empty(0, bool), np.empty(0, np.float32), 5, Aggregation.MAX
    )
    assert slots.size == 0 and scores.size == 0


def test_centroid_blend_is_exact_and_bound_never_prunes_a_passing_route() -> None:
    rng = np.random.default_rng(1)
    sims = rng.uniform(-0.2, 0.9, size=40).astype(np.float32)
    starts = np.array([0, 5, 6, 20], dtype=np.int64)
    cent = rng.uniform(-0.2, 1.0, size=4).astype(np.float32)
    thr = np.full(4, 0.3, dtype=np.float32)
    for agg in Aggregation:
        full = all_route_scores(sims[None, :], starts, 3, agg, cent[None, :], 0.7)[0]
        slots, scores = passing_routes(sims, starts, np.ones(4, bool), thr, 3, agg, cent, 0.7)
        want = [s for s in np.argsort(-full, kind="stable") if full[s] >= 0.3]
        assert slots.tolist() == want
        assert scores.tolist() == pytest.approx(full[want].tolist(), abs=1e-6)


def test_pruned_search_equals_the_full_scan() -> None:
    """Branch and bound must give exactly what scoring every row gives, for any limit."""
    from fingerpost.engine._scoring import pruned_passing_routes

    rng = np.random.default_rng(7)
    for trial in range(60):
        dim, n_routes = 16, int(rng.integers(1, 25))
        sizes = rng.integers(1, 12, size=n_routes)
        base = rng.normal(size=(n_routes, dim))
        rows = np.concatenate(
            [
                base[i] + rng.normal(scale=rng.uniform(0.2, 2), size=(k, dim))
                for i, k in enumerate(sizes)
            ]
        )
        rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        ends = np.append(starts[1:], len(rows))
        cent = np.stack([rows[a:b].mean(0) for a, b in zip(starts, ends, strict=True)])
        cent = (cent / np.linalg.norm(cent, axis=1, keepdims=True)).astype(np.float32)
        caps = np.array(
            [
                (rows[a:b] @ cent[i]).min()
                for i, (a, b) in enumerate(zip(starts, ends, strict=True))
            ],
            dtype=np.float32,
        )
        q = rng.normal(size=dim).astype(np.float32)
        q /= np.linalg.norm(q)
        thr = rng.uniform(-0.2, 0.6, size=n_routes).astype(np.float32)
        cand = rng.random(n_routes) < 0.9
        agg = list(Aggregation)[trial % 3]
        w = [0.0, 0.7][trial % 2]
        # a fitted head: score = scale * sim + offset (log-probability blend: scale 1, offset
        # a * log p <= 0; the 0.1.0 probability blend: scale 1 - a, offset a * p); routes it
        # does not know keep scale 1 and offset 0
        known = rng.random(n_routes) < 0.8
        if trial % 4 == 0:
            scale = np.ones(n_routes, np.float32)
            offset = np.where(known, 0.3 * np.log(rng.random(n_routes) + 1e-9), 0.0).astype(
                np.float32
            )
        elif trial % 4 == 2:
            scale = np.where(known, 0.7, 1.0).astype(np.float32)
            offset = np.where(known, 0.3 * rng.random(n_routes), 0.0).astype(np.float32)
        else:
            scale = offset = None
        full_s, full_sc = passing_routes(
            rows @ q, starts, cand, thr, 3, agg, cent @ q, w, scale, offset
        )
        for limit in (1, 2, None):
            s, sc = pruned_passing_routes(
                q, rows, starts, cand, thr, 3, agg, cent @ q, w, caps, limit, scale, offset
            )
            want = slice(None) if limit is None else slice(0, limit)
            assert s.tolist() == full_s[want].tolist(), (trial, limit)
            assert sc.tolist() == pytest.approx(full_sc[want].tolist(), abs=1e-5)
