"""Issue 10, crash suite: ``kill -9`` at random points of remote syncs and writes, through the
real clients and the loopback servers (``tests/servers``), with real subprocesses.

A child agent runs ``sync("merge")``, ``add`` and ``update`` against the Qdrant REST test
server or the Pinecone test server and SIGKILLs itself before its n-th remote write (lease
tickets, intents, version records, point uploads of 40 points and deletes all count). Then:
nothing it acknowledged is lost, no half route is visible to a fresh agent, a bystander's
``is_synced()`` agrees with its diff, and re-running the child's work converges.

Fast tier: 2 kill points per backend (one inside the sync's uploads, one inside the add's).
``pytest -m soak``: every one of the 26 kill points, per backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")
pytest.importorskip("pinecone")

from fingerpost import Route, RouterConfig, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import PineconeIndex, QdrantIndex
from fingerpost.index.base import RemoteIndex
from fingerpost.sync import plan_sync
from fingerpost.sync._hash import content_key
from tests.servers.pinecone_server import PineconeTestServer
from tests.servers.qdrant_rest import QdrantTestServer
from tests.sync.crash_remote import expire_tickets

ROOT = Path(__file__).resolve().parents[2]

SEEDED = [
    Route(name="a", utterances=["alpha one", "alpha two", "alpha three"], metadata={"v": "remote"}),
    Route(name="b", utterances=["beta one", "beta two"]),
]
LOCAL = [
    Route(name="a", utterances=["alpha one", "alpha four"], metadata={"v": "local"}),
    Route(name="big", utterances=[f"big utterance {i}" for i in range(130)]),
]
C = Route(name="c", utterances=[f"c utterance {i}" for i in range(90)])
MERGED = {
    r.name: r for r in plan_sync("merge", LOCAL, RouterConfig(routes=SEEDED).to_utterances()).result
}
B2 = SEEDED[1].model_copy(update={"metadata": {"v": 2}})
FINAL = [MERGED["a"], MERGED["big"], B2, C]
# every whole version a route may have at some point of the child's work
VERSIONS: dict[str, list[Route | None]] = {
    "a": [None, SEEDED[0], MERGED["a"]],
    "b": [None, SEEDED[1], B2],
    "big": [None, MERGED["big"]],
    "c": [None, C],
}

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import fingerpost.sync._apply as apply
    from fingerpost import Route, SemanticRouter
    from fingerpost.encoders.testing import HashEncoder
    kind, url, budget, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    apply.UPSERT_CHUNK = 40  # several uploads per route: kills land inside routes
    if kind == "qdrant":
        from fingerpost.index.qdrant import QdrantIndex
        index = QdrantIndex(index_name="routes", url=url)
    else:
        from fingerpost.index.pinecone import PineconeIndex
        index = PineconeIndex(index_name="routes", api_key="k", host=url)
    writes = [0]
    def killing(fn):
        def call(*args, **kwargs):
            writes[0] += 1
            if writes[0] == budget:
                os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no finally, no clean-up
            return fn(*args, **kwargs)
        return call
    for name in ("upsert", "delete", "write_meta", "put_ticket", "delete_ticket"):
        setattr(index, name, killing(getattr(index, name)))
    def ack(what):
        print(json.dumps(what), flush=True)
    local = [Route(**r) for r in spec["local"]]
    r = SemanticRouter(routes=local, encoder=HashEncoder(), index=index, auto_sync="merge")
    ack("sync")
    r.add(Route(**spec["c"]))
    ack("add")
    r.update("b", metadata={"v": 2})
    ack("update")
    ack({"writes": writes[0]})
    """
)
SPEC = json.dumps({"local": [r.model_dump() for r in LOCAL], "c": C.model_dump()})
TOTAL_WRITES = 26  # remote writes of a whole child run (kill points 1..26)


def acked_before(budget: int) -> int:
    """Operations acknowledged before the kill: writes 1-10 are the sync's, 11-19 the add's,
    20-26 the update's (lease ticket, intent, pending marker, uploads, commit, release)."""
    return 0 if budget <= 10 else 1 if budget <= 19 else 2


def open_index(kind: str, url: str) -> RemoteIndex:
    if kind == "qdrant":
        return QdrantIndex(index_name="routes", url=url)
    return PineconeIndex(index_name="routes", api_key="k", host=url)


