"""Plumbing shared by the remote adapters: bounded retries, error mapping, record layout.

Every client call an adapter makes goes through :func:`call_with_retry` (or its async twin):
a transient failure (a dropped connection, a timeout, 408/429/5xx) is retried with
exponential backoff until ``retries`` or ``max_retry_time`` runs out; any failure left over,
transient or not, leaves as :class:`~fingerpost.RemoteUnavailableError` raised ``from`` the
client's exception. Whether a failure is transient is the adapter's call (``transient=``).

The second half is the part of the record layout both backends share: point identity
(UUID5 of the exact (route, utterance) pair), lease tickets as flat payloads, vector checks.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .._exceptions import (
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    InvalidVectorError,
    RemoteUnavailableError,
)
from .base import LeaseTicket, RemoteMeta, RemotePoint, Vector

__all__ = [
    "RETRYABLE_STATUS",
    "RetryPolicy",
    "acall_with_retry",
    "call_with_retry",
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

T = TypeVar("T")

#: HTTP statuses worth another attempt: timeouts, throttling, server-side trouble.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long an adapter retries one client call.

    Attempt ``k`` (0-based) that fails transiently is followed by a sleep of
    ``min(backoff * 2**k, max_backoff)`` scaled by a random factor in [0.5, 1] (jitter keeps
    agents that failed together from retrying together). Retrying stops after ``retries``
    retries, or earlier when the next sleep would end past ``max_retry_time`` seconds since
    the first attempt. ``sleep``/``asleep``/``clock`` are injectable so tests never wait.
    """

    retries: int = 3
    backoff: float = 0.2
    max_retry_time: float = 30.0
    max_backoff: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidInputError(f"retries must be an integer >= 0, got {self.retries!r}")
        for name in ("backoff", "max_retry_time", "max_backoff"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based)."""
        return min(self.backoff * 2.0**attempt, self.max_backoff) * random.uniform(0.5, 1.0)


def _next_delay(
    policy: RetryPolicy, attempt: int, start: float, slept: float, transient: bool
) -> float | None:
    """The sleep before the next attempt, or ``None`` to stop retrying.

    Time spent is the larger of the clock's and the sleeps' account, so an injected sleep
    that does not wait still ends the schedule on time.
    """
    if not transient or attempt >= policy.retries:
        return None
    delay = policy.delay(attempt)
    if max(policy.clock() - start, slept) + delay > policy.max_retry_time:
        return None
    return delay


def _unavailable(what: str, exc: Exception, attempts: int) -> RemoteUnavailableError:
    tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
    return RemoteUnavailableError(f"{what} failed after {tries}: {type(exc).__name__}: {exc}")


def call_with_retry(
    policy: RetryPolicy, what: str, fn: Callable[[], T], transient: Callable[[Exception], bool]
) -> T:
    """Run one client call under ``policy``; map what escapes to ``RemoteUnavailableError``.

    ``fn`` must do nothing but call the client, so every exception it raises is the
    backend's (fingerpost's own errors pass through untouched).
    """
    start = policy.clock()
    attempt, slept = 0, 0.0
    while True:
        try:
            return fn()
        except FingerpostError:
            raise
        except Exception as exc:
            delay = _next_delay(policy, attempt, start, slept, transient(exc))
            if delay is None:
                raise _unavailable(what, exc, attempt + 1) from exc
            policy.sleep(delay)
            slept += delay
        attempt += 1


async def acall_with_retry(
    policy: RetryPolicy,
    what: str,
    fn: Callable[[], Awaitable[T]],
    transient: Callable[[Exception], bool],
) -> T:
    """Async twin of :func:`call_with_retry` (``fn`` returns a fresh awaitable per attempt)."""
    start = policy.clock()
    attempt, slept = 0, 0.0
    while True:
        try:
            return await fn()
        except FingerpostError:
            raise
        except Exception as exc:
            delay = _next_delay(policy, attempt, start, slept, transient(exc))
            if delay is None:
                raise _unavailable(what, exc, attempt + 1) from exc
            await policy.asleep(delay)
            slept += delay
        attempt += 1


# ---- record layout shared by the adapters ----------------------------------------------------

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
