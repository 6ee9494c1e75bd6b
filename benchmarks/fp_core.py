"""fingerpost's core measurements (issue: core router). Called by run.py; returns plain dicts."""

from __future__ import annotations

import gc
import os
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
    cached: CachedEncoder,
    data: dict,
    checkpoints: list[int],
    per_route: int = 5,
    window: int = 21,
    calibrated: bool = True,
) -> dict[str, Any]:
    """Per-add wall time at the k-th route (vectors cached: the router's own work).

    Past 3,000 routes the utterances repeat (15,000 train turns, 5 a route), so a calibrated
    router would find the repeated routes' gates in its process-wide memo; the memo is cleared
    before every add (outside the timed region) so each add fits its gate as a new route does.
    """
    from fingerpost import _calibrator

    texts = [t for t, _ in data["train"]]
    router = (
        SemanticRouter(encoder=cached)
        if calibrated
        else SemanticRouter(encoder=cached, score_threshold=0.45)
    )
    times = []
    for i in range(max(checkpoints)):
        utts = [texts[(i * per_route + j) % len(texts)] for j in range(per_route)]
        route = Route(name=f"route-{i}", utterances=utts)
        _calibrator._memo.clear()
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


def _forget_process_caches() -> None:
    """What a fresh process lacks: gates and Gram matrices memoised by key, the background's
    vectors in memory, the parsed default background. A boot timed after another boot in the
    same process would otherwise reuse them and look cheaper than a real cold start."""
    from fingerpost import _background, _calibrator

    _calibrator._memo.clear()
    _calibrator._grams.clear()
    _background._memory.clear()
    _background.default_background.cache_clear()


def _rss_bytes() -> int:
    """Resident set size now (Linux), 0 where /proc is not there."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cold_boot(
    cached: CachedEncoder, data: dict, n_utts: int = 50_000, per_route: int = 100
) -> dict[str, Any]:
    """Boot a router from a SQLite store of n_utts utterances until it answers its first turn,
    vs np.load of the raw array. Every boot starts without the process-wide caches a fresh
    process would lack (memoised gates, background vectors); the store and the sidecar are
    in the page cache, as is the raw array."""
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
        mid = n_routes // 2
        turn = all_vecs[mid * per_route].copy()  # route `mid`'s first utterance, and its twins'
        twins = {
            f"route-{r}"
            for r in range(n_routes)
            if (r * per_route) % len(texts) == (mid * per_route) % len(texts)
        }
        del all_vecs, table
        gc.collect()

        def boot(**kw: Any) -> tuple[float, float]:
            """(seconds to construct, seconds to construct and answer the first turn)."""
            _forget_process_caches()
            enc2 = CachedEncoder(cached.model, {})
            s = time.perf_counter()
            r = SemanticRouter(encoder=enc2, index=LocalIndex(path=db), **kw)
            built = time.perf_counter() - s
            choice = r(vector=turn)
            answered = time.perf_counter() - s
            assert enc2.encoded == 0 and r.index.snapshot().n_rows == n_utts
            assert choice.name in twins, choice
            r.close()
            return built, answered

        boot()  # writes the sidecar
        boots, loads, fixed = [], [], []
        for _ in range(5):
            s = time.perf_counter()
            arr = np.load(raw)
            loads.append(time.perf_counter() - s)
            del arr
            boots.append(boot())
            fixed.append(boot(score_threshold=0.5))  # a fixed threshold: no calibration
        gc.collect()
        _forget_process_caches()
        rss = _rss_bytes()
        tracemalloc.start()
        r = SemanticRouter(encoder=CachedEncoder(cached.model, {}), index=LocalIndex(path=db))
        r(vector=turn)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = _rss_bytes() - rss
        r.close()
    load = min(loads)
    first = min(b[1] for b in boots)
    first_fixed = min(b[1] for b in fixed)
    return {
        "utterances": n_utts,
        "np_load_s": load,
        "construct_s": min(b[0] for b in boots),
        "boot_s": first,
        "ratio": first / load,
        "construct_fixed_threshold_s": min(b[0] for b in fixed),
        "boot_fixed_threshold_s": first_fixed,
        "ratio_fixed_threshold": first_fixed / load,
        "raw_mb": raw_bytes / 2**20,
        "router_mb": current / 2**20,
        "router_peak_mb": peak / 2**20,
        "memory_ratio": current / raw_bytes,
        "rss_growth_mb": rss / 2**20,
        "rss_ratio": rss / raw_bytes,
    }
