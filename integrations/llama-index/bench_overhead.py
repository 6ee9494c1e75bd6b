"""Per-turn overhead of SemanticRouterSelector over a bare ``router(text)`` call.

Run: ``.venv/bin/python integrations/llama-index/bench_overhead.py``. Both sides encode the
turn with the same encoder, so the difference is the selector's own work: LlamaIndex's
choice wrapping and instrumentation span, mapping choices to routes, the route filter and
building the ``SelectorResult``. Timings are medians over interleaved runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence

from llama_index.core.tools import ToolMetadata
from llama_index.selectors.fingerpost import SemanticRouterSelector

from fingerpost import Route, SemanticRouter
from fingerpost.encoders import DenseEncoder

ROUTES = [
    Route(name="weather", utterances=["what's the weather today", "will it rain tomorrow"]),
    Route(name="billing", utterances=["refund my last payment", "I was charged twice"]),
    Route(name="docs", utterances=["where is the manual", "how do I configure the product"]),
]
ROUTED = [ToolMetadata(name=r.name, description=f"{r.name} questions") for r in ROUTES]
DESCRIBED = [
    ToolMetadata(name="forecast", description="Weather forecasts: rain, sun and temperature."),
    ToolMetadata(name="payments", description="Invoices, refunds and card payments."),
    ToolMetadata(name="manual", description="Product documentation, manuals and setup guides."),
]
TURNS = [
    "will it rain in lisbon tomorrow",
    "I need my money back",
    "how do I set up the device",
    "tell me a joke",
]


def _time(fn: Callable[[str], object], turn: str) -> float:
    start = time.perf_counter()
    fn(turn)
    return time.perf_counter() - start


async def _atime(fn: Callable[[str], Awaitable[object]], turn: str) -> float:
    start = time.perf_counter()
    await fn(turn)
    return time.perf_counter() - start


def _row(label: str, bare: list[float], wrapped: list[float]) -> str:
    b, w = statistics.median(bare) * 1e6, statistics.median(wrapped) * 1e6
    return f"| {label} | {b:,.0f} | {w:,.0f} | {w - b:+,.0f} | {(w - b) / b:+.0%} |"


def measure(encoder: DenseEncoder, rounds: int) -> list[str]:
    """Table rows for one encoder: (label, bare router, selector) medians per turn."""
    router = SemanticRouter(routes=ROUTES, encoder=encoder, score_threshold=0.3)
    routed = SemanticRouterSelector(router, default="docs")
    # Choice names that are not routes: built from descriptions, embedded on the first call.
    described = SemanticRouterSelector(router, default="manual", score_threshold=0.3)
    names = [r.name for r in ROUTES]
    for turn in TURNS:  # warm-up: model, caches, described routes
        router(turn)
        routed.select(ROUTED, turn)
        described.select(DESCRIBED, turn)

    sync_pairs: dict[str, tuple[Callable[[str], object], Callable[[str], object]]] = {
        "`select`, choices are router routes": (
            lambda t: router(t, limit=None, route_filter=names),
            lambda t: routed.select(ROUTED, t),
        ),
        "`select`, choices described": (
            lambda t: router(t, limit=None),
            lambda t: described.select(DESCRIBED, t),
        ),
    }
    async_pair: tuple[Callable[[str], Awaitable[object]], Callable[[str], Awaitable[object]]] = (
        lambda t: router.acall(t, limit=None, route_filter=names),
        lambda t: routed.aselect(ROUTED, t),
    )
    samples: dict[str, tuple[list[float], list[float]]] = {
        label: ([], []) for label in [*sync_pairs, "`aselect` vs `acall`"]
    }
    # Interleaved, and in alternating order, so drift in machine load and whatever the encoder
    # leaves behind after a call (ONNX Runtime's spinning threads) hit both sides alike.
    for i in range(rounds):
        turn = TURNS[i % len(TURNS)]
        for label, pair in sync_pairs.items():
            for side in (0, 1) if i % 2 else (1, 0):
                samples[label][side].append(_time(pair[side], turn))

    async def run_async() -> None:
        bare, wrapped = samples["`aselect` vs `acall`"]
        for i in range(rounds):
            turn = TURNS[i % len(TURNS)]
            for side in (0, 1) if i % 2 else (1, 0):
                (bare, wrapped)[side].append(await _atime(async_pair[side], turn))

    asyncio.run(run_async())
    return [
        _row(f"`{encoder.name}`: {label}", bare, wrapped)
        for label, (bare, wrapped) in samples.items()
    ]


def main(encoders: Sequence[DenseEncoder] | None = None, rounds: int = 300) -> str:
    """Measure and return a markdown table (microseconds per turn, medians).

    Args:
        encoders: Encoders to measure with; default the model-free ``HashEncoder`` (isolates
            the selector's own cost) and ``OnnxEncoder()`` (the same cost next to a real turn).
        rounds: Timed turns per row.
    """
    if encoders is None:
        from fingerpost.encoders import HashEncoder, OnnxEncoder

        encoders = [HashEncoder(), OnnxEncoder()]
    lines = [
        f"Medians over {rounds} interleaved turns, microseconds per turn.",
        "",
        "| encoder: call | bare router | selector | overhead | relative |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for encoder in encoders:
        lines.extend(measure(encoder, rounds))
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
