from __future__ import annotations

import threading

import numpy as np
import pytest

from fingerpost import DuplicateRouteError, EncoderMismatchError, Route, RouteNotFoundError
from fingerpost.engine._table import RouteTable

DIM = 8


def _route(name: str, k: int = 2) -> tuple[Route, np.ndarray]:
    vecs = np.random.default_rng(abs(hash(name)) % 2**32).normal(size=(k, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return Route(name=name, utterances=[f"{name} {i}" for i in range(k)]), vecs


def test_add_delete_replace_and_live_routes() -> None:
    t = RouteTable(DIM, "enc")
    t.apply(add=[_route("a"), _route("b", 3)])
    snap = t.snapshot()
    assert [r.name for r in snap.live_routes()] == ["a", "b"]
    assert snap.n_rows == 5
    t.apply(delete=["a"])
    assert [r.name for r in t.snapshot().live_routes()] == ["b"]
    new_b = Route(name="b", utterances=["x"], score_threshold=0.7)
    t.apply(add=[(new_b, _route("z", 1)[1])], replace=True)
    assert t.snapshot().route("b") == new_b
    # the old snapshot still sees its own world
    assert [r.name for r in snap.live_routes()] == ["a", "b"]
    assert snap.route("b") is not None and len(snap.route("b").utterances) == 3  # type: ignore[union-attr]


def test_bad_writes_change_nothing() -> None:
    t = RouteTable(DIM, "enc")
    t.apply(add=[_route("a")])
    before = t.snapshot()
    with pytest.raises(DuplicateRouteError):
        t.apply(add=[_route("a")])
    with pytest.raises(DuplicateRouteError):
        t.apply(add=[_route("c"), _route("c")])
    with pytest.raises(RouteNotFoundError):
        t.apply(add=[_route("d")], delete=["nope"])
    r, v = _route("e")
    with pytest.raises(EncoderMismatchError):
        t.apply(add=[(r, v[:, :4].copy())])
    assert t.snapshot() is before


def test_exact_name_delete_only() -> None:
    t = RouteTable(DIM, "enc")
    t.apply(add=[_route("politics"), _route("politics extra")])
    t.apply(delete=["politics"])
    assert [r.name for r in t.snapshot().live_routes()] == ["politics extra"]


def test_growth_keeps_vectors_and_compaction_preserves_content() -> None:
    t = RouteTable(DIM, "enc")
    added = {}
    for i in range(600):
        r, v = _route(f"r{i}", 3)
        added[r.name] = v
        t.apply(add=[(r, v)])
    for i in range(0, 600, 2):
        t.apply(delete=[f"r{i}"])
    snap = t.snapshot()
    # dead rows (900) exceeded live rows (900)? compaction happens once dead > live: force more
    for i in range(1, 400, 2):
        t.apply(delete=[f"r{i}"])
    snap = t.snapshot()
    live = {r.name for r in snap.live_routes()}
    assert live == {f"r{i}" for i in range(401, 600, 2)}
    assert snap.n_rows < 600 * 3  # compacted
    for name in live:
        np.testing.assert_array_equal(snap.route_vectors(name), added[name])


def test_readers_never_see_a_half_write() -> None:
    """A writer swaps a 2-route pair atomically; readers must always see exactly one pair."""
    t = RouteTable(DIM, "enc")
    t.apply(add=[_route("p0"), _route("q0")])
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            names = sorted(r.name for r in t.snapshot().live_routes())
            if len(names) != 2 or names[0][1:] != names[1][1:]:
                errors.append(str(names))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for i in range(1, 400):
        t.apply(add=[_route(f"p{i}"), _route(f"q{i}")], delete=[f"p{i - 1}", f"q{i - 1}"])
    stop.set()
    for th in threads:
        th.join()
    assert errors == []
