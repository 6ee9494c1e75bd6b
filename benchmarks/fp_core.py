"""fingerpost's core measurements (issue: core router). Called by run.py; returns plain dicts."""

from __future__ import annotations

import gc
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
from _data import CachedEncoder, clinc_routes, median_ms, pct

from fingerpost import Route, SemanticRouter
from fingerpost.encoders import OnnxEncoder
from fingerpost.index import LocalIndex


def turn_latency(model: OnnxEncoder, cached: CachedEncoder, data: dict, n: int) -> dict[str, Any]:
    """Single-turn router latency vs the encoder's own latency on the same turns (15,000 utts)."""
    router = SemanticRouter(routes=clinc_routes(data["train"]), encoder=cached)
    router.encoder = model  # route with the real model on the hot path
    turns = [t for t, _ in data["test"][:n]]
    for t in turns[:20]:
        router(t)
        model([t])
    enc, rt = [], []
    for t in turns:  # interleaved so both see the same machine state
        s = time.perf_counter()
        model([t])
        enc.append(time.perf_counter() - s)
        s = time.perf_counter()
        router(t)
        rt.append(time.perf_counter() - s)
    e50, r50 = median_ms(enc), median_ms(rt)
    return {
        "utterances": router.index.snapshot().n_rows,
        "encoder_p50_ms": e50,
        "router_p50_ms": r50,
        "router_p99_ms": pct(rt, 99) * 1000,
        "overhead_pct": 100 * (r50 - e50) / e50,
    }


def add_cost(
    cached: CachedEncoder, data: dict, checkpoints: list[int], per_route: int = 5, window: int = 21
) -> dict[str, Any]:
    """Per-add wall time at the k-th route (vectors cached: the router's own work)."""
    texts = [t for t, _ in data["train"]]
    router = SemanticRouter(encoder=cached)
    times = []
    for i in range(max(checkpoints)):
        utts = [texts[(i * per_route + j) % len(texts)] for j in range(per_route)]
        route = Route(name=f"route-{i}", utterances=utts)
        s = time.perf_counter()
        router.add(route)
        times.append(time.perf_counter() - s)
    out = {}
    for k in checkpoints:
        lo = max(0, k - window)
        out[k] = median_ms(times[lo:k])
    return {"per_add_ms": out, "flat_ratio": out[max(checkpoints)] / out[min(checkpoints)]}


def hot_reload(
    model: OnnxEncoder, cached: CachedEncoder, data: dict, n_routes: int = 500, n: int = 300
) -> dict[str, Any]:
    """Single-turn p50 before and after adding routes one by one.

    Two routers start from the same CLINC150 routes; one then gets ``n_routes`` routes added
    one by one. Their turns are interleaved (same turns, same machine state), so machine
    drift between a 'before' and an 'after' window cannot pose as a change.
    """
    before = SemanticRouter(routes=clinc_routes(data["train"]), encoder=cached)
    after = SemanticRouter(routes=clinc_routes(data["train"]), encoder=cached)
    texts = [t for t, _ in data["train"]]
    for i in range(n_routes):
        after.add(
            Route(name=f"hot-{i}", utterances=[texts[(i * 5 + j) % len(texts)] for j in range(5)])
        )
    before.encoder = after.encoder = model
    turns = [t for t, _ in data["test"][:n]]
    for t in turns[:20]:
        before(t)
        after(t)
    lb, la = [], []
    for i, t in enumerate(turns):
        pair = [(before, lb), (after, la)]
        for r, out in pair if i % 2 else pair[::-1]:
            s = time.perf_counter()
            r(t)
            out.append(time.perf_counter() - s)
    b, a = median_ms(lb), median_ms(la)
    return {
        "p50_before_ms": b,
        "p50_after_ms": a,
        "delta_ms": a - b,
        "delta_pct": 100 * (a - b) / b,
    }


def cold_boot(
    cached: CachedEncoder, data: dict, n_utts: int = 50_000, per_route: int = 100
) -> dict[str, Any]:
    """Boot a router from a SQLite store of n_utts utterances vs np.load of the raw array."""
    texts = [t for t, _ in data["train"]]
    vecs = np.stack([cached.table[t] for t in texts])
    with tempfile.TemporaryDirectory() as tmp:
        db, raw = Path(tmp) / "routes.db", Path(tmp) / "raw.npy"
        n_routes = n_utts // per_route
        routes = [
            Route(
                name=f"route-{r}",
                utterances=[
                    f"{texts[(r * per_route + j) % len(texts)]} #{r}" for j in range(per_route)
                ],
            )
            for r in range(n_routes)
        ]
        table = {
            u: vecs[(r * per_route + j) % len(texts)]
            for r, rt in enumerate(routes)
            for j, u in enumerate(rt.utterances)
        }
        enc = CachedEncoder(cached.model, table)
        with SemanticRouter(
            routes=routes, encoder=enc, index=LocalIndex(path=db, synchronous="NORMAL")
        ):
            pass
        all_vecs = np.stack([table[u] for rt in routes for u in rt.utterances])
        np.save(raw, all_vecs)
        raw_bytes = all_vecs.nbytes
        del all_vecs, table
        gc.collect()
        boots, loads, fixed = [], [], []
        SemanticRouter(
            encoder=CachedEncoder(cached.model, {}), index=LocalIndex(path=db)
        ).close()  # sidecar
        for _ in range(5):
            s = time.perf_counter()
            arr = np.load(raw)
            loads.append(time.perf_counter() - s)
            del arr
            enc2 = CachedEncoder(cached.model, {})
            s = time.perf_counter()
            r = SemanticRouter(encoder=enc2, index=LocalIndex(path=db))
            boots.append(time.perf_counter() - s)
            assert enc2.encoded == 0 and r.index.snapshot().n_rows == n_utts
            r.close()
            s = time.perf_counter()  # a fixed threshold: no calibration keys, the store alone
            r = SemanticRouter(encoder=enc2, index=LocalIndex(path=db), score_threshold=0.5)
            fixed.append(time.perf_counter() - s)
            r.close()
        gc.collect()
        tracemalloc.start()
        r = SemanticRouter(encoder=CachedEncoder(cached.model, {}), index=LocalIndex(path=db))
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        r.close()
    return {
        "utterances": n_utts,
        "boot_s": min(boots),
        "np_load_s": min(loads),
        "ratio": min(boots) / min(loads),
        "boot_fixed_threshold_s": min(fixed),
        "ratio_fixed_threshold": min(fixed) / min(loads),
        "raw_mb": raw_bytes / 2**20,
        "router_mb": current / 2**20,
        "router_peak_mb": peak / 2**20,
        "memory_ratio": current / raw_bytes,
    }
