"""The vectors sidecar: a memory-mapped cache of a SQLite store, used only while it matches."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex, _sqlite
from fingerpost.index._sidecar import HEADER_BYTES, sidecar_path


def routes(n: int = 20, per: int = 10) -> list[Route]:
    return [Route(name=f"r{i}", utterances=[f"turn {i} {j}" for j in range(per)]) for i in range(n)]


def boot(db: Path) -> SemanticRouter:
    return SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3)


@pytest.fixture
def sqlite_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full loads from SQLite (the sidecar spares them)."""
    calls: list[int] = []
    real = _sqlite.SqliteStore.load

    def counted(self: _sqlite.SqliteStore, dim: int):  # type: ignore[no-untyped-def]
        calls.append(dim)
        return real(self, dim)

    monkeypatch.setattr(_sqlite.SqliteStore, "load", counted)
    return calls


def contents(r: SemanticRouter) -> tuple[list[Route], np.ndarray]:
    snap = r._local.snapshot()
    live = snap.live_routes()
    return live, np.concatenate([snap.route_vectors(x.name) for x in live])  # type: ignore[misc]


def test_second_boot_maps_the_sidecar_and_equals_sqlite(
    tmp_path: Path, sqlite_loads: list[int]
) -> None:
    db = tmp_path / "routes.db"
    SemanticRouter(
        routes=routes(), encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3
    ).close()
    sqlite_loads.clear()
    first = boot(db)  # no sidecar yet: SQLite (checksums verified), then the sidecar is written
    assert len(sqlite_loads) == 1 and sidecar_path(db).exists()
    second = boot(db)
    assert len(sqlite_loads) == 1  # the sidecar matched: no SQLite load
    a, b = contents(first), contents(second)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert second("turn 3 4").name == "r3"
    first.close(), second.close()


def test_a_write_invalidates_the_sidecar_until_the_next_boot_rebuilds_it(
    tmp_path: Path, sqlite_loads: list[int]
) -> None:
    db = tmp_path / "routes.db"
    SemanticRouter(
        routes=routes(), encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3
    ).close()
    boot(db).close()
    writer = boot(db)  # another process's write, through its own connection
    writer.add(Route(name="new", utterances=["brand new words"]))
    writer.delete("r0")
    sqlite_loads.clear()
    after = boot(db)
    assert len(sqlite_loads) == 1  # stale: ignored, rebuilt from SQLite
    assert after("brand new words").name == "new" and after.get("r0") is None
    again = boot(db)
    assert len(sqlite_loads) == 1  # the rebuilt sidecar serves the next boot
    assert contents(again)[0] == contents(after)[0]
    writer.close(), after.close(), again.close()


@pytest.mark.parametrize(
    "damage",
    [
        "garbage",
        "truncated",
        "other-store",
        "stale-generation",
        "flipped-vector-bytes",
        "nan-vector",
        "flipped-bytes-early-in-the-vectors",
        "nan-in-the-first-vector",
        "two-vectors-swapped",
    ],
)
def test_a_sidecar_that_does_not_match_is_ignored(
    tmp_path: Path, sqlite_loads: list[int], damage: str
) -> None:
    db = tmp_path / "routes.db"
    SemanticRouter(
        routes=routes(), encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3
    ).close()
    want = contents(boot(db))
    side = sidecar_path(db)
    data = side.read_bytes()
    if damage == "garbage":
        side.write_bytes(b"x" * len(data))
    elif damage == "truncated":
        side.write_bytes(data[:-4])
    elif damage in ("flipped-vector-bytes", "nan-vector"):  # header intact, vectors not
        cut = len(data) - 4 * 37
        bad = (
            b"\xff\xff\xff\x7f"
            if damage == "nan-vector"
            else bytes(b ^ 0x5A for b in data[cut : cut + 8])
        )
        side.write_bytes(data[:cut] + bad + data[cut + len(bad) :])
    elif damage in ("flipped-bytes-early-in-the-vectors", "nan-in-the-first-vector"):
        at = HEADER_BYTES + 4 * 5  # inside the vectors, not the centroids kept after them
        bad = (
            b"\x00\x00\xc0\x7f"
            if damage.startswith("nan")
            else bytes(b ^ 0x5A for b in data[at : at + 8])  # the same change to two floats
        )
        side.write_bytes(data[:at] + bad + data[at + len(bad) :])
    elif damage == "two-vectors-swapped":
        row = 4 * HashEncoder().dim
        a, b = HEADER_BYTES, HEADER_BYTES + row
        side.write_bytes(data[:a] + data[b : b + row] + data[a:b] + data[b + row :])
    elif damage == "other-store":  # a sidecar left by a deleted store at the same path
        other = tmp_path / "other.db"
        SemanticRouter(
            routes=routes(),
            encoder=HashEncoder(),
            index=LocalIndex(path=other),
            score_threshold=0.3,
        ).close()
        boot(other).close()
        side.write_bytes(sidecar_path(other).read_bytes())
    else:  # a write the sidecar missed (its generation is behind the store's)
        with _open(db) as store:
            store._db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )
    sqlite_loads.clear()
    got = contents(boot(db))
    assert len(sqlite_loads) == 1
    assert got[0] == want[0] and np.array_equal(got[1], want[1])


class _open:
    def __init__(self, db: Path) -> None:
        self.store = _sqlite.SqliteStore(db)

    def __enter__(self) -> _sqlite.SqliteStore:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def test_a_booted_router_maps_its_vectors_instead_of_copying_them(tmp_path: Path) -> None:
    db = tmp_path / "routes.db"
    rs = routes(40, 50)
    SemanticRouter(
        routes=rs, encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3
    ).close()
    boot(db).close()
    raw = 40 * 50 * HashEncoder().dim * 4
    gc.collect()
    tracemalloc.start()
    r = boot(db)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert current < 0.5 * raw  # the vectors live in the page cache, not in the heap
    assert r("turn 7 3").name == "r7"
    r.add(Route(name="grown", utterances=["after boot"]))  # copy-on-write: the file stays as it was
    assert r("after boot").name == "grown"
    r.close()
    again = boot(db)
    assert again("after boot").name == "grown"
    again.close()


def test_centroids_and_radii_kept_in_the_sidecar_equal_those_derived_from_sqlite(
    tmp_path: Path, sqlite_loads: list[int]
) -> None:
    db = tmp_path / "routes.db"
    SemanticRouter(
        routes=routes(), encoder=HashEncoder(), index=LocalIndex(path=db), score_threshold=0.3
    ).close()
    sqlite_loads.clear()
    first, second = boot(db), boot(db)  # from SQLite (derives them), then from the sidecar
    assert len(sqlite_loads) == 1
    a, b = first._local.snapshot(), second._local.snapshot()
    assert a.n_slots == b.n_slots == 20
    assert np.array_equal(a.centroids[: a.n_slots], b.centroids[: b.n_slots])
    assert np.array_equal(a.caps[: a.n_slots], b.caps[: b.n_slots])
    first.close(), second.close()
