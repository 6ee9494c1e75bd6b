"""Derived data kept in the cache directory (issue 13): gates of routers without a store (a
restart of an in-memory router, an agent mirroring a remote, refitted every calibrated
route's gate) and the route vectors of routers booting over a remote (a restart read every
vector of the remote)."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter, _calibrator, _disk_cache
from fingerpost.encoders.testing import HashEncoder

from .test_calibration import ORDINARY, fresh, gates_of


def _routes() -> list[Route]:
    return [
        Route(name="politics", utterances=["who should I vote for", "the election results"]),
        Route(name="food", utterances=["order a pizza", "i want sushi", "get me a burger"]),
        Route(name="music", utterances=["play some jazz", "next song please"]),
    ]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINGERPOST_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FINGERPOST_GATE_CACHE", raising=False)
    return tmp_path


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = _calibrator.fit_gate

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("fit")
        return real(*args, **kwargs)

    monkeypatch.setattr(_calibrator, "fit_gate", counting)
    return calls


def _equal(a: SemanticRouter, b: SemanticRouter) -> None:
    ga, gb = gates_of(a), gates_of(b)
    assert ga.keys() == gb.keys() and ga
    for name in ga:
        for field in ga[name].__dataclass_fields__:
            x, y = getattr(ga[name], field), getattr(gb[name], field)
            assert np.array_equal(x, y), (name, field)


def test_a_new_process_reads_gates_from_the_cache_instead_of_refitting(
    cache: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bg = fresh(ORDINARY, "gate-cache")
    a = SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 3
    assert (cache / "gates.sqlite").exists()
    monkeypatch.setattr(_calibrator, "_memo", {})  # a new process: only the disk remembers
    b = SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 3  # none refitted
    _equal(a, b)
    assert a.to_config().calibration == b.to_config().calibration
    # a changed route is refitted (its key differs), the others still come from the cache
    monkeypatch.setattr(_calibrator, "_memo", {})
    changed = [*_routes()[:2], Route(name="music", utterances=["play some jazz", "louder"])]
    SemanticRouter(routes=changed, encoder=HashEncoder(), background=bg)
    assert len(fits) == 4


def test_a_damaged_cached_gate_is_refitted_not_trusted(
    cache: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bg = fresh(ORDINARY, "gate-cache-damaged")
    a = SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    with sqlite3.connect(cache / "gates.sqlite") as con:
        rows = con.execute("SELECT key, value FROM blobs").fetchall()
        assert len(rows) == 3
        for key, blob in rows:  # flip one byte in the middle of every record
            bad = bytearray(blob)
            bad[len(bad) // 2] ^= 0xFF
            con.execute("UPDATE blobs SET value = ? WHERE key = ?", (bytes(bad), key))
    monkeypatch.setattr(_calibrator, "_memo", {})
    b = SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 6  # every damaged record refitted
    _equal(a, b)
    # ... and rewritten: the next process reads them again
    monkeypatch.setattr(_calibrator, "_memo", {})
    SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 6


def test_an_unusable_cache_costs_a_refit_and_one_warning_never_an_error(
    tmp_path: Path,
    fits: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setenv("FINGERPOST_CACHE_DIR", str(blocked))
    monkeypatch.setattr(_disk_cache, "_warned", set())
    bg = fresh(ORDINARY, "gate-cache-blocked")
    with caplog.at_level(logging.WARNING, logger="fingerpost.cache"):
        r = SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
        monkeypatch.setattr(_calibrator, "_memo", {})
        SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 6
    assert r("who should I vote for").name == "politics"
    warnings = [m for m in caplog.messages if "gates.sqlite" in m]
    assert len(warnings) == 1, "\n".join(warnings)


def test_the_cache_can_be_turned_off(
    cache: Path, fits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINGERPOST_GATE_CACHE", "0")
    bg = fresh(ORDINARY, "gate-cache-off")
    SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    monkeypatch.setattr(_calibrator, "_memo", {})
    SemanticRouter(routes=_routes(), encoder=HashEncoder(), background=bg)
    assert len(fits) == 6
    assert not (cache / "gates.sqlite").exists()


def test_the_cache_keeps_the_records_written_last_within_its_budget(cache: Path) -> None:
    disk = _disk_cache.DiskCache(cache / "small.sqlite", max_bytes=5 * (100 + 64))
    disk.put_many([(f"k{i}", bytes([i]) * 100) for i in range(4)])
    disk.put_many([(f"k{i}", bytes([i]) * 100) for i in range(4, 8)])
    disk.put_many([("k0", None)])  # rewritten (now "no value"): among the newest
    kept = disk.get_many([f"k{i}" for i in range(8)])
    assert kept == {"k0": None, **{f"k{i}": bytes([i]) * 100 for i in range(4, 8)}}


def test_a_second_process_boots_from_the_first_ones_gates(cache: Path) -> None:
    """Real processes: the second one fits no gate."""
    script = textwrap.dedent(
        """
        import json, sys
        from fingerpost import Route, SemanticRouter, _calibrator
        from fingerpost.encoders.testing import HashEncoder
        fits = []
        real = _calibrator.fit_gate
        _calibrator.fit_gate = lambda *a, **k: fits.append(1) or real(*a, **k)
        routes = [Route(name=f"r{i}", utterances=[f"topic {i} one", f"topic {i} two"])
                  for i in range(4)]
        bg = [f"ordinary turn number {i}" for i in range(200)]
        r = SemanticRouter(routes=routes, encoder=HashEncoder(), background=bg)
        print(json.dumps({"fits": len(fits), "calibration": r.to_config().calibration.thresholds}))
        """
    )
    import json

    outs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
        )
        outs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outs[0]["fits"] == 4
    assert outs[1]["fits"] == 0
    assert outs[0]["calibration"] == outs[1]["calibration"]


def _mirror(router: SemanticRouter) -> dict[str, np.ndarray]:
    snap = router._local.snapshot()
    out = {}
    for r in snap.live_routes():
        rows = snap.route_vectors(r.name)
        assert rows is not None
        out[r.name] = np.array(rows)
    return out


def test_a_restart_over_a_remote_takes_this_machines_vectors_and_reads_the_rest(
    cache: Path,
) -> None:
    from tests.sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    enc = HashEncoder(name="vector-cache-hash")
    a = SemanticRouter(routes=_routes(), encoder=enc, index=remote, auto_sync="local")
    assert (cache / "vectors.sqlite").exists()
    remote.fetches.clear()
    before = enc.encoded
    b = SemanticRouter(routes=_routes(), encoder=enc, index=remote, auto_sync="local")
    assert remote.fetches == [] and enc.encoded == before  # all from the cache directory
    mirror_a = _mirror(a)
    assert {k: v.tolist() for k, v in _mirror(b).items()} == {
        k: v.tolist() for k, v in mirror_a.items()
    }
    # damaged records are read from the remote again, never trusted
    with sqlite3.connect(cache / "vectors.sqlite") as con:
        for key, blob in con.execute("SELECT key, value FROM blobs").fetchall():
            bad = bytearray(blob)
            bad[0] ^= 0x40
            con.execute("UPDATE blobs SET value = ? WHERE key = ?", (bytes(bad), key))
    c = SemanticRouter(routes=_routes(), encoder=enc, index=remote, auto_sync="local")
    assert remote.fetches == [tuple(r.name for r in _routes())]
    assert enc.encoded == before
    assert {k: v.tolist() for k, v in _mirror(c).items()} == {
        k: v.tolist() for k, v in mirror_a.items()
    }
    # another encoder's vectors are never taken: its router encodes what the remote lacks
    other = HashEncoder(name="vector-cache-other", dim=enc.dim)
    remote2 = MemoryRemote()
    SemanticRouter(
        routes=_routes(), encoder=other, index=remote2, auto_sync="local", score_threshold=0.4
    )
    assert other.encoded == sum(len(r.utterances) for r in _routes())
