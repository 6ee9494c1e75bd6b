"""The vectors sidecar: one contiguous float32 file next to a SQLite store, memory-mapped on
boot, so a cold boot neither copies each BLOB twice nor hashes every row separately.

It is only a cache. SQLite stays the source of truth:

* every write that changes routes bumps ``generation`` in the store's meta table, in the
  same transaction (``SqliteStore.write_in_transaction``), and a store carries a random
  ``store_id``;
* the sidecar's header records the store id, the generation, the row and route counts and
  a digest of every route's JSON in order, as the store held them when it was built;
* a boot uses the sidecar only when all of these equal the store's now (the routes' JSON
  is read from SQLite and hashed, a few milliseconds) and the file has the size they
  imply; otherwise it loads from SQLite (checksums verified) and rewrites the sidecar
  (temporary file, then an atomic rename).

Besides the vectors it keeps what a boot derives from them (each route's centroid and
radius, :func:`~fingerpost.engine._table.slot_stats`), so a boot reads the vectors once instead
of three times.

Every boot checks the bytes after the header against a checksum in the header, so a
damaged sidecar is ignored and rebuilt from SQLite (whose per-route checksums then decide)
and a flipped byte never routes. The checksum is a fold, not a CRC: each row's 64-bit
words summed (mod 2**64), the rows' sums summed again with distinct odd weights. It reads
memory at numpy speed (about 8 ms per 50,000 x 384 vectors; a CRC-32 took 50 ms, as long
as the rest of the boot) and detects every change to one burst of up to 64 bits (one
flipped bit, byte, float or pair of floats, a NaN written over a vector), a row moved to
another row's place, and other damage unless its changes cancel out exactly; unlike a CRC
it cannot see two words of one row swapped, which no storage fault produces. The writer
refuses non-finite vectors, so a sidecar that passes holds finite ones.

A write never touches the sidecar, so a crash at any point leaves SQLite as it was and at
worst a stale sidecar, which the next boot ignores and rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import zlib
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "HEADER_BYTES",
    "Sidecar",
    "fold",
    "gates_path",
    "json_digest",
    "open_gates_sidecar",
    "open_sidecar",
    "sidecar_path",
    "write_gates_sidecar",
    "write_sidecar",
]

HEADER_BYTES = 4096
_MAGIC = "fingerpost-vectors-2"
_ODD = np.uint64(0x9E3779B97F4A7C15)  # odd: weights (2i+1) * _ODD differ for every row

# (vectors (rows, dim), centroids (routes, dim), radii (routes,))
Sidecar = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]


def sidecar_path(db: Path) -> Path:
    return db.with_name(db.name + ".vectors")


def json_digest(route_jsons: Sequence[str]) -> str:
    """Digest of the routes' JSON texts in order (a NUL never occurs in JSON text)."""
    h = hashlib.sha256()
    for text in route_jsons:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def fold(*arrays: NDArray[np.float32]) -> int:
    """The sidecar's checksum of 2-D float32 arrays (see the module docstring)."""
    total = 0
    for a in arrays:
        if a.size == 0:
            continue
        if a.shape[1] % 2 == 0:  # 64-bit words, a row's sum wraps mod 2**64
            rows = np.add.reduce(a.view(np.uint64), axis=1)
        else:
            rows = np.add.reduce(a.view(np.uint32), axis=1, dtype=np.uint64)
        weights = (np.arange(rows.shape[0], dtype=np.uint64) * np.uint64(2) + np.uint64(1)) * _ODD
        total = (total + int((rows * weights).sum(dtype=np.uint64))) % 2**64
    return total


def _header(
    store_id: str, generation: int, rows: int, routes: int, dim: int, digest: str
) -> dict[str, Any]:
    return {
        "magic": _MAGIC,
        "store_id": store_id,
        "generation": generation,
        "rows": rows,
        "routes": routes,
        "dim": dim,
        "json_digest": digest,
    }


