"""mirror=False: each turn's vector goes to the remote's search; answers equal the mirror's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qdrant_client")

from fingerpost import InvalidInputError, Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex, QdrantIndex

# A committed CC BY 3.0 sample (see tests/fixtures/README.md): a plain clone must pass.
CLINC = Path(__file__).resolve().parents[1] / "fixtures" / "clinc150_sample.json"


def clinc_routes(n_routes: int = 25, per: int = 20) -> tuple[list[Route], list[str]]:
    data = json.loads(CLINC.read_text(encoding="utf-8"))
    by: dict[str, list[str]] = data["train"]
    names = sorted(by)[:n_routes]
    turns = [t for t, i in data["val"] if i in names][:50] + data["oos_val"][:10]
    return [Route(name=n, utterances=by[n][:per]) for n in names], turns


@pytest.mark.parametrize(
    ("aggregation", "top_k", "weight"), [("max", 5, 0.7), ("mean", 3, 0.7), ("sum", 5, 0.0)]
)
def test_no_mirror_answers_equal_mirror_answers(
    aggregation: str, top_k: int, weight: float
) -> None:
    routes, turns = clinc_routes()
    enc = HashEncoder()
    index = QdrantIndex(index_name="routes", location=":memory:")
    kw = dict(
        encoder=enc,
        score_threshold=0.25,
        aggregation=aggregation,
        top_k=top_k,
        centroid_weight=weight,
    )
    mirrored = SemanticRouter(routes=routes, index=index, auto_sync="local", **kw)  # type: ignore[arg-type]
    remote = SemanticRouter(index=index, mirror=False, **kw)  # type: ignore[arg-type]
    assert remote._local.snapshot().n_rows == len(routes)  # only one centroid row per route
    filters = [None, [routes[0].name, routes[3].name]]
    for turn in turns:
        for rf in filters:
            a = mirrored(turn, limit=None, route_filter=rf)
            b = remote(turn, limit=None, route_filter=rf)
            assert [c.name for c in b] == [c.name for c in a], turn
            assert [c.similarity_score for c in b] == pytest.approx(
                [c.similarity_score for c in a], abs=1e-4
            )
    for rf in filters:  # a batch answers each turn as a call does (issue 13: batched queries)
        for a, b in zip(
            mirrored.batch(turns, limit=None, route_filter=rf),
            remote.batch(turns, limit=None, route_filter=rf),
            strict=True,
        ):
            assert [c.name for c in b] == [c.name for c in a]
            assert [c.similarity_score for c in b] == pytest.approx(
                [c.similarity_score for c in a], abs=1e-4
            )
    assert sum(bool(mirrored(t).name) for t in turns) > 20  # the comparison covered real matches
    index.close()


def test_no_mirror_writes_and_refresh() -> None:
    routes, _ = clinc_routes(5, 5)
    index = QdrantIndex(index_name="routes", location=":memory:")
    SemanticRouter(routes=routes, index=index, encoder=HashEncoder(), auto_sync="local")
    r = SemanticRouter(index=index, mirror=False, encoder=HashEncoder(), score_threshold=0.3)
    r.add(Route(name="food", utterances=["order a pizza", "i want sushi"]))
    assert r("order a pizza please").name == "food"
    r.update("food", utterances=["order a pizza", "burger and fries"])
    assert r("burger and fries").name == "food"
    r.delete("food")
    assert r.get("food") is None and r("order a pizza please").name != "food"
    with pytest.raises(InvalidInputError):
        SemanticRouter(routes=routes, index=LocalIndex(), encoder=HashEncoder(), mirror=False)
    index.close()


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
@pytest.mark.parametrize(("aggregation", "top_k"), [("max", 5), ("mean", 3)])
def test_no_mirror_turn_is_one_round_trip_grouped_and_at_most_two_otherwise(
    kind: str, aggregation: str, top_k: int
) -> None:
    """Counted by the loopback server: Qdrant groups by route (1 request), Pinecone bounds
    then reads the routes that still need their top_k in one follow-up (<= 2); answers equal
    the mirror's either way."""
    pytest.importorskip("pinecone")
    from tests.sync.test_sync_backends import backend

    routes, turns = clinc_routes(12, 8)
    kw = dict(
        encoder=HashEncoder(),
        score_threshold=0.25,
        aggregation=aggregation,
        top_k=top_k,
        centroid_weight=0.7,
    )
    with backend(kind) as (make_index, srv):
        mirrored = SemanticRouter(routes=routes, index=make_index(), auto_sync="local", **kw)  # type: ignore[arg-type]
        remote = SemanticRouter(index=make_index(), mirror=False, **kw)  # type: ignore[arg-type]
        most = 0
        for turn in turns[:25]:
            a = mirrored(turn, limit=None)
            srv.faults.reset_counters()  # type: ignore[attr-defined]
            b = remote(turn, limit=None)
            most = max(most, srv.faults.requests_total)  # type: ignore[attr-defined]
            assert [c.name for c in b] == [c.name for c in a], turn
            assert [c.similarity_score for c in b] == pytest.approx(
                [c.similarity_score for c in a], abs=1e-4
            )
        assert most == 1 if kind == "qdrant-rest" else 1 <= most <= 2


