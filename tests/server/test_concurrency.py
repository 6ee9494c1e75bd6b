"""Concurrent HTTP clients share the router's micro-batcher: 64 clients, few encoder calls."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np
import pytest

from fingerpost.encoders.testing import HashEncoder
from fingerpost.server import create_app

from ._serve import serving
from .conftest import make_router

CLIENTS = 64


class GatedEncoder(HashEncoder):
    """Counts calls; once armed, its first call waits for ``release`` so that the other
    requests pile up in the batcher's queue behind it, whatever the machine's speed."""

    def __init__(self) -> None:
        super().__init__(dim=128)
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sizes: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:  # type: ignore[override]
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(timeout=60), "never released"
        self.sizes.append(len(texts))
        return super().encode(texts)


async def _wait_for(condition: object, timeout: float = 60.0) -> None:
    """Wait for a condition the server reaches (bounded): readiness, not a timed guess."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_64_concurrent_clients_get_batched_encoder_calls() -> None:
    encoder = GatedEncoder()
    router = make_router(encoder)
    texts = [f"how's the weather today number {i}" for i in range(CLIENTS)]
    want = [router(t) for t in texts]
    try:
        with serving(create_app(router)) as url:
            limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
                assert (await client.get("/readyz")).status_code == 200
                encoder.calls = 0
                encoder.sizes.clear()
                encoder.armed = True
                tasks = [
                    asyncio.create_task(client.post("/v1/route", json={"text": t})) for t in texts
                ]
                await _wait_for(encoder.entered.is_set)
                await _wait_for(lambda: router._batcher.stats.queued == CLIENTS - 1)
                encoder.release.set()
                responses = await asyncio.gather(*tasks)
    finally:
        router.close()
    assert all(r.status_code == 200 for r in responses)
    got = [r.json()["choices"] for r in responses]
    assert [c[0]["name"] if c else None for c in got] == [w.name for w in want]
    scores = [c[0]["similarity_score"] for c in got if c]  # batched float32 sums: equal to ~1e-6
    assert scores == pytest.approx(
        [w.similarity_score for w in want if w.name is not None], abs=1e-5
    )
    assert sum(encoder.sizes) == CLIENTS
    assert encoder.calls == 2 < CLIENTS, (
        encoder.sizes
    )  # one alone, then the 63 that queued behind it
    assert encoder.sizes == [1, CLIENTS - 1]