@contextmanager
def server(kind: str) -> Iterator[str]:
    if kind == "qdrant":
        with QdrantTestServer() as srv:
            yield srv.url
    else:
        with PineconeTestServer(api_key="k") as srv:
            yield srv.url


def contents(routes: list[Route]) -> set[str]:
    return {content_key(u) for u in RouterConfig(routes=list(routes)).to_utterances()}


def whole(route: Route | None, versions: list[Route | None]) -> bool:
    got = None if route is None else contents([route])
    return any(got == (None if v is None else contents([v])) for v in versions)


def run_child(kind: str, url: str, budget: int) -> tuple[int, list[object]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, url, str(budget), SPEC],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=120,
    )
    acks = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.returncode, acks


def one_run(kind: str, budget: int) -> dict[str, object]:
    made: list[RemoteIndex] = []

    def agent(routes: list[Route] | None = None, **kw: object) -> SemanticRouter:
        made.append(open_index(kind, url))
        return SemanticRouter(routes=routes, encoder=HashEncoder(), index=made[-1], **kw)  # type: ignore[arg-type]

    with server(kind) as url:
        try:
            bystander = agent(SEEDED, auto_sync="local")
            rc, acks = run_child(kind, url, budget)
            # -- after the kill: honest, nothing acknowledged lost, nothing half visible --
            assert bystander.is_synced() == (bystander.get_utterance_diff() == [])
            fresh = agent()
            for name in {*VERSIONS, *fresh.list_route_names()}:
                assert whole(fresh.get(name), VERSIONS.get(name, [])), (budget, name)
            if "sync" in acks:
                assert whole(fresh.get("a"), [MERGED["a"]]) and whole(
                    fresh.get("big"), [MERGED["big"]]
                )
            if "add" in acks:
                assert whole(fresh.get("c"), [C])
            if "update" in acks:
                assert whole(fresh.get("b"), [B2])
            # -- reopen and re-run: converges --
            expire_tickets(made[0])  # the dead child's lease runs out
            again = agent(LOCAL, auto_sync="merge")
            if again.get("c") is None:
                again.add(C)
            again.update("b", metadata={"v": 2})
            truth = {content_key(u) for u in made[0].get_utterances()}
            assert truth == contents(FINAL), budget
            bystander.refresh()
            for r in (again, bystander, agent()):
                assert contents(r.routes) == truth
                assert r.is_synced() and r.get_utterance_diff() == []
            meta = made[0].read_meta()
            assert meta is not None and not meta.pending
            return {"killed": rc == -signal.SIGKILL, "acks": acks, "budget": budget}
        finally:
            for i in made:
                i.close()


@pytest.fixture(autouse=True)
def _no_pinecone_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pinecone._internal.http_client._retry_sleep", lambda delay: None)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("kind", "budget"), [("qdrant", 6), ("qdrant", 17), ("pinecone", 9), ("pinecone", 21)]
)
def test_kill9_during_remote_sync_and_writes(kind: str, budget: int) -> None:
    out = one_run(kind, budget)
    assert out["killed"]
    assert len(out["acks"]) == acked_before(budget)  # type: ignore[arg-type]


@pytest.mark.soak
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("kind", ["qdrant", "pinecone"])
def test_kill9_at_every_write_point_soak(kind: str) -> None:
    runs = [one_run(kind, budget) for budget in range(1, TOTAL_WRITES + 1)]
    assert all(r["killed"] for r in runs)
    assert [len(r["acks"]) for r in runs] == [acked_before(b) for b in range(1, TOTAL_WRITES + 1)]  # type: ignore[arg-type]


@pytest.mark.soak
def test_a_whole_child_run_fits_the_drawn_kill_points() -> None:
    """The kill points are drawn from 1..TOTAL_WRITES: a run with no kill must need about
    that many writes, or the draws would miss the end (or mostly not kill at all)."""
    with server("qdrant") as url:
        bystander = SemanticRouter(
            routes=SEEDED, encoder=HashEncoder(), index=open_index("qdrant", url), auto_sync="local"
        )
        rc, acks = run_child("qdrant", url, 0)
        bystander.index.close()  # type: ignore[union-attr]
    assert rc == 0 and acks[:3] == ["sync", "add", "update"]
    writes = acks[3]["writes"]  # type: ignore[index]
    assert TOTAL_WRITES - 8 <= writes <= TOTAL_WRITES + 2, writes
