"""Keep numpy's BLAS threads from fighting ONNX Runtime's over a few cores."""

from __future__ import annotations

import threading

__all__ = ["limit_blas_threads"]

_lock = threading.Lock()
_applied: int | None = None


def limit_blas_threads(n: int) -> None:
    """Cap BLAS threads process-wide, once.

    Scoring is a matrix-vector product that a single core finishes in microseconds; letting
    BLAS spawn a thread per core only steals cores from the encoder (semantic-router's latency
    triples on 2 cores once its index grows, for exactly this reason).
    """
    global _applied
    with _lock:
        if _applied == n:
            return
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
        _applied = n
