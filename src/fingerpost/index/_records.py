"""The record layout both remote adapters share: point identity (UUID5 of the exact
(route, utterance) pair), bookkeeping records and lease tickets as flat payloads, and the
checks every vector, query and bind goes through before anything is sent.

(The retry policy that sends them is :mod:`fingerpost.index._retry`.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._exceptions import EncoderMismatchError, InvalidInputError, InvalidVectorError
from .base import LeaseTicket, RemoteMeta, RemotePoint, Vector

__all__ = [
    "check_bind_args",
    "check_meta_encoder",
    "check_points",
    "check_query",
    "record_uuid",
    "ticket_from_payload",
    "ticket_payload",
    "unit_vector",
    "utterance_uuid",
]

_NAMESPACE = uuid.UUID("6f1c2a57-3c1e-5b8e-9d0a-f1a9e5b7c2d4")


def utterance_uuid(route: str, utterance: str) -> str:
    """Deterministic id of the exact (route, utterance) pair.

    The name hashed is a JSON array, so no two pairs share it ("a b"/"c" vs "a"/"b c"), and
    it starts with ``u:`` so it never equals a bookkeeping record's name.
    """
    return str(uuid.uuid5(_NAMESPACE, "u:" + json.dumps([route, utterance], ensure_ascii=False)))


def record_uuid(name: str) -> str:
    """Deterministic id of a bookkeeping record (``"meta"``, ``"lease:<token>"``)."""
    return str(uuid.uuid5(_NAMESPACE, "r:" + name))


def unit_vector(dim: int) -> list[float]:
    """The vector bookkeeping records carry (cosine indexes refuse a zero vector)."""
    return [1.0] + [0.0] * (dim - 1)


def ticket_payload(ticket: LeaseTicket) -> dict[str, Any]:
    """A lease ticket as a flat payload (strings and numbers only)."""
    if not isinstance(ticket.token, str) or not ticket.token:
        raise InvalidInputError("a lease ticket needs a non-empty token")
    try:
        extra = json.dumps(ticket.extra, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"lease ticket extra must be JSON-serialisable: {exc}") from exc
    return {
        "kind": "lease",
        "token": ticket.token,
        "owner": ticket.owner,
        "created_at": float(ticket.created_at),
        "expires_at": float(ticket.expires_at),
        "extra": extra,
    }


def ticket_from_payload(p: dict[str, Any]) -> LeaseTicket:
    """Inverse of :func:`ticket_payload`."""
    return LeaseTicket(
        token=str(p["token"]),
        owner=str(p["owner"]),
        created_at=float(p["created_at"]),
        expires_at=float(p["expires_at"]),
        extra=json.loads(p.get("extra") or "{}"),
    )


def check_bind_args(encoder_name: str, dim: int) -> None:
    if not isinstance(encoder_name, str) or not encoder_name:
        raise InvalidInputError(f"encoder_name must be a non-empty string, got {encoder_name!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InvalidInputError(f"dim must be an integer >= 1, got {dim!r}")


def check_meta_encoder(meta: RemoteMeta, encoder_name: str, dim: int, where: str) -> None:
    """Refuse a remote whose meta record names another encoder."""
    if (meta.encoder_name, meta.encoder_dim) != (encoder_name, dim):
        raise EncoderMismatchError(
            f"{where} was built with encoder {meta.encoder_name!r} (dim {meta.encoder_dim}), "
            f"not {encoder_name!r} (dim {dim})"
        )


def check_points(points: Sequence[RemotePoint], dim: int) -> list[tuple[RemotePoint, list[float]]]:
    """Validate vectors before anything is sent; the last copy of a repeated key wins."""
    out: dict[tuple[str, str], tuple[RemotePoint, list[float]]] = {}
    for i, p in enumerate(points):
        if p.vector is None:
            raise InvalidVectorError(f"point {i} ({p.utterance.route!r}) has no vector")
        out[p.utterance.key] = (p, _check_vector(p.vector, dim, f"point {i}"))
    return list(out.values())


def check_query(vector: Vector, limit: int, dim: int | None) -> list[float]:
    """Validate a query vector and limit; returns the vector as a list."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be an integer >= 1, got {limit!r}")
    return _check_vector(vector, dim, "query vector")


def _check_vector(vector: Any, dim: int | None, what: str) -> list[float]:
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1 or (dim is not None and arr.shape[0] != dim):
        raise InvalidVectorError(f"{what} has shape {arr.shape}, expected ({dim},)")
    if not np.isfinite(arr).all():
        raise InvalidVectorError(f"{what} has NaN or infinite values")
    if not arr.any():
        raise InvalidVectorError(f"{what} is all zeros (no cosine similarity)")
    return [float(x) for x in arr]
