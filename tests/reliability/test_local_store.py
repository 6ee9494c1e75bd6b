"""Issue 10: the SQLite store under other processes, failing disks and corrupt files.

Defects 6 (two processes, one store), 10 (untyped store errors) and 11 (no integrity check
on stored vectors).
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fingerpost import (
    DuplicateRouteError,
    FingerpostError,
    Route,
    RouteNotFoundError,
    SemanticRouter,
    StoreError,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

from ._local_helpers import ROUTES, router, state

pytestmark = pytest.mark.timeout(120)

# ---- defect 6: two processes, one store ------------------------------------------------------

PEER = textwrap.dedent(
    """
    import sys
    from fingerpost import FingerpostError, Route, SemanticRouter
    from fingerpost.encoders.testing import HashEncoder
    from fingerpost.index import LocalIndex
    router = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=sys.argv[1]), score_threshold=0.3)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "add":
                router.add(Route(name=arg, utterances=[f"{arg} please", f"do the {arg} thing"]))
            elif cmd == "delete":
                router.delete(arg)
            elif cmd == "threshold":
                router.set_threshold(float(arg))
            elif cmd == "names":
                pass
            print("ok", sorted(router.list_route_names()), router.score_threshold, flush=True)
        except FingerpostError as exc:
            print("error", type(exc).__name__, flush=True)
    """
)


class Peer:
    """Another process on the same store, driven line by line (no sleeps)."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PEER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def do(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0
        self.proc.stdout.close()


def test_each_process_sees_the_others_writes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    here = router(db, routes=ROUTES)
    peer = Peer(db)
    try:
        assert peer.do("add pizza") == "ok ['food', 'pizza', 'weather'] 0.3"
        assert "pizza" in here.list_route_names()  # the peer's write, seen without a restart
        assert here("pizza please").name == "pizza"
        here.add(Route(name="music", utterances=["play some jazz"]))
        assert peer.do("names") == "ok ['food', 'music', 'pizza', 'weather'] 0.3"
        here.delete("pizza")
        assert peer.do("names") == "ok ['food', 'music', 'weather'] 0.3"
        assert peer.do("delete weather").startswith("ok")
        assert here.get("weather") is None and here("will it rain today").name != "weather"
        assert peer.do("threshold 0.8").endswith("0.8")
        assert here.score_threshold == 0.8
    finally:
        peer.close()


def test_same_name_added_by_two_processes_is_not_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    here = router(db, routes=ROUTES)
    peer = Peer(db)  # opened before our add: its memory does not hold "pizza"
    try:
        here.add(Route(name="pizza", utterances=["mine, not yours"]))
        assert peer.do("add pizza") == "error DuplicateRouteError"
        assert peer.do("delete nosuch") == "error RouteNotFoundError"
        peer.do("add sushi")
        with pytest.raises(DuplicateRouteError):
            here.add(Route(name="sushi", utterances=["also mine"]))
        peer.do("delete food")
        with pytest.raises(RouteNotFoundError):
            here.update("food", score_threshold=0.5)  # it is gone: no resurrection
    finally:
        peer.close()
    assert here.get("pizza").utterances == ["mine, not yours"]  # type: ignore[union-attr]
    here.close()
    reopened = router(db)
    assert sorted(reopened.list_route_names()) == ["pizza", "sushi", "weather"]
    assert reopened.get("pizza").utterances == ["mine, not yours"]  # type: ignore[union-attr]


# ---- defect 10: the store's own errors are typed and hide nothing ---------------------------


