"""The remote-scoring plans (engine/_remote_scoring): one set of decisions, answered by the
sync driver (``run_plan``) or the async one (``arun_plan``) with the very same requests."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from fingerpost import SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.engine._decide import candidates, effective_thresholds
from fingerpost.engine._remote_scoring import (
    Batch,
    Groups,
    Query,
    arun_plan,
    run_plan,
    scoring_plan,
)
from fingerpost.index import QdrantIndex
from fingerpost.index.base import RemoteIndex
from tests.sync.test_no_mirror import clinc_routes


class _Recorder:
    """Answers with an index's sync methods (sync and async alike) and records each ask."""

    def __init__(self, index: RemoteIndex) -> None:
        self.index = index
        self.asks: list[tuple[Any, ...]] = []

    def _note(self, kind: str, *args: Any) -> None:
        self.asks.append((kind, *(a.tobytes() if isinstance(a, np.ndarray) else a for a in args)))

    def query_groups(self, v: Any, per_route: int, routes: Any, n: int) -> Any:
        self._note("groups", v, per_route, routes, n)
        return self.index.query_groups(v, per_route, routes, n)

    def query(self, v: Any, limit: int, routes: Any = None) -> Any:
        self._note("query", v, limit, routes)
        return self.index.query(v, limit, routes)

    def query_batch(self, requests: Any) -> Any:
        self._note("batch", [(v.tobytes(), limit, routes) for v, limit, routes in requests])
        return self.index.query_batch(requests)

    async def aquery_groups(self, *args: Any) -> Any:
        return self.query_groups(*args)

    async def aquery(self, *args: Any) -> Any:
        return self.query(*args)

    async def aquery_batch(self, requests: Any) -> Any:
        return self.query_batch(requests)


@pytest.mark.parametrize("group_by_route", [False, True])
@pytest.mark.parametrize("n_turns", [1, 12])
async def test_sync_and_async_drivers_ask_the_same_and_answer_the_same(
    group_by_route: bool, n_turns: int
) -> None:
    routes, turns = clinc_routes(10, 8)
    enc = HashEncoder()
    kw: dict[str, Any] = dict(encoder=enc, score_threshold=0.25, aggregation="mean", top_k=3)
    with QdrantIndex(location=":memory:", group_by_route=group_by_route) as index:
        SemanticRouter(routes=routes, index=index, auto_sync="local", **kw)
        snap = SemanticRouter(index=index, mirror=False, **kw)._local.snapshot()
        queries = enc(turns[:n_turns])
        for route_filter in (None, [routes[1].name, routes[4].name]):
            cands, thr = candidates(snap, route_filter), effective_thresholds(snap)
            sync_side, async_side = _Recorder(index), _Recorder(index)
            want = run_plan(cast(RemoteIndex, sync_side), scoring_plan(snap, queries, cands, thr))
            got = await arun_plan(
                cast(RemoteIndex, async_side), scoring_plan(snap, queries, cands, thr)
            )
            assert async_side.asks == sync_side.asks and sync_side.asks
            kinds = {a[0] for a in sync_side.asks}
            if n_turns > 1:
                assert kinds == {"batch"}  # the whole batch together
            else:
                assert "groups" in kinds
            assert len(got) == len(want) == n_turns
            # Same routes; scores within 1e-6: embedded Qdrant answers one request differently
            # from call to call in the last float32 digit (two sync runs differ as well).
            for (gi, gs), (wi, ws) in zip(got, want, strict=True):
                np.testing.assert_array_equal(gi, wi)
                np.testing.assert_allclose(gs, ws, rtol=0, atol=1e-6)


def test_the_requests_are_plain_data() -> None:
    v = np.zeros(3, dtype=np.float32)
    assert Query(v, 3, None).limit == 3
    assert Groups(v, 2, ["a"], 1).n_routes == 1
    assert Batch([(v, 1, None)]).requests[0][1] == 1
