"""Issue 10 crash runs: kill -9 at random points of bulk adds to a stored LocalIndex.

The child acknowledges each ``add`` on stdout once it returned; the parent kills it right after
a randomly chosen acknowledgement, so the kill lands somewhere inside the following write
(progress, not sleeps, chooses the moment). After each kill: the store reopens, every
acknowledged route is there, and no route is half written (each has exactly the utterances
and vectors it was written with).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fingerpost import SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

pytestmark = pytest.mark.timeout(600)

CHILD = textwrap.dedent(
    """
    import sys
    from fingerpost import Route, SemanticRouter
    from fingerpost.encoders.testing import HashEncoder
    from fingerpost.index import LocalIndex
    def route(i):
        return Route(name=f"r{i}", utterances=[f"route {i} utterance {j}" for j in range(1 + (i * 7) % 40)])
    router = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=sys.argv[1]))
    i = len(router.list_route_names())  # after an earlier kill: carry on from the store
    while True:
        n = 1 + i % 7  # bulk adds of 1..7 routes in one call
        router.add([route(k) for k in range(i, i + n)])
        i += n
        print(f"ack {i}", flush=True)
    """
)


def utterances_of(i: int) -> list[str]:
    return [f"route {i} utterance {j}" for j in range(1 + (i * 7) % 40)]


def crash_once(db: Path, target: int) -> int:
    """Run the child until it acknowledged ``target`` adds (or more), then kill -9 it;
    returns how many routes were acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked, calls = 0, 0
    try:
        if target > 0:
            for line in proc.stdout:
                acked = int(line.split()[1])
                calls += 1
                if calls >= target:
                    break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


def check_store(db: Path, acked: int) -> None:
    enc = HashEncoder()
    router = SemanticRouter(encoder=enc, index=LocalIndex(path=db))
    try:
        names = router.list_route_names()
        indices = sorted(int(n[1:]) for n in names)
        assert indices[:acked] == list(range(acked))  # every acknowledged route is there
        # a bulk add is one transaction: the routes are 0..m-1, no gap, at most one more call
        assert indices == list(range(len(indices))) and len(indices) < acked + 8
        for name in names:  # and none is half written
            i = int(name[1:])
            route = router.get(name)
            assert route is not None and route.utterances == utterances_of(i)
            vecs = router._local.snapshot().route_vectors(name)
            assert vecs is not None and np.allclose(vecs, enc(route.utterances), atol=1e-6)
    finally:
        router.close()


def run_crashes(tmp_path: Path, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    for run in range(runs):
        db = tmp_path / f"crash{run}.db"
        acked = crash_once(db, rng.randint(0, 25))
        check_store(db, acked)
        if rng.random() < 0.5:  # a killed store also takes more writes, then a second kill
            more = crash_once(db, rng.randint(1, 5))
            check_store(db, more)


def test_kill_9_during_bulk_adds_loses_nothing_acknowledged(tmp_path: Path) -> None:
    run_crashes(tmp_path, runs=3, seed=5)


@pytest.mark.soak
def test_kill_9_during_bulk_adds_soak(tmp_path: Path) -> None:
    run_crashes(tmp_path, runs=30, seed=30)