class _CommitFails:
    """A connection whose COMMIT hits an I/O error after SQLite rolled back on its own, as on
    a full disk: a second ROLLBACK then fails with "cannot rollback"."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_io_error_at_commit_is_a_store_error_from_its_cause(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = router(db, routes=ROUTES)
    before = state(r)
    store = r.index._store  # type: ignore[union-attr]
    real = store._db
    store._db = _CommitFails(real)
    with pytest.raises(StoreError) as info:
        r.add(Route(name="pizza", utterances=["pizza please"]))
    assert "disk I/O error" in str(info.value.__cause__)
    with pytest.raises(StoreError):
        r.set_threshold(0.9)
    store._db = real
    assert state(r) == before
    r.close()
    assert state(router(db)) == before


def test_full_disk_is_a_store_error_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = router(db, routes=ROUTES)
    before = state(r)
    store = r.index._store  # type: ignore[union-attr]
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count={pages}")  # the "disk" is full now
    big = Route(
        name="big", utterances=[f"utterance number {i} of a big route" for i in range(2000)]
    )
    with pytest.raises(StoreError, match="full"):
        r.add(big)
    assert state(r) == before
    r.close()
    assert state(router(db)) == before


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("UPDATE meta SET value = 'abc' WHERE key = 'encoder_dim'", "corrupt"),
        ("UPDATE meta SET value = '{not json' WHERE key = 'encoder_name'", "encoder"),
        ("INSERT INTO meta VALUES ('fit_state', '{not json')", "corrupt"),
        ("INSERT INTO meta VALUES ('score_threshold', '\"high\"')", "corrupt"),
        ("UPDATE routes SET route_json = '{\"name\": 1}'", "corrupt"),
        ("UPDATE routes SET route_json = 'not json at all'", "corrupt"),
        ("UPDATE routes SET vectors = x'00'", "corrupt"),
        ("UPDATE routes SET vectors = 'text'", "corrupt"),
    ],
)
def test_tampered_store_is_a_typed_error(tmp_path: Path, sql: str, match: str) -> None:
    db = tmp_path / "s.db"
    router(db, routes=ROUTES).close()
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA ignore_check_constraints = 1")
        con.execute(sql)
        con.commit()
    except sqlite3.IntegrityError:  # NOT NULL: the file cannot even hold this tampering
        con.close()
        return
    con.close()
    with pytest.raises(FingerpostError, match=match):
        router(db)


# ---- defect 11: stored vectors are checked on boot ------------------------------------------


def _store_with_route(db: Path) -> tuple[Route, bytes]:
    route = Route(name="pizza", utterances=[f"order pizza number {i}" for i in range(40)])
    r = router(db, routes=[route])
    blob = r.index.snapshot().route_vectors("pizza").tobytes()  # type: ignore[union-attr]
    r.close()
    return route, blob


def _corrupt(db: Path, offset: int, rng: random.Random) -> None:
    with db.open("r+b") as f:
        f.seek(offset)
        old = f.read(8)
        new = bytes(b ^ rng.randrange(1, 256) for b in old)  # every byte really changes
        f.seek(offset)
        f.write(new)


def test_every_corruption_of_a_stored_vector_is_detected(tmp_path: Path) -> None:
    rng = random.Random(11)
    detected = 0
    for trial in range(20):
        db = tmp_path / f"s{trial}.db"
        _, blob = _store_with_route(db)
        data = db.read_bytes()
        start = data.find(blob)
        assert start > 0 and not (db.parent / (db.name + "-wal")).exists()
        _corrupt(db, start + rng.randrange(len(blob) - 8), rng)
        with pytest.raises(StoreError, match="pizza"):
            router(db)
        detected += 1
    assert detected == 20


def test_corruption_anywhere_is_detected_or_harmless(tmp_path: Path) -> None:
    rng = random.Random(12)
    outcomes = {"detected": 0, "harmless": 0}
    for trial in range(20):
        db = tmp_path / f"s{trial}.db"
        route, blob = _store_with_route(db)
        _corrupt(db, rng.randrange(db.stat().st_size - 8), rng)
        try:
            r = router(db)
        except StoreError:
            outcomes["detected"] += 1
            continue
        # it opened: then what it serves must be exactly what was written
        assert r.routes == [route]
        assert r.index.snapshot().route_vectors("pizza").tobytes() == blob  # type: ignore[union-attr]
        outcomes["harmless"] += 1
        r.close()
    assert sum(outcomes.values()) == 20


def test_nan_in_a_stored_vector_is_detected(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _, blob = _store_with_route(db)
    bad = np.frombuffer(blob, dtype=np.float32).copy()
    bad[7] = np.nan
    con = sqlite3.connect(db)
    # even with no checksum to catch it (a schema-1 row), a NaN is refused
    con.execute("UPDATE routes SET vectors = ?, checksum = NULL", (bad.tobytes(),))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=r"pizza.*non-finite"):
        router(db)


def test_store_without_checksums_opens_and_gains_them(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = router(db, routes=ROUTES)
    before = state(r)
    r.close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE routes DROP COLUMN checksum")  # a store written before checksums
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    again = router(db)
    assert state(again) == before
    again.close()
    con = sqlite3.connect(db)
    sums = [row[0] for row in con.execute("SELECT checksum FROM routes")]
    con.close()
    assert len(sums) == 2 and all(isinstance(s, str) and len(s) == 32 for s in sums)
    cold = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3)
    assert state(cold) == before
