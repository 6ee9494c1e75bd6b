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


def _check(key: str, body: bytes | memoryview) -> bytes:
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
    if not isinstance(blob, bytes) or len(blob) < 8:
        return None
    view = memoryview(blob)
    if view[-4:] != _check(key, view[:-4]):
        return None
    size = int.from_bytes(view[:4], "little")
    layout = _layout(bytes(view[4 : 4 + size]))
    if layout is None or len(blob) != 8 + size + layout[1]:
        return None
    at = 4 + size
    values: dict[str, Any] = {}
    for name, fmt, dtype, count, shape, offset in layout[0]:
        if fmt is not None:
            values[name] = struct.unpack_from(fmt, blob, at + offset)[0]
        else:
            arr = np.frombuffer(blob, dtype=dtype, count=count, offset=at + offset)
            values[name] = arr if shape is None else arr.reshape(shape)
    return Gate(**values)


# name, struct format (a number) or None (an array), dtype, count, shape (None: 1-D), offset
_Field = tuple[str, str | None, np.dtype[Any], int, tuple[int, ...] | None, int]


@lru_cache(maxsize=256)
def _layout(raw: bytes) -> tuple[tuple[_Field, ...], int] | None:
    """A gate header's fields and their total bytes, checked against the ``Gate`` dataclass
    (memoised: the gates of one router share a few headers)."""
    out: list[_Field] = []
    offset = 0
    try:
        for name, code, shape in json.loads(raw):
            dtype = np.dtype(code)
            if dtype.byteorder not in ("<", "|", "="):
                return None
            if shape is None:
                if dtype.str not in _STRUCT:
                    return None
                out.append((str(name), _STRUCT[dtype.str], dtype, 1, None, offset))
                offset += dtype.itemsize
                continue
            dims = tuple(int(s) for s in shape)
            if dtype.kind != "f" or any(d < 0 for d in dims):
                return None
            count = math.prod(dims)
            out.append((str(name), None, dtype, count, None if len(dims) == 1 else dims, offset))
            offset += dtype.itemsize * count
    except (ValueError, TypeError, RecursionError):
        return None
    if [f[0] for f in out] != [f.name for f in dataclasses.fields(Gate)]:
        return None
    return tuple(out), offset
