"""Issue 10 concurrency soak: mixed mutations from threads and asyncio tasks while turns are
routed, over a stored LocalIndex.

Each worker owns its route names (disjoint from every other worker's), so the final state must
equal each worker's acknowledged operations applied in order: any serial order of the workers
gives the same result. (Races on ONE route are the lost-update work of issue 10 defect 3.)
Turns routed meanwhile must never fail and must keep routing the untouched seed routes
correctly. The store must reopen to exactly the final state, vectors included.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

from ._local_helpers import ROUTES, router

pytestmark = pytest.mark.timeout(600)

SEED_NAMES = {r.name for r in ROUTES}


class Worker:
    """One writer: random operations on its own routes; a model of what it acknowledged."""

    def __init__(self, w: int, seed: int, global_threshold: bool) -> None:
        self.w = w
        self.rng = random.Random(seed)
        self.model: dict[str, Route] = {}
        self.counter = 0
        self.global_threshold = global_threshold
        self.threshold: float | None = None  # last router-wide threshold it set
        self.done = 0

    def _utts(self, name: str, k: int) -> list[str]:
        return [f"{name} token{self.rng.randrange(50)} part{j}" for j in range(k)]

    def step(self, r: SemanticRouter) -> None:
        rng, model = self.rng, self.model
        p = rng.random()
        name = rng.choice(sorted(model)) if model else ""
        if not model or p < 0.3:
            name = f"zw{self.w}r{self.counter}"
            self.counter += 1
            route = Route(name=name, utterances=self._utts(name, rng.randint(1, 3)))
            r.add(route)
            model[name] = route
        elif p < 0.45:
            utts = self._utts(name, rng.randint(1, 4))
            r.update(name, utterances=utts)
            model[name] = model[name].model_copy(update={"utterances": list(dict.fromkeys(utts))})
        elif p < 0.6:
            extra = self._utts(name, 1)
            r.add_utterances(name, extra)
            model[name] = model[name].model_copy(
                update={"utterances": list(dict.fromkeys([*model[name].utterances, *extra]))}
            )
        elif p < 0.7:
            meta = {"v": self.done, "w": self.w}
            r.update(name, metadata=meta)
            model[name] = model[name].model_copy(update={"metadata": meta})
        elif p < 0.8:
            thr = round(rng.uniform(0.1, 0.9), 3)
            r.set_threshold(thr, name)
            model[name] = model[name].model_copy(update={"score_threshold": thr})
        elif p < 0.85 and self.global_threshold:
            thr = round(rng.uniform(0.2, 0.4), 3)
            r.set_threshold(thr)
            self.threshold = thr
        else:
            r.delete(name)
            del model[name]
        self.done += 1


def _expected(workers: list[Worker]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for wk in workers:
        out.update({n: Route(**r.model_dump()).model_dump() for n, r in wk.model.items()})
    return out


def _actual(r: SemanticRouter) -> dict[str, dict[str, object]]:
    return {x.name: x.model_dump() for x in r.routes if x.name not in SEED_NAMES}


def run_soak(tmp_path: Path, n_ops: int, n_threads: int = 3, n_tasks: int = 3) -> None:
    db = tmp_path / "soak.db"
    r = router(db, routes=ROUTES)
    n_workers = n_threads + n_tasks
    workers = [Worker(w, 1000 + w, global_threshold=(w == 0)) for w in range(n_workers)]
    per_worker = n_ops // n_workers
    errors: list[BaseException] = []
    stop = threading.Event()
    routed = [0]

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return run

    def thread_worker(wk: Worker) -> None:
        for _ in range(per_worker):
            if stop.is_set():
                return
            wk.step(r)

    def reader() -> None:
        while not stop.is_set():
            assert r("will it rain today").name == "weather"
            got = r.batch(["order a pizza", "is it sunny"])
            assert [c.name for c in got] == ["food", "weather"]
            routed[0] += 3

    async def task_worker(wk: Worker) -> None:
        for _ in range(per_worker):
            if stop.is_set():
                return
            await asyncio.to_thread(wk.step, r)
            choice = await r.acall("book a table for dinner")
            assert choice.name == "food"
            routed[0] += 1

    async def main() -> None:
        # start/aclose, not `async with`: that would also close the store (issue 12) while
        # the thread workers and readers still use the router.
        await r.start()
        try:
            results = await asyncio.gather(
                *(task_worker(wk) for wk in workers[n_threads:]), return_exceptions=True
            )
        finally:
            await r.aclose()
        errors.extend(x for x in results if isinstance(x, BaseException))

    threads = [
        threading.Thread(target=guard(lambda wk=wk: thread_worker(wk)))
        for wk in workers[:n_threads]
    ]
    readers = [threading.Thread(target=guard(reader)) for _ in range(2)]
    for t in threads + readers:
        t.start()
    try:
        asyncio.run(main())
    finally:
        for t in threads:
            t.join(timeout=300)
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not errors, errors[:3]
    assert sum(wk.done for wk in workers) == per_worker * n_workers
    assert routed[0] > 0

    expected = _expected(workers)
    assert len(expected) > 0
    assert _actual(r) == expected
    assert r.score_threshold == (workers[0].threshold if workers[0].threshold is not None else 0.3)
    enc = HashEncoder()
    for name in expected:  # memory holds exactly the vectors of each route's utterances
        got = r._local.snapshot().route_vectors(name)
        assert np.allclose(got, enc(r.get(name).utterances), atol=1e-6)  # type: ignore[union-attr]
    threshold = r.score_threshold
    r.close()

    cold = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db))  # reopen: same state
    assert _actual(cold) == expected
    assert cold.score_threshold == threshold
    for name in expected:
        got = cold._local.snapshot().route_vectors(name)
        assert np.allclose(got, enc(cold.get(name).utterances), atol=1e-6)  # type: ignore[union-attr]
    assert {x.name for x in cold.routes} >= SEED_NAMES
    cold.close()


def test_concurrent_mutations_equal_a_serial_order(tmp_path: Path) -> None:
    run_soak(tmp_path, n_ops=300)


@pytest.mark.soak
def test_concurrent_mutations_equal_a_serial_order_soak(tmp_path: Path) -> None:
    run_soak(tmp_path, n_ops=2000, n_threads=4, n_tasks=4)