def open_sidecar(
    db: Path, store_id: str, generation: int, rows: int, routes: int, dim: int, digest: str
) -> Sidecar | None:
    """The sidecar's arrays (copy-on-write memory map) if it matches the store; else None."""
    path = sidecar_path(db)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            size = os.fstat(f.fileno()).st_size
            if len(head) != HEADER_BYTES:
                return None
            found = json.loads(head.decode("ascii").rstrip())
            check = found.pop("fold", None) if isinstance(found, dict) else None
            if found != _header(store_id, generation, rows, routes, dim, digest):
                return None
            if not isinstance(check, int) or size != HEADER_BYTES + 4 * (
                rows * dim + routes * dim + routes
            ):
                return None
            # Copy-on-write: the table may write into its buffer, never into the file. Plain
            # ndarrays over the map (not np.memmap, whose slicing costs ~30 us a route).
            if rows == 0 or routes == 0:  # nothing worth mapping: SQLite is as quick
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        at = HEADER_BYTES
        vectors = np.frombuffer(mapped, np.float32, rows * dim, at).reshape(rows, dim)
        at += 4 * rows * dim
        centroids = np.frombuffer(mapped, np.float32, routes * dim, at).reshape(routes, dim)
        at += 4 * routes * dim
        radii = np.frombuffer(mapped, np.float32, routes, at)
        if fold(vectors, centroids, radii[:, None]) != check:
            return None
        return vectors, centroids, radii
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def write_sidecar(
    db: Path,
    store_id: str,
    generation: int,
    arrays: Sidecar,
    digest: str,
) -> None:
    """Write the sidecar atomically; best effort (a read-only directory only loses speed).
    Non-finite arrays are not written (the checksum then vouches for finite vectors)."""
    vectors, centroids, radii = (np.ascontiguousarray(a, dtype=np.float32) for a in arrays)
    if not all(np.isfinite(a).all() for a in (vectors, centroids, radii)):
        return
    path = sidecar_path(db)
    tmp = path.with_name(path.name + ".tmp")
    (rows, dim), routes = vectors.shape, radii.shape[0]
    header = {
        **_header(store_id, generation, int(rows), int(routes), int(dim), digest),
        "fold": fold(vectors, centroids, radii[:, None]),
    }
    head = json.dumps(header).encode("ascii")
    if len(head) > HEADER_BYTES:  # pragma: no cover - the header is ~250 bytes
        return
    try:
        with open(tmp, "wb") as f:
            f.write(head.ljust(HEADER_BYTES, b" "))
            for a in (vectors, centroids, radii):
                f.write(a.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink()


# ---- the gates sidecar ---------------------------------------------------------------------
# Calibration gates are a pure function of the routes (utterances, vectors, own target) and
# of a calibration context (encoder, background, target, scoring settings, GATE_VERSION).
# A second small file keeps the gates a boot computed or read, as columns, valid while the
# store's id, generation and routes' JSON digest (as for the vectors) and the context all
# equal what it records: a boot then builds each gate from slices of a few arrays instead
# of hashing every route's utterances for its key and decoding every gate row. Written
# without fsync: its CRC-32 catches a torn or damaged file, which is then ignored.
_GATES_MAGIC = "fingerpost-gates-1"


def gates_path(db: Path) -> Path:
    return db.with_name(db.name + ".gates")


def write_gates_sidecar(
    db: Path, token: tuple[str, int, str], context: str, gates: dict[int, Any]
) -> None:
    """Keep ``gates`` (route slot -> gate) for boots with this ``token`` and ``context``;
    best effort."""
    from .._gate_codec import encode_gate_table

    slots = sorted(gates)
    table = encode_gate_table([gates[s] for s in slots])
    if table is None:
        return
    columns, chunks = table
    payload = np.asarray(slots, dtype="<i8").tobytes() + b"".join(chunks)
    head = json.dumps(
        {
            "magic": _GATES_MAGIC,
            "store_id": token[0],
            "generation": token[1],
            "json_digest": token[2],
            "context": context,
            "count": len(slots),
            "columns": columns,
            "crc32": zlib.crc32(payload),
        }
    ).encode("utf-8")
    path = gates_path(db)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(len(head).to_bytes(4, "little") + head + payload)
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink()


def open_gates_sidecar(
    db: Path, token: tuple[str, int, str], context: str, routes: int
) -> dict[int, Any] | None:
    """The gates kept for this ``token`` and ``context`` by route slot, else None."""
    from .._gate_codec import decode_gate_table

    try:
        raw = gates_path(db).read_bytes()
        size = int.from_bytes(raw[:4], "little")
        head = json.loads(raw[4 : 4 + size])
        payload = memoryview(raw)[4 + size :]
        if not isinstance(head, dict) or [
            head.get(k) for k in ("magic", "store_id", "generation", "json_digest", "context")
        ] != [_GATES_MAGIC, *token, context]:
            return None
        count = head["count"]
        if not isinstance(count, int) or zlib.crc32(payload) != head["crc32"]:
            return None
        slots = np.frombuffer(payload, dtype="<i8", count=count).tolist()
        if slots != sorted(set(slots)) or (slots and not 0 <= slots[0] <= slots[-1] < routes):
            return None
        gates = decode_gate_table(head["columns"], bytes(payload[8 * count :]), count)
        return None if gates is None else dict(zip(slots, gates, strict=True))
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
