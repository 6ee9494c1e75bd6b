"""Async throughput and latency at several concurrency levels (issue: micro-batching)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _data import CachedEncoder, clinc_routes, median_ms, pct

from fingerpost import SemanticRouter
from fingerpost.encoders import OnnxEncoder


def encoder_ceiling(
    model: OnnxEncoder, texts: list[str], batch: int = 64, rounds: int = 5
) -> dict[str, float]:
    """The encoder's own throughput on one call of `batch` texts: the physical ceiling."""
    model(texts[:batch])
    best = min(_t(lambda: model(texts[:batch])) for _ in range(rounds))
    one = sorted(_t(lambda t=t: model([t])) for t in texts[:50])
    return {
        "batch": batch,
        "batch_s": best,
        "turns_per_s": batch / best,
        "single_p50_ms": one[len(one) // 2] * 1000,
    }


def _t(fn: Any) -> float:
    s = time.perf_counter()
    fn()
    return time.perf_counter() - s


async def _level(router: SemanticRouter, turns: list[str], conc: int, n: int) -> dict[str, float]:
    lat: list[float] = []
    it = iter(range(n))

    async def worker() -> None:
        for i in it:
            s = time.perf_counter()
            await router.acall(turns[i % len(turns)])
            lat.append(time.perf_counter() - s)

    await router.acall(turns[0])
    s = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - s
    return {
        "concurrency": conc,
        "turns": n,
        "turns_per_s": n / wall,
        "p50_ms": median_ms(lat),
        "p99_ms": pct(lat, 99) * 1000,
    }


def concurrency(
    model: OnnxEncoder,
    cached: CachedEncoder,
    data: dict,
    levels: list[int],
    per_worker: int = 4,
    min_turns: int = 256,
    max_turns: int = 2048,
) -> dict[str, Any]:
    router = SemanticRouter(routes=clinc_routes(data["train"]), encoder=cached)
    router.encoder = model
    turns = [t for t, _ in data["test"]]

    async def run() -> list[dict[str, float]]:
        out = []
        async with router:
            for conc in levels:
                n = min(max_turns, max(min_turns, per_worker * conc))
                out.append(await _level(router, turns, conc, n))
        return out

    rows = asyncio.run(run())
    return {"levels": rows}