@pytest.mark.parametrize("kind", ["qdrant-rest", "pinecone"])
@pytest.mark.parametrize(("aggregation", "top_k"), [("max", 5), ("mean", 3)])
def test_no_mirror_batch_is_two_round_trips_on_qdrant_and_equal_everywhere(
    kind: str, aggregation: str, top_k: int
) -> None:
    """Issue 13: ``batch``/``abatch`` send the whole batch's queries together. Qdrant answers
    them with ``query_batch_points``: at most 2 requests for 30 turns. Pinecone has no
    multi-query: its queries go out on a bounded pool of threads (about 1-2 per turn).
    Answers equal the mirror's, turn by turn."""
    pytest.importorskip("pinecone")
    from tests.sync.test_sync_backends import backend

    routes, turns = clinc_routes(12, 8)
    turns = turns[:30]
    kw = dict(
        encoder=HashEncoder(),
        score_threshold=0.25,
        aggregation=aggregation,
        top_k=top_k,
        centroid_weight=0.7,
    )
    with backend(kind) as (make_index, srv):
        mirrored = SemanticRouter(routes=routes, index=make_index(), auto_sync="local", **kw)  # type: ignore[arg-type]
        remote = SemanticRouter(index=make_index(), mirror=False, **kw)  # type: ignore[arg-type]
        want = mirrored.batch(turns, limit=None)
        counts = []
        for run in (
            lambda: remote.batch(turns, limit=None),
            lambda: asyncio.run(_abatch(remote, turns)),
        ):
            srv.faults.reset_counters()  # type: ignore[attr-defined]
            got = run()
            counts.append(srv.faults.requests_total)  # type: ignore[attr-defined]
            for a, b in zip(want, got, strict=True):
                assert [c.name for c in b] == [c.name for c in a]
                assert [c.similarity_score for c in b] == pytest.approx(
                    [c.similarity_score for c in a], abs=1e-4
                )
        if kind == "qdrant-rest":
            assert all(1 <= n <= 2 for n in counts), counts
        else:
            assert all(len(turns) <= n <= 2 * len(turns) for n in counts), counts
    assert sum(bool(a[0].name) if a else False for a in want) > 5


async def _abatch(router: SemanticRouter, turns: list[str]) -> list[list[Any]]:
    try:
        return await router.abatch(turns, limit=None)
    finally:
        await router.aclose()


def test_grouping_is_off_for_embedded_qdrant_unless_asked_and_answers_stay_equal() -> None:
    """Embedded Qdrant's local-mode grouping re-scans per group: off by default there."""
    routes, turns = clinc_routes(8, 6)
    kw = dict(encoder=HashEncoder(), score_threshold=0.25, aggregation="mean", top_k=3)
    plain = QdrantIndex(index_name="routes", location=":memory:")
    assert plain.query_groups(HashEncoder()(["x"])[0], 3, None, 8) is None
    grouped = QdrantIndex(index_name="routes", location=":memory:", group_by_route=True)
    mirrored = SemanticRouter(routes=routes, index=grouped, auto_sync="local", **kw)  # type: ignore[arg-type]
    remote = SemanticRouter(index=grouped, mirror=False, **kw)  # type: ignore[arg-type]
    for turn in turns[:20]:
        a, b = mirrored(turn, limit=None), remote(turn, limit=None)
        assert [c.name for c in b] == [c.name for c in a], turn
        assert [c.similarity_score for c in b] == pytest.approx(
            [c.similarity_score for c in a], abs=1e-4
        )
    plain.close(), grouped.close()


def test_no_mirror_calibrated_answers_equal_mirror_answers() -> None:
    """Calibrated routes (no fixed threshold) without a mirror: the router fits the gates from
    the vectors it reads at boot and answers as the mirror does, over the real embedded Qdrant,
    one turn at a time, in batches, and through the async batcher (issue 11)."""
    data = json.loads(CLINC.read_text(encoding="utf-8"))
    names = sorted(data["train"])
    routes = [Route(name=n, utterances=data["train"][n][:4]) for n in names[:12]]
    background = [u for n in names[12:] for u in data["train"][n]] + data["oos_val"]
    turns = [t for t, i in data["val"] if i in names[:12]] + data["oos_val"]
    index = QdrantIndex(index_name="routes", location=":memory:")
    fixed = SemanticRouter(
        routes=routes, index=index, auto_sync="local", encoder=HashEncoder(), score_threshold=0.45
    )  # the writer; both readers below see the routes as the remote returns them
    # a looser target: with this hashing encoder few gates pass what the similarity misses
    kw = dict(encoder=HashEncoder(), background=background, target_fpr=0.05)
    mirrored = SemanticRouter(index=index, **kw)  # type: ignore[arg-type]
    remote = SemanticRouter(index=index, mirror=False, **kw)  # type: ignore[arg-type]
    assert remote.to_config().calibration == mirrored.to_config().calibration
    want = [c.name for c in mirrored.batch(turns)]
    assert [c.name for c in remote.batch(turns)] == want
    assert [remote(t).name for t in turns] == want
    assert [c.name for c in asyncio.run(remote.abatch(turns))] == want
    assert want != [c.name for c in fixed.batch(turns)]  # the gates decided some turns
    for r in (mirrored, remote, fixed):
        r.close()
    index.close()
