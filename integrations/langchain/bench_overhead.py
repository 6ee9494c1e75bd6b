"""Overhead of the LangChain runnables over bare fingerpost router calls.

Run: ``.venv/bin/python integrations/langchain/bench_overhead.py``. Both sides encode with the
same encoder, so the per-turn difference is LangChain's machinery (config, callback manager,
run bookkeeping) plus input parsing. The batch table compares ``batch`` of 64 turns (ONE
encoder call) with 64 ``invoke`` calls. Timings are medians over interleaved runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

from fingerpost import Route, SemanticRouter
from fingerpost.encoders import DenseEncoder
from langchain_core.runnables import RunnableLambda

from langchain_fingerpost import SemanticRouterRunnable

ROUTES = [
    Route(name="weather", utterances=["what's the weather today", "will it rain tomorrow"]),
    Route(name="billing", utterances=["refund my last payment", "I was charged twice"]),
    Route(name="docs", utterances=["where is the manual", "how do I configure the product"]),
]
TURNS = [
    "will it rain in lisbon tomorrow",
    "I need my money back",
    "how do I set up the device",
    "tell me a joke",
]
BATCH = 64


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def _atime(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


def _row(label: str, bare: list[float], wrapped: list[float]) -> str:
    b, w = statistics.median(bare) * 1e6, statistics.median(wrapped) * 1e6
    return f"| {label} | {b:,.0f} | {w:,.0f} | {w - b:+,.0f} | {(w - b) / b:+.0%} |"


def measure_turns(encoder: DenseEncoder, rounds: int) -> list[str]:
    """Per-turn rows: bare router call vs the runnable (and a branch) doing the same turn."""
    router = SemanticRouter(routes=ROUTES, encoder=encoder, score_threshold=0.3)
    runnable = SemanticRouterRunnable(router=router)
    target = RunnableLambda(lambda x: x)
    branch = runnable.to_branch({r.name: target for r in ROUTES}, default=target)
    for turn in TURNS:  # warm-up
        router(turn)
        runnable.invoke(turn)
        branch.invoke(turn)

    samples: dict[str, tuple[list[float], list[float]]] = {
        "`invoke` vs `router(text)`": ([], []),
        "`RouteBranch.invoke` vs `router(text)` + target": ([], []),
        "`ainvoke` vs `router.acall(text)`": ([], []),
    }
    plain, branched, asynchronous = samples.values()
    for i in range(rounds):  # interleaved, so drift in machine load hits both sides alike
        turn = TURNS[i % len(TURNS)]
        plain[0].append(_time(lambda t=turn: router(t)))
        plain[1].append(_time(lambda t=turn: runnable.invoke(t)))
        branched[0].append(_time(lambda t=turn: (router(t), target.invoke(t))))
        branched[1].append(_time(lambda t=turn: branch.invoke(t)))

    async def run_async() -> None:
        for i in range(rounds):
            turn = TURNS[i % len(TURNS)]
            asynchronous[0].append(await _atime(lambda t=turn: router.acall(t)))
            asynchronous[1].append(await _atime(lambda t=turn: runnable.ainvoke(t)))

    asyncio.run(run_async())
    return [_row(f"`{encoder.name}`: {label}", b, w) for label, (b, w) in samples.items()]


def measure_batch(encoder: DenseEncoder, rounds: int) -> str:
    """One row: 64 ``invoke``s vs ``batch`` of 64 vs bare ``router.batch`` of 64 (ms)."""
    router = SemanticRouter(routes=ROUTES, encoder=encoder, score_threshold=0.3)
    runnable = SemanticRouterRunnable(router=router)
    turns = [f"{TURNS[i % len(TURNS)]} #{i}" for i in range(BATCH)]
    runnable.batch(turns)  # warm-up
    invokes, batches, bare = [], [], []
    for _ in range(rounds):
        invokes.append(_time(lambda: [runnable.invoke(t) for t in turns]))
        batches.append(_time(lambda: runnable.batch(turns)))
        bare.append(_time(lambda: router.batch(turns)))
    i, b, r = (statistics.median(x) * 1e3 for x in (invokes, batches, bare))
    return f"| `{encoder.name}` | {i:,.1f} | {b:,.1f} | {r:,.1f} | {i / b:,.1f}x |"


def main(encoders: Sequence[DenseEncoder] | None = None, rounds: int = 300) -> str:
    """Measure and return markdown tables.

    Args:
        encoders: Encoders to measure with; default the model-free ``HashEncoder`` (isolates
            LangChain's own cost) and ``OnnxEncoder()`` (the same cost next to a real turn).
        rounds: Timed turns per per-turn row; the batch table uses ``max(3, rounds // 30)``.
    """
    if encoders is None:
        from fingerpost.encoders import HashEncoder, OnnxEncoder

        encoders = [HashEncoder(), OnnxEncoder()]
    batch_rounds = max(3, rounds // 30)
    lines = [
        f"Per turn: medians over {rounds} interleaved turns, microseconds.",
        "",
        "| encoder: call | bare router | runnable | overhead | relative |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for encoder in encoders:
        lines.extend(measure_turns(encoder, rounds))
    lines += [
        "",
        f"{BATCH} turns: medians over {batch_rounds} runs, milliseconds.",
        "",
        f"| encoder | {BATCH} x `invoke` | `batch` of {BATCH} | bare `router.batch` | speedup |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines.extend(measure_batch(encoder, batch_rounds) for encoder in encoders)
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
