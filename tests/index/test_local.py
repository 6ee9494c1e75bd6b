from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fingerpost import EncoderMismatchError, Route, SemanticRouter, StoreError
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

ROOT = Path(__file__).resolve().parents[2]


def _router(path: Path, routes=None, encoder=None):  # type: ignore[no-untyped-def]
    return SemanticRouter(
        routes=routes,
        encoder=encoder or HashEncoder(),
        index=LocalIndex(path=path),
        score_threshold=0.3,
    )


def test_cold_boot_without_encoding(tmp_path: Path, seed_routes) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "routes.db"
    first = _router(db, seed_routes)
    first.add(Route(name="food", utterances=["order a pizza"], metadata={"m": 1}))
    first.delete("chitchat")
    expected = first("do you love the president")
    first.close()

    enc = HashEncoder()
    booted = SemanticRouter(encoder=enc, index=LocalIndex(path=db), score_threshold=0.3)
    assert enc.encoded == 0  # nothing re-encoded at boot
    assert booted.list_route_names() == ["politics", "food"]
    assert booted.get("food") == Route(name="food", utterances=["order a pizza"], metadata={"m": 1})
    got = booted("do you love the president")
    assert got.name == expected.name
    assert got.similarity_score == pytest.approx(expected.similarity_score)
    booted.close()


def test_boot_with_routes_encodes_only_what_the_store_lacks(tmp_path: Path, seed_routes) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "routes.db"
    _router(db, seed_routes).close()
    enc = HashEncoder()
    changed = [
        Route(name="politics", utterances=[*seed_routes[0].utterances, "vote for me"]),
        Route(name="new", utterances=["brand new text"]),
    ]
    r = _router(db, changed, enc)
    assert enc.encoded == 2  # "vote for me" and "brand new text"
    assert r.list_route_names() == ["politics", "new"]
    r.close()
    # the store now equals the given routes (chitchat gone, politics updated)
    enc2 = HashEncoder()
    again = _router(db, None, enc2)
    assert enc2.encoded == 0
    assert [x.name for x in again.routes] == ["politics", "new"]
    assert again.get("politics") == changed[0]
    again.close()


def test_store_from_another_encoder_is_refused(tmp_path: Path, seed_routes) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "routes.db"
    _router(db, seed_routes).close()
    with pytest.raises(EncoderMismatchError):
        _router(db, None, HashEncoder(dim=128, name="same-dim-other-model"))
    with pytest.raises(EncoderMismatchError):
        _router(db, None, HashEncoder(dim=64))
    # refused without touching the store
    assert _router(db).list_route_names() == ["politics", "chitchat"]


class _FailingConnection:
    """Proxy that fails route writes like a full disk would."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args):  # type: ignore[no-untyped-def]
        if sql.lstrip().startswith("INSERT INTO routes"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._db, name)


def test_store_error_is_typed_and_memory_stays_equal_to_store(tmp_path: Path, seed_routes) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "routes.db"
    router = _router(db, seed_routes)
    store = router.index._store  # type: ignore[attr-defined]
    real = store._db
    store._db = _FailingConnection(real)
    with pytest.raises(StoreError):
        router.add(Route(name="food", utterances=["pizza"]))
    with pytest.raises(StoreError):
        router.update("politics", score_threshold=0.9)
    store._db = real
    assert router.list_route_names() == ["politics", "chitchat"]
    assert router.get("politics").score_threshold is None  # type: ignore[union-attr]
    router.add(Route(name="food", utterances=["pizza"]))  # the store works again
    router.close()
    assert _router(db).list_route_names() == ["politics", "chitchat", "food"]


CHILD = textwrap.dedent(
    """
    import sys
    from fingerpost import Route, SemanticRouter
    from fingerpost.encoders.testing import HashEncoder
    from fingerpost.index import LocalIndex
    router = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=sys.argv[1]))
    n, k = int(sys.argv[2]), int(sys.argv[3])
    for i in range(n):
        router.add(Route(name=f"r{i}", utterances=[f"utterance {i} {j}" for j in range(k)]))
        print(f"ack {i}", flush=True)
    """
)


def test_acknowledged_writes_survive_normal_exit(tmp_path: Path) -> None:
    db = tmp_path / "routes.db"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), "300", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    router = _router(db)
    assert len(router.list_route_names()) == 300
    assert all(len(r.utterances) == 2 for r in router.routes)


def test_kill_mid_write_leaves_no_half_route(tmp_path: Path) -> None:
    db = tmp_path / "routes.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), "100000", "50"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line.split()[1])
        if acked >= 40:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    router = _router(db)
    names = router.list_route_names()
    assert len(names) >= acked + 1  # every acknowledged write is there
    for r in router.routes:  # and no route is half written
        assert len(r.utterances) == 50
        vecs = router.index.snapshot().route_vectors(r.name)  # type: ignore[attr-defined]
        assert vecs is not None and vecs.shape == (50, 128)
        assert np.isfinite(vecs).all()
