"""MicroBatcher: gathers concurrent turns into one call of a blocking batch function.

One ONNX call on 64 short texts costs about what eight calls on 8 texts cost, so agents that
each route one turn at a time should share encoder calls. The batcher owns a bounded queue and
one worker task on the running event loop. The worker takes what is waiting, calls the blocking
``process`` on a dedicated one-thread executor, and while that runs the next batch accumulates.
Only one batch is in flight: the encoder already uses every core, and a single batch in flight
is what lets a full queue push back on callers.

When to dispatch (the worker has at least one item and nothing in flight):

- ``max_batch`` items are waiting, or the batcher is closing: now.
- Every waiting item belongs to one caller (a lone caller): now, after one loop iteration so
  that callers woken in the same iteration can join. Waiting would only add latency.
- Otherwise: when ``max_batch`` items are waiting or ``batch_window_ms`` after the oldest
  waiting item arrived, whichever comes first. Items that queued up while the previous batch
  ran have usually waited longer than the window already and go at once.

With a ``resolve`` step, the batch's results then go to that coroutine on the event loop
before the callers get them: work that waits on a network (a remote index's async client)
awaits there instead of holding the worker thread, and the next batch's ``process`` runs
meanwhile. At most one batch resolves at a time (the next waits for it before its own
``resolve``), so there are at most two batches in flight, and the queue still pushes back.

With a ``sort_key`` and more than ``max_batch`` items waiting, everything waiting is sorted by
key and cut into near-equal chunks, which run one after another before newer items, so each
call sees similar lengths (less padding) and nothing starves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fingerpost._exceptions import (
    EncoderError,
    EventLoopError,
    InvalidInputError,
    QueueFullError,
    RouterClosedError,
)

__all__ = ["BatcherState", "BatcherStats", "MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")

BatcherState = Literal["unopened", "running", "closing", "closed"]


@dataclass(frozen=True)
class BatcherStats:
    """A snapshot of a batcher's counters, cumulative over restarts.

    Attributes:
        batches: Calls of ``process`` made, failed ones included.
        items: Items passed to ``process``.
        largest_batch: The most items one call of ``process`` received.
        queue_high_water: The most items ever waiting in the queue at once.
        failed_batches: Calls of ``process`` that raised or returned the wrong count (a
            failing batch is retried in halves, so one bad item counts several).
        queued: Items waiting now (not yet handed to ``process``).
    """

    batches: int = 0
    items: int = 0
    largest_batch: int = 0
    queue_high_water: int = 0
    failed_batches: int = 0
    queued: int = 0


class _Request(Generic[R]):
    """One caller's items, answered through a single future once every item has a result."""

    __slots__ = ("future", "queued", "remaining", "results")

    def __init__(self, future: asyncio.Future[list[R]], n: int) -> None:
        self.future = future
        self.results: list[Any] = [None] * n
        self.remaining = n
        self.queued = 0  # how many of its items sit in the pending deque right now


class _Entry(Generic[T, R]):
    __slots__ = ("index", "item", "key", "request")

    def __init__(self, item: T, key: int, request: _Request[R], index: int) -> None:
        self.item = item
        self.key = key
        self.request = request
        self.index = index


