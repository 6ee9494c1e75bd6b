"""Keep numpy's BLAS threads from fighting ONNX Runtime's over a few cores, without touching
the rest of the process.

Scoring a batch of turns is one matrix product that a single core finishes in microseconds;
letting BLAS spawn a thread per core only steals cores from the encoder (semantic-router's
latency triples on 2 cores once its index grows, for exactly this reason). But the BLAS
thread count is process-wide state that belongs to the application, so a router only caps it
*around its own scoring* (`scoped_blas_limit`), and restores it when the last of its
concurrent scorers leaves. `limit_blas_threads` is the explicit, process-wide opt-in.

Cost: a cached ``ThreadpoolController`` sets and restores the limit in about 14 us on the
2-core reference machine (``threadpool_limits(1, "blas")`` rescans the loaded libraries and
costs about 400 us), and a single turn skips it altogether: one query is a matrix-vector
product, which BLAS runs on one thread anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["limit_blas_threads", "scoped_blas_limit"]

_lock = threading.Lock()
_controller: Any = None  # threadpoolctl.ThreadpoolController, built on first use
_depth = 0
_limiter: Any = None  # the active limiter while _depth > 0


def _get_controller() -> Any:
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def limit_blas_threads(n: int) -> None:
    """Cap numpy's BLAS threads for the whole process (an explicit opt-in).

    Routers never call this: by default they cap BLAS only while they score. Call it once at
    start-up on small machines where your own numpy work also competes with the encoder.

    Args:
        n: Threads BLAS may use from now on (at least 1).
    """
    from ._exceptions import InvalidInputError

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"n must be a positive int, got {n!r}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")


@contextmanager
def scoped_blas_limit(n: int | None) -> Iterator[None]:
    """Cap BLAS at ``n`` threads while the block runs (``None``: leave it alone).

    Concurrent scorers (threads of one or several routers) share one limit: the first to enter
    applies it and the last to leave restores what the process had, so a scorer finishing
    early never lifts the cap under another, and nothing is left changed afterwards.
    """
    global _depth, _limiter
    if n is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _limiter = _get_controller().limit(limits=n, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None
