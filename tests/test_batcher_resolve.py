"""MicroBatcher's ``resolve`` step: an async stage on the event loop after ``process``
(mirror=False turns await a remote's async client there instead of holding the thread)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fingerpost._exceptions import EncoderError, InvalidInputError, RouterClosedError
from fingerpost.engine._batcher import MicroBatcher

pytestmark = pytest.mark.timeout(30)


def _process(items: list[int]) -> list[int]:
    if any(i < 0 for i in items):
        raise InvalidInputError("negative")
    return [i * 2 for i in items]


async def test_resolve_runs_on_the_loop_after_process_in_order() -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[list[int], int]] = []

    async def resolve(results: list[int]) -> list[int]:
        seen.append((list(results), threading.get_ident()))
        await asyncio.sleep(0)  # a real await: the batch stays in flight across it
        return [r + 1 for r in results]

    async with MicroBatcher(_process, resolve=resolve) as batcher:
        assert await batcher.submit_many([1, 2, 3]) == [3, 5, 7]
        assert await batcher.submit(10) == 21
    assert seen == [([2, 4, 6], loop_thread), ([20], loop_thread)]


async def test_items_that_fail_in_process_skip_resolve() -> None:
    seen: list[list[int]] = []

    async def resolve(results: list[int]) -> list[int]:
        seen.append(list(results))
        return results

    async with MicroBatcher(_process, resolve=resolve, batch_window_ms=0) as batcher:
        good, bad = await asyncio.gather(
            batcher.submit(4), batcher.submit(-1), return_exceptions=True
        )
    assert good == 8 and isinstance(bad, InvalidInputError)
    assert [r for batch in seen for r in batch] == [8]


async def test_a_failing_or_miscounting_resolve_fails_its_items_only() -> None:
    calls = 0

    async def resolve(results: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise InvalidInputError("remote said no")
        if calls == 2:
            return results[:-1]
        return results

    async with MicroBatcher(_process, resolve=resolve) as batcher:
        with pytest.raises(InvalidInputError, match="remote said no"):
            await batcher.submit_many([1, 2])
        with pytest.raises(EncoderError, match="resolve step returned 1 results for 2"):
            await batcher.submit_many([1, 2])
        assert await batcher.submit_many([1, 2]) == [2, 4]  # the batcher keeps serving
        assert batcher.stats.failed_batches == 2


async def test_the_next_batch_is_processed_while_one_resolves() -> None:
    """The worker thread is free during a resolve: batch 2 is processed while batch 1 still
    resolves; batch 2's resolve waits for batch 1's (one at a time)."""
    processed: list[list[int]] = []
    gate = asyncio.Event()
    log: list[str] = []
    second_processed = threading.Event()

    def process(items: list[int]) -> list[int]:
        processed.append(list(items))
        if items == [2]:
            second_processed.set()
        return items

    async def resolve(results: list[int]) -> list[int]:
        log.append(f"start {results}")
        if results == [1]:
            await gate.wait()
        log.append(f"end {results}")
        return results

    async with MicroBatcher(process, resolve=resolve) as batcher:
        first = asyncio.create_task(batcher.submit(1))
        for _ in range(100):  # until batch 1 is resolving
            await asyncio.sleep(0)
            if log:
                break
        second = asyncio.create_task(batcher.submit(2))
        # batch 2 reaches process while batch 1 still resolves
        assert await asyncio.to_thread(second_processed.wait, 10)
        for _ in range(20):
            await asyncio.sleep(0)
        assert log == ["start [1]"] and not first.done() and not second.done()
        gate.set()
        assert await first == 1 and await second == 2
    assert log == ["start [1]", "end [1]", "start [2]", "end [2]"]


async def test_closing_waits_for_a_resolve_and_cancelling_fails_its_items() -> None:
    gate = asyncio.Event()

    async def resolve(results: list[int]) -> list[int]:
        await gate.wait()
        return results

    batcher = MicroBatcher(_process, resolve=resolve)
    pending = asyncio.create_task(batcher.submit(3))
    while batcher._resolving is None:
        await asyncio.sleep(0)
    closing = asyncio.create_task(batcher.aclose())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()  # a drained close waits for the resolving batch
    gate.set()
    await closing
    assert await pending == 6

    gate.clear()
    await batcher.start()
    stuck = asyncio.create_task(batcher.submit(4))
    while batcher._resolving is None:
        await asyncio.sleep(0)
    worker = batcher._worker
    assert worker is not None
    worker.cancel()  # the loop tearing the worker down
    with pytest.raises(RouterClosedError):
        await stuck
    assert batcher._resolving is None and batcher.state == "unopened"
