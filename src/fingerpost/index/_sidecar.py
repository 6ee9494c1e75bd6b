"""The vectors sidecar: one contiguous float32 file next to a SQLite store, memory-mapped on
boot, so a cold boot neither copies each BLOB twice nor hashes every row separately.

It is only a cache. SQLite stays the source of truth:

* every write that changes routes bumps ``generation`` in the store's meta table, in the
  same transaction (``SqliteStore.write_in_transaction``), and a store carries a random
  ``store_id``;
* the sidecar's header records the store id, the generation, the row count and a digest
  of every route's JSON in order, as the store held them when it was built;
* a boot uses the sidecar only when all of these equal the store's now (the routes' JSON
  is read from SQLite and hashed, a few milliseconds); otherwise it loads from SQLite
  (checksums verified) and rewrites the sidecar (temporary file, then an atomic rename).

* the header also records a CRC-32 of the vector bytes, checked on every boot (about 35 ms per
  50,000 x 384 vectors on one core), with a finiteness check: a corrupted sidecar is ignored and
  rebuilt from SQLite, whose per-route checksums then decide, so a flipped byte never routes.

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

__all__ = ["HEADER_BYTES", "json_digest", "open_sidecar", "sidecar_path", "write_sidecar"]

HEADER_BYTES = 4096
_MAGIC = "fingerpost-vectors-1"


def sidecar_path(db: Path) -> Path:
    return db.with_name(db.name + ".vectors")


def json_digest(route_jsons: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for text in route_jsons:
        h.update(text.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _header(store_id: str, generation: int, rows: int, dim: int, digest: str) -> dict[str, Any]:
    return {
        "magic": _MAGIC,
        "store_id": store_id,
        "generation": generation,
        "rows": rows,
        "dim": dim,
        "json_digest": digest,
    }


def open_sidecar(
    db: Path, store_id: str, generation: int, rows: int, dim: int, digest: str
) -> NDArray[np.float32] | None:
    """The sidecar's matrix (copy-on-write memory map) if it matches the store; else None."""
    path = sidecar_path(db)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
        if len(head) != HEADER_BYTES:
            return None
        found = json.loads(head.decode("ascii").rstrip())
        crc = found.pop("crc32", None) if isinstance(found, dict) else None
        if found != _header(store_id, generation, rows, dim, digest) or not isinstance(crc, int):
            return None
        if path.stat().st_size != HEADER_BYTES + 4 * rows * dim:
            return None
        if rows == 0:
            return np.empty((0, dim), dtype=np.float32)
        # Copy-on-write: the table may write into its buffer, never into the file. A plain
        # ndarray over the map (not np.memmap, whose slicing costs ~30 us a route).
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        if zlib.crc32(memoryview(mapped)[HEADER_BYTES:]) != crc:
            return None
        flat = np.frombuffer(mapped, dtype=np.float32, count=rows * dim, offset=HEADER_BYTES)
        if not np.isfinite(flat).all():
            return None
        return flat.reshape(rows, dim)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def write_sidecar(
    db: Path, store_id: str, generation: int, matrix: NDArray[np.float32], digest: str
) -> None:
    """Write the sidecar atomically; best effort (a read-only directory only loses speed)."""
    path = sidecar_path(db)
    tmp = path.with_name(path.name + ".tmp")
    rows, dim = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=np.float32).tobytes()
    header = {
        **_header(store_id, generation, int(rows), int(dim), digest),
        "crc32": zlib.crc32(data),
    }
    head = json.dumps(header).encode("ascii")
    if len(head) > HEADER_BYTES:  # pragma: no cover - the header is ~200 bytes
        return
    try:
        with open(tmp, "wb") as f:
            f.write(head.ljust(HEADER_BYTES, b" "))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink()
