"""Calibration gates kept in a LocalIndex store (issue 13): a cold boot reads them instead of
refitting every route's gate, and refits any it cannot trust."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter, _calibrator
from fingerpost._calibration import Gate
from fingerpost._gate_codec import decode_gate, encode_gate
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex, _sqlite
from fingerpost.index._sidecar import gates_path

ORDINARY = [
    f"{verb} {thing}{tail}"
    for verb, thing, tail in itertools.product(
        ["check", "change", "find", "cancel", "show me", "remind me about"],
        ["my alarm", "the weather", "a taxi", "my car", "the news", "my calendar"],
        ["", " please", " today", " for me", " again"],
    )
]  # 180 ordinary turns
ROUTES = [
    Route(name="politics", utterances=["who will win the election", "the senate vote today"]),
    Route(name="chitchat", utterances=["hello there", "how are you doing", "nice to meet you"]),
    Route(name="music", utterances=["play some jazz", "put on my playlist", "next song"]),
    Route(name="fixed", utterances=["open the pod bay doors"], score_threshold=0.4),
]
TURNS = ["who will win the vote", "hello", "play jazz", "check my alarm", "open the doors"]


def background(tag: str) -> list[str]:
    """A background no other test uses (the vector cache is keyed by content)."""
    return [*ORDINARY, f"stored gates background {tag}"]


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts gate fits, with an empty memo (what a fresh process has)."""
    calls: list[str] = []
    real = _calibrator.fit_gate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("fit")
        return real(*args, **kwargs)

    monkeypatch.setattr(_calibrator, "fit_gate", counted)
    monkeypatch.setattr(_calibrator, "_memo", {})
    yield calls


def boot(db: Path, bg: list[str], monkeypatch: pytest.MonkeyPatch) -> SemanticRouter:
    """A router over the store as a new process would open it (no memoised gates)."""
    monkeypatch.setattr(_calibrator, "_memo", {})
    return SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db), background=bg)


def gates_of(router: SemanticRouter) -> dict[str, Gate]:
    snap = router._local.snapshot()
    return {
        snap.routes[s].name: snap.gates[s]  # type: ignore[misc]
        for s in np.flatnonzero(snap.alive()).tolist()
        if snap.gates[s] is not None
    }


def same_gates(a: dict[str, Gate], b: dict[str, Gate]) -> bool:
    return a.keys() == b.keys() and all(
        all(
            np.array_equal(getattr(a[n], f.name), getattr(b[n], f.name))
            for f in dataclasses.fields(Gate)
        )
        for n in a
    )


def stored_gate_rows(db: Path) -> dict[str, tuple[str, bytes | None]]:
    with sqlite3.connect(db) as con:
        return {n: (k, g) for n, k, g in con.execute("SELECT name, key, gate FROM gates")}


