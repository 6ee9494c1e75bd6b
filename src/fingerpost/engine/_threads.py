"""Capping numpy's BLAS threads: an explicit, process-wide opt-in, never a side effect.

Scoring a batch of turns is one matrix product that a single core finishes in microseconds;
on a small machine, letting BLAS spawn a thread per core only steals cores from the encoder
(semantic-router's latency triples on 2 cores once its index grows, for exactly this reason).
But the BLAS thread count is process-wide state that belongs to the application, so routers
leave it alone unless asked (``blas_threads=``, or this function).

Why not cap it only around the router's own scoring (threadpoolctl's context manager)?
Setting OpenBLAS's thread count while another thread of the process is inside a BLAS call
crashes the process (a segfault, seen in the local soak test with concurrent readers and
writers), and a router cannot know what the application's other threads are doing. A one-time
cap at start-up, chosen by the application, is the safe form.
"""

from __future__ import annotations

__all__ = ["limit_blas_threads"]


def limit_blas_threads(n: int) -> None:
    """Cap numpy's BLAS threads for the whole process.

    Call it once at start-up, before threads that use numpy are running (changing the count
    while another thread is inside a BLAS call is unsafe with OpenBLAS). Single-turn routing is
    a matrix-vector product, single-threaded anyway; batches and ``fit`` are what it affects.

    Args:
        n: Threads BLAS may use from now on (at least 1).

    Raises:
        InvalidInputError: ``n`` is not a positive int.
    """
    from .._exceptions import InvalidInputError

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"n must be a positive int, got {n!r}")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")
