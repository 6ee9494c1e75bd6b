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
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ._calibration import Gate

__all__ = ["decode_gate", "decode_gate_table", "encode_gate", "encode_gate_table"]

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


def encode_gate_table(gates: Sequence[Gate]) -> tuple[list[list[Any]], list[bytes]] | None:
    """Many gates as columns (one per ``Gate`` field: numbers as one array, 1-D arrays
    concatenated with their offsets), for a boot to read in one pass; ``None`` when a field
    does not fit a column (the caller then keeps no table)."""
    columns: list[list[Any]] = []
    chunks: list[bytes] = []
    for f in dataclasses.fields(Gate):
        values = [getattr(g, f.name) for g in gates]
        kinds = {type(v) for v in values}
        if kinds <= {np.ndarray}:
            dtypes = {v.dtype for v in values}
            if len(dtypes) > 1 or any(v.ndim != 1 for v in values):
                return None
            dtype = (dtypes.pop() if dtypes else np.dtype(np.float64)).newbyteorder("<")
            if dtype.kind != "f":
                return None
            data = np.concatenate([v.astype(dtype) for v in values]) if values else np.empty(0)
            ends = np.cumsum([v.shape[0] for v in values], dtype=np.int64)
            if not np.isfinite(data).all():
                return None
            columns.append([f.name, dtype.str, len(data)])
            chunks += [ends.astype("<i8").tobytes(), data.astype(dtype).tobytes()]
        elif len(kinds) == 1 and kinds.pop() in _SCALARS:
            code = _SCALARS[type(values[0])]
            col = np.array(values, dtype=code)
            if not np.isfinite(col).all():
                return None
            columns.append([f.name, code, None])
            chunks.append(col.tobytes())
        elif not values:
            columns.append([f.name, "<f8", None])
        else:
            return None
    return columns, chunks


def decode_gate_table(columns: Any, data: bytes, count: int) -> list[Gate] | None:
    """The ``count`` gates :func:`encode_gate_table` wrote (``data``: its chunks joined), or
    ``None`` when the columns are not exactly ``Gate``'s or do not fit ``data``."""
    try:
        if [c[0] for c in columns] != [f.name for f in dataclasses.fields(Gate)]:
            return None
        fields: list[tuple[str, Any, Any]] = []  # name, per-gate values or (ends, data)
        at = 0
        for name, code, length in columns:
            dtype = np.dtype(code)
            if length is None:
                if dtype.str not in _STRUCT:
                    return None
                col = np.frombuffer(data, dtype=dtype, count=count, offset=at)
                at += dtype.itemsize * count
                fields.append((str(name), col.tolist(), None))
                continue
            if dtype.kind != "f" or dtype.byteorder not in ("<", "|", "="):
                return None
            ends = np.frombuffer(data, dtype="<i8", count=count, offset=at)
            at += 8 * count
            arr = np.frombuffer(data, dtype=dtype, count=int(length), offset=at)
            at += dtype.itemsize * int(length)
            if count and (int(ends[-1]) != int(length) or (np.diff(ends) < 0).any()):
                return None
            fields.append((str(name), ends.tolist(), arr))
        if at != len(data):
            return None
        out = []
        for i in range(count):
            values: dict[str, Any] = {}
            for name, col, arr in fields:
                if arr is None:
                    values[name] = col[i]
                else:
                    values[name] = arr[(col[i - 1] if i else 0) : col[i]]
            out.append(Gate(**values))
        return out
    except (TypeError, ValueError, IndexError):
        return None