def test_gates_read_from_the_store_equal_refitted_ones(
    tmp_path: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, bg = tmp_path / "routes.db", background("equal")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    assert set(stored_gate_rows(db)) == {"politics", "chitchat", "music"}  # not "fixed"
    fitted = len(fits)
    assert fitted == 3
    booted = boot(db, bg, monkeypatch)
    assert len(fits) == fitted  # no gate refitted: all came from the store
    monkeypatch.setattr(_calibrator, "_memo", {})
    refitted = SemanticRouter(routes=ROUTES, encoder=HashEncoder(), background=bg)
    assert len(fits) == fitted + 3
    assert same_gates(gates_of(booted), gates_of(refitted))
    got, want = booted.batch(TURNS, limit=None), refitted.batch(TURNS, limit=None)
    assert [[c.name for c in cs] for cs in got] == [[c.name for c in cs] for cs in want]
    assert any(got)  # some turn passes some route, so the comparison decides something
    # a booted table derives centroids in one pass over the matrix: equal up to rounding
    assert np.allclose(
        [c.similarity_score for cs in got for c in cs],
        [c.similarity_score for cs in want for c in cs],
        atol=1e-6,
    )
    assert booted.to_config().calibration == refitted.to_config().calibration
    booted.close()


def test_a_gate_stored_for_other_utterances_is_refitted(
    tmp_path: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (here a router with a fixed threshold, which keeps no gates) changes
    a route's utterances: the gate stored for the old ones no longer matches its key."""
    db, bg = tmp_path / "routes.db", background("stale")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    other = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3)
    other.update("music", utterances=["play some jazz", "turn the volume up"])
    other.close()
    fits.clear()
    booted = boot(db, bg, monkeypatch)
    assert len(fits) == 1  # the changed route only
    monkeypatch.setattr(_calibrator, "_memo", {})
    want = SemanticRouter(routes=booted.routes, encoder=HashEncoder(), background=bg)
    assert same_gates(gates_of(booted), gates_of(want))
    booted.close()
    fits.clear()
    boot(db, bg, monkeypatch).close()
    assert fits == []  # the refitted gate was written back


def test_gates_of_another_gate_version_are_refitted(
    tmp_path: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, bg = tmp_path / "routes.db", background("version")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    boot(db, bg, monkeypatch).close()  # keeps the gates sidecar too
    assert gates_path(db).exists()
    before = stored_gate_rows(db)
    monkeypatch.setattr(_calibrator, "GATE_VERSION", _calibrator.GATE_VERSION + 1)
    fits.clear()
    boot(db, bg, monkeypatch).close()
    assert len(fits) == 3  # every gate: the algorithm that fitted them is another
    after = stored_gate_rows(db)
    assert all(after[n][0] != before[n][0] for n in before)  # rewritten under new keys
    fits.clear()
    boot(db, bg, monkeypatch).close()
    assert fits == []


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated", "key-edited", "garbage"])
def test_a_corrupted_stored_gate_is_refitted_not_trusted(
    tmp_path: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    db, bg = tmp_path / "routes.db", background(f"corrupt {damage}")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    key, blob = stored_gate_rows(db)["chitchat"]
    assert blob is not None
    if damage == "flipped-byte":  # inside the weights: still parses, would route differently
        bad: bytes = blob[:-40] + bytes([blob[-40] ^ 0x10]) + blob[-39:]
    elif damage == "truncated":
        bad = blob[: len(blob) // 2]
    elif damage == "key-edited":  # the bytes of another route's gate under this key
        bad = stored_gate_rows(db)["music"][1] or b""
    else:
        bad = b"\x00" * len(blob)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE gates SET gate = ? WHERE name = 'chitchat'", (bad,))
    fits.clear()
    booted = boot(db, bg, monkeypatch)
    assert len(fits) == 1  # the damaged gate only
    monkeypatch.setattr(_calibrator, "_memo", {})
    want = SemanticRouter(routes=ROUTES, encoder=HashEncoder(), background=bg)
    assert same_gates(gates_of(booted), gates_of(want))
    booted.close()
    assert stored_gate_rows(db)["chitchat"] == (key, blob)  # rewritten as fitted


def test_the_gate_codec_keeps_every_field_exactly_and_refuses_other_keys() -> None:
    gate = Gate(
        weights=np.linspace(-1, 1, 7, dtype=np.float32),
        bias=0.1 + 0.2,
        held=np.array([0.9, 0.5, 0.25]),
        n_held=123,
        target_fpr=0.01,
    )
    blob = encode_gate(gate, "k")
    assert blob is not None
    back = decode_gate(blob, "k")
    assert back is not None
    for f in dataclasses.fields(Gate):
        a, b = getattr(gate, f.name), getattr(back, f.name)
        assert type(a) is type(b) and np.array_equal(a, b)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
    assert back.cutoff(3) == gate.cutoff(3)
    assert decode_gate(blob, "another key") is None
    nan = dataclasses.replace(gate, bias=float("nan"))
    assert encode_gate(nan, "k") is None  # never stored: refitted on the next boot


@pytest.fixture
def row_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts reads of the store's gate rows (the gates sidecar spares them)."""
    calls: list[int] = []
    real = _sqlite.SqliteStore.load_gates

    def counted(self: _sqlite.SqliteStore, names=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(self, names)

    monkeypatch.setattr(_sqlite.SqliteStore, "load_gates", counted)
    return calls


def test_a_second_boot_reads_the_gates_sidecar_and_equals_the_first(
    tmp_path: Path, fits: list[str], row_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, bg = tmp_path / "routes.db", background("gates sidecar")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    first = boot(db, bg, monkeypatch)  # from the gate rows; writes the gates sidecar
    assert row_reads == [1] and gates_path(db).exists()
    fits.clear()
    second = boot(db, bg, monkeypatch)
    assert row_reads == [1] and fits == []  # neither a row read nor a fit
    assert same_gates(gates_of(first), gates_of(second))
    assert [c.name for c in first.batch(TURNS)] == [c.name for c in second.batch(TURNS)]
    first.close(), second.close()


@pytest.mark.parametrize(
    "change", ["flipped-byte", "truncated", "garbage", "other-target", "route-written"]
)
def test_a_gates_sidecar_that_does_not_match_is_ignored(
    tmp_path: Path,
    fits: list[str],
    row_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    db, bg = tmp_path / "routes.db", background(f"gates sidecar {change}")
    SemanticRouter(
        routes=ROUTES, encoder=HashEncoder(), index=LocalIndex(path=db), background=bg
    ).close()
    boot(db, bg, monkeypatch).close()
    side = gates_path(db)
    data = side.read_bytes()
    target = None
    if change == "flipped-byte":  # in the last gate's numbers
        side.write_bytes(data[:-12] + bytes([data[-12] ^ 0x01]) + data[-11:])
    elif change == "truncated":
        side.write_bytes(data[: len(data) - 8])
    elif change == "garbage":
        side.write_bytes(b"\x07" * len(data))
    elif change == "other-target":  # another calibration context
        target = 0.2
    else:  # another process wrote a route (the generation moved on)
        writer = boot(db, bg, monkeypatch)
        writer.add(Route(name="weather", utterances=["will it rain", "is it sunny today"]))
        writer.close()
    row_reads.clear()
    monkeypatch.setattr(_calibrator, "_memo", {})
    booted = SemanticRouter(
        encoder=HashEncoder(), index=LocalIndex(path=db), background=bg, target_fpr=target
    )
    assert row_reads == [1]  # the gates came from the store's rows (or were refitted)
    monkeypatch.setattr(_calibrator, "_memo", {})
    want = SemanticRouter(
        routes=booted.routes, encoder=HashEncoder(), background=bg, target_fpr=target
    )
    assert same_gates(gates_of(booted), gates_of(want))
    booted.close()