class MicroBatcher(Generic[T, R]):
    """Runs a blocking ``process(items) -> results`` on batches of concurrently submitted items.

    Args:
        process: Maps a list of items to a list of results of the same length and order. It
            runs on a worker thread, never on the event loop.
        max_batch: The most items per call of ``process``.
        batch_window_ms: How long a partial batch may wait for more items, counted from its
            oldest item. A lone caller never waits for it.
        max_queue: The most items waiting for a batch; beyond it ``on_full`` applies.
        on_full: ``"raise"`` raises `QueueFullError` at once; ``"wait"`` waits for room.
        sort_key: A cheap key (e.g. text length) to group similar items into the same call when
            more than ``max_batch`` are waiting. It runs on the event loop in ``submit``.
        executor: Where ``process`` runs. By default the batcher owns a one-thread executor,
            created by `start` and shut down by `aclose`; a given executor is never shut down.
        resolve: An async step on the event loop that maps the results ``process`` returned
            (those of the items that did not fail) to the final results, same length and
            order. If it raises, those items fail with its error.

    The worker binds to the loop that starts it. If that loop ends without `aclose` (two
    successive ``asyncio.run`` calls), the next ``submit`` on a new loop starts afresh; using
    one batcher from two running loops at once raises `EventLoopError` (a ``RuntimeError``).
    """

    def __init__(
        self,
        process: Callable[[list[T]], list[R]],
        *,
        max_batch: int = 64,
        batch_window_ms: float = 2.0,
        max_queue: int = 4096,
        on_full: Literal["raise", "wait"] = "raise",
        sort_key: Callable[[T], int] | None = None,
        executor: concurrent.futures.Executor | None = None,
        resolve: Callable[[list[R]], Awaitable[list[R]]] | None = None,
    ) -> None:
        if max_batch < 1:
            raise InvalidInputError(f"max_batch must be at least 1, got {max_batch}")
        if not (math.isfinite(batch_window_ms) and batch_window_ms >= 0):
            raise InvalidInputError(f"batch_window_ms must be >= 0, got {batch_window_ms}")
        if max_queue < 1:
            raise InvalidInputError(f"max_queue must be at least 1, got {max_queue}")
        if on_full not in ("raise", "wait"):
            raise InvalidInputError(f"on_full must be 'raise' or 'wait', got {on_full!r}")
        self._process = process
        self._max_batch = max_batch
        self._window = batch_window_ms / 1000.0
        self._max_queue = max_queue
        self._on_full = on_full
        self._sort_key = sort_key
        self._given_executor = executor
        self._resolve = resolve

        self._state: BatcherState = "unopened"
        self._close_requested = False
        self._generation = 0  # bumped by _start and _abandon; a stale worker leaves state alone
        # Bound to the running loop by _start; replaced on every start.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: concurrent.futures.Executor | None = None
        self._wakeup = asyncio.Event()
        self._pending: deque[_Entry[T, R]] = deque()
        self._ready: deque[list[_Entry[T, R]]] = deque()  # sorted chunks of one round
        self._in_flight: list[_Entry[T, R]] = []
        # The batch whose ``resolve`` step runs (a task of its own), and that task.
        self._resolving: asyncio.Task[None] | None = None
        self._resolving_batch: list[_Entry[T, R]] = []
        self._space_waiters: deque[asyncio.Future[None]] = deque()
        self._size = 0  # items in _pending and _ready
        self._first_at = 0.0  # loop time when _pending last became non-empty

        self._batches = 0
        self._items = 0
        self._largest = 0
        self._high_water = 0
        self._failed = 0

    # -- public surface --------------------------------------------------------------------

    @property
    def state(self) -> BatcherState:
        """``"unopened"``, ``"running"``, ``"closing"`` or ``"closed"``."""
        return self._state

    @property
    def is_running(self) -> bool:
        return self._state == "running"

    @property
    def stats(self) -> BatcherStats:
        return BatcherStats(
            batches=self._batches,
            items=self._items,
            largest_batch=self._largest,
            queue_high_water=self._high_water,
            failed_batches=self._failed,
            queued=self._size,
        )

    def observe(self, observer: Callable[[list[T], list[R], float], None] | None) -> None:
        """Report each batch that ``process`` finished to ``observer(items, results, seconds)``,
        on the worker thread right after the call (a metrics hook: ``fingerpost.metrics``).
        ``None`` stops reporting. An observer that raises is logged, never fails the batch."""
        process: Callable[[list[T]], list[R]] = self.__dict__.setdefault(
            "_unobserved", self._process
        )
        if observer is None:
            self._process = process
            return

        def observed(items: list[T]) -> list[R]:
            start = time.perf_counter()
            results = process(items)
            try:
                observer(items, results, time.perf_counter() - start)
            except Exception:
                logging.getLogger("fingerpost.metrics").exception("batch observer failed")
            return results

        self._process = observed

    async def start(self) -> None:
        """Start the worker on the running loop; also reopens a closed batcher."""
        if self._state == "closing" and self._worker is not None:
            await asyncio.shield(self._worker)
        if self._state == "closed":
            self._state = "unopened"
        self._ensure_running()

    async def submit(self, item: T) -> R:
        """Process one item in some batch and return its result.

        Raises:
            QueueFullError: The queue is full and ``on_full="raise"``.
            RouterClosedError: The batcher is closed, or closed before the item ran.
        """
        loop = self._ensure_running()
        key = self._sort_key(item) if self._sort_key is not None else 0
        if self._size >= self._max_queue:
            if self._on_full == "raise":
                raise QueueFullError(f"the micro-batcher queue is full ({self._max_queue} items)")
            await self._wait_for_space(loop)
        request: _Request[R] = _Request(loop.create_future(), 1)
        self._push([_Entry(item, key, request, 0)], request)
        return (await request.future)[0]

    async def submit_many(self, items: list[T]) -> list[R]:
        """Process a caller's items (in any batches) and return their results in order.

        With ``on_full="raise"`` the items are queued all or none; with ``"wait"`` they are
        queued as room frees up. The first failing batch fails the whole call.
        """
        loop = self._ensure_running()
        if not items:
            return []
        key = self._sort_key
        keys = [key(item) for item in items] if key is not None else [0] * len(items)
        n = len(items)
        if self._on_full == "raise" and n > self._max_queue - self._size:
            raise QueueFullError(
                f"the micro-batcher queue has room for {self._max_queue - self._size} of {n} items"
            )
        request: _Request[R] = _Request(loop.create_future(), n)
        start = 0
        try:
            while start < n and not request.future.done():
                if self._size >= self._max_queue:
                    await self._wait_for_space(loop)
                stop = min(n, start + self._max_queue - self._size)
                self._push(
                    [_Entry(items[i], keys[i], request, i) for i in range(start, stop)], request
                )
                start = stop
        except BaseException:
            # Items already queued are skipped; an error one of them already got is not news.
            if not request.future.cancel() and not request.future.cancelled():
                request.future.exception()
            raise
        return await request.future

    async def aclose(self, *, drain: bool = True) -> None:
        """Stop the worker; `start` (or nothing, before the first start) reopens it.

        Args:
            drain: Process every queued item first. Otherwise queued items fail with
                `RouterClosedError`; a batch already running still finishes.
        """
        if self._state in ("unopened", "closed"):
            self._state = "closed"
            return
        if self._loop is not asyncio.get_running_loop():
            if not self._bound_loop_is_gone():
                raise _other_loop_error()
            self._abandon()
            self._state = "closed"
            return
        self._close_requested = True
        self._state = "closing"
        if not drain:
            self._fail_queued(RouterClosedError("the micro-batcher was closed without draining"))
        self._wake_space_waiters(len(self._space_waiters))
        self._wakeup.set()
        if self._worker is not None:
            await asyncio.shield(self._worker)

    async def __aenter__(self) -> MicroBatcher[T, R]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- lifecycle -------------------------------------------------------------------------

    def _ensure_running(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._state in ("running", "closing") and self._loop is not loop:
            if not self._bound_loop_is_gone():
                raise _other_loop_error()
            self._abandon()
        if self._state == "running":
            return loop
        if self._state == "unopened":
            self._start(loop)
            return loop
        raise RouterClosedError(f"the micro-batcher is {self._state}")

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wakeup = asyncio.Event()
        self._pending.clear()
        self._ready.clear()
        self._in_flight = []
        self._resolving, self._resolving_batch = None, []
        self._space_waiters.clear()
        self._size = 0
        self._close_requested = False
        self._executor = self._given_executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="fingerpost-batcher"
        )
        self._state = "running"
        self._generation += 1
        self._worker = loop.create_task(
            self._run(self._generation), name="fingerpost-micro-batcher"
        )

    def _bound_loop_is_gone(self) -> bool:
        return self._loop is None or self._loop.is_closed() or not self._loop.is_running()

    def _abandon(self) -> None:
        """Forget a worker whose loop stopped without closing us; its futures died with it."""
        self._generation += 1
        self._shutdown_executor(wait=False)
        self._pending.clear()
        self._ready.clear()
        self._in_flight = []
        self._resolving, self._resolving_batch = None, []
        self._space_waiters.clear()
        self._size = 0
        self._worker = None
        self._loop = None
        self._state = "closed" if self._close_requested else "unopened"

    def _shutdown_executor(self, *, wait: bool) -> None:
        if self._executor is not None and self._executor is not self._given_executor:
            self._executor.shutdown(wait=wait)
        self._executor = None

    # -- queue -----------------------------------------------------------------------------

    def _push(self, entries: list[_Entry[T, R]], request: _Request[R]) -> None:
        before = len(self._pending)
        if before == 0:
            assert self._loop is not None
            self._first_at = self._loop.time()
        self._pending.extend(entries)
        request.queued += len(entries)
        self._size += len(entries)
        self._high_water = max(self._high_water, self._size)
        if before == 0 or before < self._max_batch <= len(self._pending):
            self._wakeup.set()

    async def _wait_for_space(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._size >= self._max_queue:
            waiter: asyncio.Future[None] = loop.create_future()
            self._space_waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if not waiter.cancel():  # woken, then cancelled: hand the room on
                    self._wake_space_waiters(1)
                with suppress(ValueError):
                    self._space_waiters.remove(waiter)
                raise
            if self._state != "running" or self._loop is not loop:
                raise RouterClosedError(f"the micro-batcher is {self._state}")

    def _wake_space_waiters(self, n: int) -> None:
        while n > 0 and self._space_waiters:
            waiter = self._space_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                n -= 1

    def _release(self, n: int) -> None:
        self._size -= n
        self._wake_space_waiters(n)

    def _fail_queued(self, exc: BaseException) -> None:
        for chunk in self._ready:
            _fail(chunk, exc)
        _fail(self._pending, exc)
        for entry in self._pending:
            entry.request.queued = 0
        n = self._size
        self._ready.clear()
        self._pending.clear()
        self._release(n)

    # -- worker ----------------------------------------------------------------------------

    async def _run(self, generation: int) -> None:
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    await self._settle()
                    return
                await self._run_batch(batch)
        finally:
            if generation == self._generation:  # else we were abandoned and replaced
                self._finish()

    async def _next_batch(self) -> list[_Entry[T, R]] | None:
        while True:
            if self._ready:
                chunk = self._ready.popleft()
                self._release(len(chunk))
                live = [e for e in chunk if not e.request.future.done()]
                if live:
                    return live
                continue
            if not self._pending:
                if self._close_requested:
                    return None
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not self._close_requested and len(self._pending) < self._max_batch:
                await self._collect()
            self._take_pending()

    async def _collect(self) -> None:
        """Wait while a partial batch may still grow (see the module docstring)."""
        await asyncio.sleep(0)  # callers woken in this iteration get to submit
        pending = self._pending
        if self._close_requested or not pending or len(pending) >= self._max_batch:
            return
        if pending[0].request.queued == len(pending):  # a lone caller
            return
        assert self._loop is not None
        deadline = self._first_at + self._window
        if self._window <= 0 or self._loop.time() >= deadline:
            return
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            self._wakeup.set()

        timer = self._loop.call_at(deadline, expire)
        try:
            while not expired and not self._close_requested and len(pending) < self._max_batch:
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            timer.cancel()

    def _take_pending(self) -> None:
        """Move what is waiting into ``_ready``: one batch, or a sorted round of chunks."""
        pending = self._pending
        if self._sort_key is None or len(pending) <= self._max_batch:
            batch = [pending.popleft() for _ in range(min(len(pending), self._max_batch))]
        else:
            batch = sorted(pending, key=_entry_key)  # stable: ties keep arrival order
            pending.clear()
        for entry in batch:
            entry.request.queued -= 1
        n_chunks = math.ceil(len(batch) / self._max_batch)
        for i in range(n_chunks):  # near-equal sizes, each at most max_batch
            lo, hi = len(batch) * i // n_chunks, len(batch) * (i + 1) // n_chunks
            self._ready.append(batch[lo:hi])

    async def _run_batch(self, batch: list[_Entry[T, R]]) -> None:
        assert self._loop is not None
        self._in_flight = batch
        self._items += len(batch)
        self._largest = max(self._largest, len(batch))
        counts = [0, 0]  # calls of process, failed calls
        try:
            results = await self._loop.run_in_executor(
                self._executor, _call_isolating, self._process, [e.item for e in batch], counts
            )
        except Exception as exc:  # the executor itself failed
            results = [_ItemFailed(exc)] * len(batch)
        finally:
            self._batches += counts[0]
            self._failed += counts[1]
        if self._resolve is None:
            _deliver(batch, results)
            self._in_flight = []
            return
        await self._settle()  # one batch resolves at a time
        self._resolving_batch, self._in_flight = batch, []
        self._resolving = self._loop.create_task(
            self._resolve_then_deliver(batch, results), name="fingerpost-micro-batcher-resolve"
        )

    async def _settle(self) -> None:
        """Wait for the batch whose ``resolve`` step runs, if any."""
        if self._resolving is not None:
            await self._resolving

    async def _resolve_then_deliver(
        self, batch: list[_Entry[T, R]], results: list[R | _ItemFailed]
    ) -> None:
        _deliver(batch, await self._resolved(results))
        self._resolving_batch = []

    async def _resolved(self, results: list[R | _ItemFailed]) -> list[R | _ItemFailed]:
        """The ``resolve`` step over the items that did not fail (see the class)."""
        assert self._resolve is not None
        ok = [i for i, r in enumerate(results) if not isinstance(r, _ItemFailed)]
        good: list[R] = [r for r in results if not isinstance(r, _ItemFailed)]
        if not good:
            return results
        done: list[R | _ItemFailed]
        try:
            final = await self._resolve(good)
            if len(final) != len(ok):
                raise EncoderError(
                    f"the resolve step returned {len(final)} results for {len(ok)} items"
                )
            done = list(final)
        except Exception as exc:
            self._failed += 1
            done = [_ItemFailed(exc)] * len(ok)
        out = list(results)
        for i, result in zip(ok, done, strict=True):
            out[i] = result
        return out

    def _finish(self) -> None:
        """Runs when the worker ends: closed, or cancelled with its loop."""
        thread_idle = not self._in_flight  # else we were cancelled mid-batch
        if self._loop is not None and not self._loop.is_closed():
            if self._resolving is not None:
                self._resolving.cancel()  # cancelled with the worker: its batch fails below
            closed = RouterClosedError("the micro-batcher closed before this item was processed")
            _fail(self._in_flight, closed)
            _fail(self._resolving_batch, closed)
            self._fail_queued(closed)
            self._wake_space_waiters(len(self._space_waiters))
        self._in_flight = []
        self._resolving, self._resolving_batch = None, []
        self._pending.clear()
        self._ready.clear()
        self._space_waiters.clear()
        self._size = 0
        self._shutdown_executor(wait=thread_idle)  # never block the loop on a running batch
        self._worker = None
        self._state = "closed" if self._close_requested else "unopened"


class _ItemFailed:
    """The error one item got (never a result ``process`` could return)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _call_isolating(
    process: Callable[[list[T]], list[R]], items: list[T], counts: list[int]
) -> list[R | _ItemFailed]:
    """Run ``items``; if the call raises, bisect so only the items that fail alone fail.

    One bad turn (text the tokenizer rejects, say) must not fail the 63 good turns that shared
    its micro-batch. A bad item costs about ``2 log2(n)`` extra calls; an encoder that fails
    on everything costs ``2n - 1`` calls before every item gets its error. A wrong result
    count is a bug of ``process``, not of an item: the whole call fails.
    """
    counts[0] += 1
    try:
        results = _call(process, items)
    except Exception as exc:
        counts[1] += 1
        if len(items) == 1:
            return [_ItemFailed(exc)]
        mid = len(items) // 2
        return _call_isolating(process, items[:mid], counts) + _call_isolating(
            process, items[mid:], counts
        )
    if len(results) != len(items):
        counts[1] += 1
        error = EncoderError(
            f"the batch function returned {len(results)} results for {len(items)} items"
        )
        return [_ItemFailed(error)] * len(items)
    return list(results)


def _other_loop_error() -> EventLoopError:
    return EventLoopError(
        "this router's micro-batcher runs on another event loop that is still running. "
        "Await acall/abatch on that loop (from another thread: "
        "asyncio.run_coroutine_threadsafe(router.acall(text), loop)), or `await router.aclose()` "
        "on it first, or give each event loop its own SemanticRouter. A loop that has ended "
        "(asyncio.run returned) is no obstacle: the next call rebinds to the new loop."
    )


def _entry_key(entry: _Entry[Any, Any]) -> int:
    return entry.key


def _call(process: Callable[[list[T]], list[R]], items: list[T]) -> list[R]:
    try:
        return process(items)
    except StopIteration as exc:  # a future cannot carry StopIteration; the worker would hang
        raise RuntimeError("the batch function raised StopIteration") from exc


def _deliver(batch: list[_Entry[T, R]], results: list[R | _ItemFailed]) -> None:
    """Hand each item its result (or error); a request completes with its last item."""
    for entry, result in zip(batch, results, strict=True):
        request = entry.request
        if request.future.done():  # the caller left, or another batch failed it
            continue
        if isinstance(result, _ItemFailed):
            request.future.set_exception(result.error)
            continue
        request.results[entry.index] = result
        request.remaining -= 1
        if request.remaining == 0:
            request.future.set_result(request.results)


def _fail(entries: Iterable[_Entry[Any, Any]], exc: BaseException) -> None:
    for entry in entries:
        if not entry.request.future.done():
            entry.request.future.set_exception(exc)
