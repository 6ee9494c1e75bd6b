"""MicroBatcher: batching, pipelining, errors, cancellation, back-pressure and lifecycle.

Timing is controlled with events inside ``process`` (a held batch lets later submits pile up),
never with sleeps; the only clock-based assertions are generous invariants.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from fingerpost._exceptions import (
    EncoderError,
    InvalidInputError,
    QueueFullError,
    RouterClosedError,
)
from fingerpost.engine._batcher import MicroBatcher

pytestmark = pytest.mark.timeout(30)

NO_WINDOW_EXPIRY = 60_000.0  # ms: a window no test waits out


class Recorder:
    """A batch function that records each batch; with ``hold`` it blocks the first batch."""

    def __init__(self, fn: Callable[[Any], Any] = lambda x: x * 2, *, hold: bool = False) -> None:
        self.fn = fn
        self.batches: list[list[Any]] = []
        self.threads: set[threading.Thread] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.threads.add(threading.current_thread())
        self.batches.append(list(items))
        self.entered.set()
        assert self.release.wait(timeout=20), "test never released the held batch"
        return [self.fn(x) for x in items]

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 20)


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate()`` holds (a handful of iterations, normally)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


@contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Collect what the running loop reports (e.g. 'Future exception was never retrieved')."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
        gc.collect()
    finally:
        loop.set_exception_handler(previous)


def spawn(coro: Any) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


# -- results ----------------------------------------------------------------------------------


async def test_concurrent_results_equal_sequential() -> None:
    rng = random.Random(7)
    texts = ["x" * rng.randint(1, 40) + str(i) for i in range(400)]

    def pure(items: list[str]) -> list[str]:
        return [f"{t.upper()}:{len(t)}" for t in items]

    expected = pure(texts)
    async with MicroBatcher(pure, max_batch=16, sort_key=len) as batcher:
        singles = asyncio.gather(*(batcher.submit(t) for t in texts[:200]))
        many = asyncio.gather(
            *(batcher.submit_many(texts[i : i + 25]) for i in range(200, 400, 25))
        )
        got_singles, got_many = await asyncio.gather(singles, many)
    assert got_singles == expected[:200]
    assert [r for chunk in got_many for r in chunk] == expected[200:]
    assert batcher.stats.largest_batch <= 16


async def test_submit_many_keeps_order_across_sorted_batches() -> None:
    items = [5, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]
    record = Recorder(lambda x: -x)
    async with MicroBatcher(record, max_batch=4, sort_key=lambda x: x) as batcher:
        assert await batcher.submit_many(items) == [-x for x in items]
        assert await batcher.submit_many([]) == []
    assert len(record.batches) == 4  # 15 items, near-equal chunks of at most 4
    assert all(batch == sorted(batch) for batch in record.batches)


# -- when a batch is dispatched ---------------------------------------------------------------


async def test_lone_caller_does_not_wait_for_window() -> None:
    record = Recorder()
    async with MicroBatcher(record, batch_window_ms=NO_WINDOW_EXPIRY) as batcher:
        assert await asyncio.wait_for(batcher.submit(21), 10) == 42
        assert await asyncio.wait_for(batcher.submit_many([1, 2, 3]), 10) == [2, 4, 6]
    assert record.batches == [[21], [1, 2, 3]]


async def test_full_batch_does_not_wait_for_window() -> None:
    record = Recorder()
    async with MicroBatcher(record, max_batch=4, batch_window_ms=NO_WINDOW_EXPIRY) as batcher:
        got = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(8))), 10)
    assert got == [2 * i for i in range(8)]
    assert record.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]


async def test_window_waits_for_stragglers() -> None:
    record = Recorder()
    async with MicroBatcher(record, max_batch=3, batch_window_ms=NO_WINDOW_EXPIRY) as batcher:
        early = [spawn(batcher.submit(1)), spawn(batcher.submit(2))]
        for _ in range(20):  # many loop iterations, far less than the window
            await asyncio.sleep(0)
        assert record.batches == []  # two callers: the partial batch waits
        late = await asyncio.wait_for(batcher.submit(3), 10)  # fills the batch
        assert await asyncio.gather(*early) == [2, 4]
    assert late == 6
    assert record.batches == [[1, 2, 3]]


async def test_window_expires() -> None:
    record = Recorder()
    window_ms = 30.0
    async with MicroBatcher(record, batch_window_ms=window_ms) as batcher:
        loop = asyncio.get_running_loop()
        started = loop.time()
        got = list(await asyncio.wait_for(asyncio.gather(batcher.submit(1), batcher.submit(2)), 10))
        waited = loop.time() - started
    assert got == [2, 4]
    assert record.batches == [[1, 2]]
    assert waited >= window_ms / 1000 / 2  # it did wait (a lower bound: load cannot break it)


async def test_next_batch_accumulates_while_one_runs() -> None:
    record = Recorder(hold=True)
    async with MicroBatcher(record) as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        rest = [spawn(batcher.submit(i)) for i in range(1, 11)]
        await until(lambda: batcher.stats.queued == 10)
        assert len(record.batches) == 1  # nothing else starts while a batch is in flight
        record.release.set()
        assert await first == 0
        assert await asyncio.gather(*rest) == [2 * i for i in range(1, 11)]
    assert record.batches == [[0], list(range(1, 11))]
    stats = batcher.stats
    assert (stats.batches, stats.items, stats.largest_batch) == (2, 11, 10)
    assert stats.queue_high_water == 10


async def test_sort_key_groups_similar_items_when_more_than_a_batch_waits() -> None:
    record = Recorder(hold=True)
    keys = list(range(12))
    random.Random(3).shuffle(keys)
    async with MicroBatcher(record, max_batch=4, sort_key=lambda x: x) as batcher:
        first = spawn(batcher.submit(100))
        await record.wait_entered()
        rest = [spawn(batcher.submit(k)) for k in keys]
        await until(lambda: batcher.stats.queued == 12)
        record.release.set()
        assert await first == 200
        assert await asyncio.gather(*rest) == [2 * k for k in keys]  # each to its caller
    assert record.batches[1:] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


async def test_without_sort_key_batches_keep_arrival_order() -> None:
    record = Recorder(hold=True)
    order = [7, 3, 9, 1, 8, 2]
    async with MicroBatcher(record, max_batch=4) as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        rest = [spawn(batcher.submit(k)) for k in order]
        await until(lambda: batcher.stats.queued == 6)
        record.release.set()
        await asyncio.gather(first, *rest)
    assert record.batches == [[0], [7, 3, 9, 1], [8, 2]]


# -- where process runs -----------------------------------------------------------------------


async def test_process_runs_on_one_owned_worker_thread() -> None:
    record = Recorder()
    async with MicroBatcher(record, max_batch=4) as batcher:
        await asyncio.gather(*(batcher.submit(i) for i in range(40)))
        await batcher.submit(1)
    assert len(record.threads) == 1
    (thread,) = record.threads
    assert thread is not threading.current_thread()
    assert thread.name.startswith("fingerpost-batcher")
    thread.join(timeout=10)  # the owned executor was shut down
    assert not thread.is_alive()


async def test_given_executor_is_used_and_left_open() -> None:
    record = Recorder()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        async with MicroBatcher(record, executor=pool) as batcher:
            assert await batcher.submit(3) == 6
        assert pool.submit(lambda: 5).result() == 5  # still usable after aclose
    assert [t.name.startswith("mine") for t in record.threads] == [True]


async def test_event_loop_never_blocks() -> None:
    """The work runs on a worker thread: while a batch is in progress the loop keeps running.

    Proved without timing: the first batch blocks until a task on the event loop releases it.
    Run inline on the loop, that task could never run and the batch would give up (no hang).
    """
    loop_thread = threading.get_ident()
    released = threading.Event()
    worker_threads: set[int] = set()
    waited: list[bool] = []

    def encode_like(items: list[int]) -> list[int]:
        worker_threads.add(threading.get_ident())
        if not waited:
            waited.append(released.wait(timeout=10))
        return [x * 2 for x in items]

    async def release_from_the_loop() -> None:
        while not worker_threads:  # the first batch has started on its thread
            await asyncio.sleep(0)
        released.set()

    async with MicroBatcher(encode_like, max_batch=16) as batcher:
        releaser = spawn(release_from_the_loop())
        got = await asyncio.gather(*(batcher.submit(i) for i in range(200)))
        await releaser
    assert got == [2 * i for i in range(200)]
    assert waited == [True], "the loop could not run while a batch was in progress"
    assert loop_thread not in worker_threads
    assert batcher.stats.batches >= 200 // 16


# -- failures ---------------------------------------------------------------------------------


async def test_process_error_fails_only_the_item_that_caused_it() -> None:
    """Issue 10 defect 4: a failing batch is retried in halves; only the bad item fails."""
    boom = RuntimeError("boom")

    def fn(x: int) -> int:
        if x == 2:
            raise boom
        return x * 2

    record = Recorder(fn, hold=True)
    async with MicroBatcher(record, max_batch=3) as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        tasks = [spawn(batcher.submit(i)) for i in range(1, 7)]
        await until(lambda: batcher.stats.queued == 6)
        record.release.set()
        results = await asyncio.gather(first, *tasks, return_exceptions=True)
        assert await batcher.submit(10) == 20  # the worker carries on
    assert record.batches == [[0], [1, 2, 3], [1], [2, 3], [2], [3], [4, 5, 6], [10]]
    assert results[0] == 0
    assert results[1] == 2 and results[2] is boom and results[3] == 6
    assert results[4:] == [8, 10, 12]
    assert batcher.stats.failed_batches == 3  # [1, 2, 3], [2, 3] and [2]
    assert batcher.stats.batches == 8


async def test_wrong_result_count_fails_the_batch_clearly() -> None:
    calls = 0

    def short(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        return [x * 2 for x in items][: len(items) - 1] if calls == 1 else [x * 2 for x in items]

    async with MicroBatcher(short) as batcher:
        with pytest.raises(EncoderError, match="returned 1 results for 2 items"):
            await batcher.submit_many([1, 2])
        assert await batcher.submit(4) == 8
    assert batcher.stats.failed_batches == 1


async def test_process_raising_stop_iteration_does_not_hang_the_worker() -> None:
    def bad(items: list[int]) -> list[int]:
        raise StopIteration

    async with MicroBatcher(bad) as batcher:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(batcher.submit(1), 10)


async def test_submit_many_fails_as_a_whole_when_one_batch_fails() -> None:
    def process(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("bad item")
        return items

    async with MicroBatcher(process, max_batch=2) as batcher:
        with pytest.raises(ValueError, match="bad item"):
            await batcher.submit_many([1, 2, 3, 4, 5, 6])
        assert await batcher.submit_many([1, 2]) == [1, 2]


# -- cancellation -----------------------------------------------------------------------------


async def test_cancelled_callers_do_not_disturb_others() -> None:
    record = Recorder(hold=True)
    with loop_errors() as errors:
        async with MicroBatcher(record) as batcher:
            in_flight = spawn(batcher.submit(1))
            await record.wait_entered()
            queued = spawn(batcher.submit(2))
            kept = spawn(batcher.submit(3))
            many = spawn(batcher.submit_many([4, 5]))
            await until(lambda: batcher.stats.queued == 4)
            for task in (in_flight, queued, many):
                task.cancel()
            await asyncio.sleep(0)
            record.release.set()
            assert await kept == 6
            for task in (in_flight, queued, many):
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert await batcher.submit(7) == 14
    assert errors == []


async def test_cancelled_caller_in_failing_batch_leaves_no_unretrieved_error() -> None:
    record = Recorder(hold=True)

    def failing(items: list[int]) -> list[int]:
        record(items)
        raise RuntimeError("encoder exploded")

    with loop_errors() as errors:
        async with MicroBatcher(failing) as batcher:
            task = spawn(batcher.submit(1))
            await record.wait_entered()
            other = spawn(batcher.submit(2))
            await until(lambda: batcher.stats.queued == 1)
            task.cancel()
            await asyncio.sleep(0)
            record.release.set()
            with pytest.raises(RuntimeError, match="encoder exploded"):
                await other
            with pytest.raises(asyncio.CancelledError):
                await task
        del task, other
    assert errors == []


# -- back-pressure ----------------------------------------------------------------------------


async def test_full_queue_raises_at_once() -> None:
    record = Recorder(hold=True)
    async with MicroBatcher(record, max_queue=2) as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        queued = [spawn(batcher.submit(1)), spawn(batcher.submit(2))]
        await until(lambda: batcher.stats.queued == 2)
        with pytest.raises(QueueFullError):
            await batcher.submit(3)
        with pytest.raises(QueueFullError):
            await batcher.submit_many([3])
        record.release.set()
        assert await asyncio.gather(first, *queued) == [0, 2, 4]
        with pytest.raises(QueueFullError):  # all or nothing: more than the queue holds
            await batcher.submit_many([1, 2, 3])
    assert batcher.stats.queue_high_water == 2


async def test_waiting_producers_stay_bounded_under_overload() -> None:
    record = Recorder()
    async with MicroBatcher(record, max_batch=2, max_queue=4, on_full="wait") as batcher:
        got = await asyncio.gather(*(batcher.submit(i) for i in range(200)))
        many = await batcher.submit_many(list(range(10)))  # larger than the queue
    assert got == [2 * i for i in range(200)]
    assert many == [2 * i for i in range(10)]
    stats = batcher.stats
    assert stats.queue_high_water <= 4
    assert stats.largest_batch <= 2
    assert stats.items == 210


async def test_cancelled_space_waiter_passes_room_on() -> None:
    record = Recorder(hold=True)
    async with MicroBatcher(record, max_queue=1, on_full="wait") as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        queued = spawn(batcher.submit(1))
        await until(lambda: batcher.stats.queued == 1)
        leaving = spawn(batcher.submit(2))
        staying = spawn(batcher.submit(3))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not leaving.done() and not staying.done()  # both wait for room
        leaving.cancel()
        record.release.set()
        assert list(await asyncio.gather(first, queued, staying)) == [0, 2, 6]
        with pytest.raises(asyncio.CancelledError):
            await leaving


async def test_space_waiter_cancelled_after_being_woken_passes_room_on() -> None:
    record = Recorder(hold=True)
    async with MicroBatcher(record, max_queue=1, on_full="wait") as batcher:
        first = spawn(batcher.submit(0))
        await record.wait_entered()
        queued = spawn(batcher.submit(1))
        await until(lambda: batcher.stats.queued == 1)
        leaving = spawn(batcher.submit(2))
        staying = spawn(batcher.submit(3))
        for _ in range(5):
            await asyncio.sleep(0)
        record.release.set()
        await until(lambda: batcher.stats.queued == 0)  # room made: `leaving` is woken ...
        leaving.cancel()  # ... and cancelled before it could use the room
        got = list(await asyncio.wait_for(asyncio.gather(first, queued, staying), 10))
        assert got == [0, 2, 6]
        with pytest.raises(asyncio.CancelledError):
            await leaving
    assert record.batches == [[0], [1], [3]]


# -- lifecycle --------------------------------------------------------------------------------


async def test_lazy_start_close_and_restart() -> None:
    batcher = MicroBatcher(Recorder())
    assert batcher.state == "unopened"
    assert not batcher.is_running
    assert await batcher.submit(1) == 2  # the first submit starts the worker
    assert batcher.is_running
    await batcher.aclose()
    assert batcher.state == "closed"
    with pytest.raises(RouterClosedError):
        await batcher.submit(1)
    with pytest.raises(RouterClosedError):
        await batcher.submit_many([1])
    await batcher.start()
    assert await batcher.submit(2) == 4
    await batcher.aclose()
    await batcher.aclose()  # idempotent
    assert batcher.state == "closed"


async def test_closing_an_unopened_batcher_closes_it() -> None:
    batcher = MicroBatcher(Recorder())
    await batcher.aclose()
    with pytest.raises(RouterClosedError):
        await batcher.submit(1)


async def test_aclose_drains_queued_items() -> None:
    record = Recorder(hold=True)
    batcher = MicroBatcher(record)
    first = spawn(batcher.submit(0))
    await record.wait_entered()
    rest = [spawn(batcher.submit(i)) for i in range(1, 5)]
    await until(lambda: batcher.stats.queued == 4)
    closing = spawn(batcher.aclose())
    await until(lambda: batcher.state == "closing")
    with pytest.raises(RouterClosedError):
        await batcher.submit(9)  # no new work while draining
    record.release.set()
    await closing
    assert batcher.state == "closed"
    assert await asyncio.gather(first, *rest) == [0, 2, 4, 6, 8]


async def test_aclose_without_drain_fails_queued_items() -> None:
    record = Recorder(hold=True)
    batcher = MicroBatcher(record, max_queue=3, on_full="wait")
    first = spawn(batcher.submit(0))
    await record.wait_entered()
    queued = [spawn(batcher.submit(i)) for i in range(1, 4)]
    await until(lambda: batcher.stats.queued == 3)
    waiting = spawn(batcher.submit(4))  # waits for room
    await asyncio.sleep(0)
    closing = spawn(batcher.aclose(drain=False))
    results = await asyncio.gather(*queued, waiting, return_exceptions=True)
    assert all(isinstance(r, RouterClosedError) for r in results)  # before the batch ends
    assert not closing.done()  # the running batch still finishes
    record.release.set()
    await closing
    assert await first == 0
    assert record.batches == [[0]]
    assert batcher.stats.queued == 0


async def test_async_context_manager() -> None:
    async with MicroBatcher(Recorder()) as batcher:
        assert batcher.is_running
        assert await batcher.submit(5) == 10
    assert batcher.state == "closed"


def test_reused_from_another_event_loop() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(Recorder())

    async def use(x: int) -> int:
        return await batcher.submit(x)

    async def use_and_close(x: int) -> int:
        await batcher.start()
        try:
            return await batcher.submit(x)
        finally:
            await batcher.aclose()

    assert asyncio.run(use(1)) == 2  # the loop ends without aclose
    assert asyncio.run(use(2)) == 4  # a new loop: the batcher rebinds
    assert asyncio.run(use_and_close(3)) == 6
    assert asyncio.run(use_and_close(4)) == 8
    assert batcher.state == "closed"


def test_rebinds_when_its_loop_stopped_without_closing_it() -> None:
    batcher = MicroBatcher(Recorder())
    old, new = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert old.run_until_complete(batcher.submit(1)) == 2  # old stops; its worker stays
        assert new.run_until_complete(batcher.submit(2)) == 4  # rebinds to the new loop
        assert batcher.is_running
        stale = asyncio.all_tasks(old)
        for task in stale:
            task.cancel()
        old.run_until_complete(asyncio.gather(*stale, return_exceptions=True))
        assert batcher.is_running  # the stale worker ended without touching the new one
        assert new.run_until_complete(batcher.submit(3)) == 6
        new.run_until_complete(batcher.aclose())
        assert batcher.state == "closed"
    finally:
        old.close()
        new.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_batch": 0},
        {"max_queue": 0},
        {"batch_window_ms": -1.0},
        {"batch_window_ms": float("nan")},
        {"on_full": "drop"},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        MicroBatcher(Recorder(), **kwargs)
