"""MicroBatcher's ``resolve`` step: an async stage on the event loop after ``process``
(mirror=False turns await a remote's async client there instead of holding the thread)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fingerpost._exceptions import EncoderError, InvalidInputError
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
