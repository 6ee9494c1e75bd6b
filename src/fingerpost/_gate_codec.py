"""A calibration gate as bytes, so a store can keep fitted gates across boots.

Written generically from the fields of :class:`~fingerpost._calibration.Gate` (arrays by
dtype, shape and bytes; ints and floats as 8 bytes, exact), so a change to how ``fit_gate``
computes a gate needs no change here, and a change to the fields makes old records fail to
decode (refitted). A record carries a CRC-32 of its key and bytes: a damaged or edited
record decodes to ``None`` (the caller refits), never to a gate that routes differently
from the one that was fitted. Bytes rather than JSON: a cold boot decodes one record per
calibrated route.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from functools import lru_cache
from typing import Any

import numpy as np

from ._calibration import Gate

__all__ = ["decode_gate", "encode_gate"]

_FIELDS = frozenset(f.name for f in dataclasses.fields(Gate))
_SCALARS = {int: "<i8", float: "<f8"}
_STRUCT = {"<i8": "<q", "<f8": "<d"}  # a number's dtype -> its struct format


def _check(key: str, body: bytes) -> bytes:
    return zlib.crc32(body, zlib.crc32(key.encode("utf-8"))).to_bytes(4, "little")


def encode_gate(gate: Gate, key: str) -> bytes | None:
    """``gate`` as bytes bound to ``key``; ``None`` for a field this codec cannot keep (the
    gate is then refitted on the next boot, never stored half).

    Layout: the header's length (4 bytes), a JSON header (each field's name, dtype and
    shape; ``null`` for a number), each field's little-endian bytes, and a CRC-32 of the
    key and all of that.
    """
    header: list[list[Any]] = []
    chunks: list[bytes] = []
    for f in dataclasses.fields(gate):
        value = getattr(gate, f.name)
        if isinstance(value, np.ndarray):
            if value.dtype.kind != "f" or not np.isfinite(value).all():
                return None
            dtype = value.dtype.newbyteorder("<")
            header.append([f.name, dtype.str, list(value.shape)])
            chunks.append(np.ascontiguousarray(value, dtype=dtype).tobytes())
        elif type(value) in _SCALARS and math.isfinite(value):
            code = _SCALARS[type(value)]
            header.append([f.name, code, None])
            chunks.append(struct.pack(_STRUCT[code], value))
        else:
            return None
    head = json.dumps(header, separators=(",", ":")).encode("ascii")
    body = len(head).to_bytes(4, "little") + head + b"".join(chunks)
    return body + _check(key, body)


def decode_gate(blob: Any, key: str) -> Gate | None:
    """The gate ``blob`` holds for ``key``, or ``None`` when it is not exactly one (another
    key, a failed CRC, fields other than ``Gate``'s). Finite by construction: the CRC shows
    these are the bytes :func:`encode_gate` wrote, and it writes no non-finite number.
    Arrays are read-only views of ``blob``."""
    try:
        if not isinstance(blob, bytes) or len(blob) < 8 or blob[-4:] != _check(key, blob[:-4]):
            return None
        size = int.from_bytes(blob[:4], "little")
        header = _header(blob[4 : 4 + size])
        if header is None:
            return None
        values: dict[str, Any] = {}
        at, end = 4 + size, len(blob) - 4
        for name, dtype, shape in header:
            n = dtype.itemsize * (1 if shape is None else math.prod(shape))
            if at + n > end:
                return None
            if shape is None:
                values[name] = struct.unpack_from(_STRUCT[dtype.str], blob, at)[0]
            else:
                arr = np.frombuffer(blob, dtype=dtype, count=n // dtype.itemsize, offset=at)
                values[name] = arr if len(shape) == 1 else arr.reshape(shape)
            at += n
        if at != end:
            return None
        return Gate(**values)
    except (TypeError, ValueError, struct.error):
        return None


@lru_cache(maxsize=256)
def _header(raw: bytes) -> tuple[tuple[str, np.dtype[Any], tuple[int, ...] | None], ...] | None:
    """A gate header's fields, checked against the ``Gate`` dataclass (memoised: gates of
    one router mostly share a header)."""
    try:
        items = json.loads(raw)
        out = []
        for name, code, shape in items:
            dtype = np.dtype(code)
            if dtype.kind not in ("f", "i") or dtype.byteorder not in ("<", "|", "="):
                return None
            if shape is None:
                if dtype.str not in _STRUCT:
                    return None
            else:
                shape = tuple(int(s) for s in shape)
                if dtype.kind != "f" or any(s < 0 for s in shape):
                    return None
            out.append((str(name), dtype, shape))
    except (ValueError, TypeError, RecursionError):
        return None
    if [n for n, _, _ in out] != [f.name for f in dataclasses.fields(Gate)]:
        return None
    return tuple(out)
