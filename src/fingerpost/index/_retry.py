"""Retry policy of the remote adapters: bounded retries and error mapping.

Every client call an adapter makes goes through :func:`call_with_retry` (or its async twin):
a transient failure (a dropped connection, a timeout, 408/429/5xx) is retried with
exponential backoff until ``retries`` or ``max_retry_time`` runs out; any failure left over,
transient or not, leaves as :class:`~fingerpost.RemoteUnavailableError` raised ``from`` the
client's exception. Whether a failure is transient is the adapter's call (``transient=``).
The record layout both backends share is in :mod:`fingerpost.index._records`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .._exceptions import FingerpostError, InvalidInputError, RemoteUnavailableError

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "acall_with_retry", "call_with_retry"]

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
