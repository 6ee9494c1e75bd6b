"""synaptoroute side of the fingerpost peer benchmarks.

Run INSIDE benchmarks/.venv-synaptoroute (made by benchmarks/setup_peers.sh):

    benchmarks/.venv-synaptoroute/bin/python benchmarks/peers/synapto_bench.py TASK --json-args '{...}'

Prints exactly ONE JSON object on stdout; logs (and synaptoroute's own print() calls, which go
to stdout in the library) go to stderr. Exit code 0 on success (also for tasks that return
{"unsupported": ...}), 1 when the task raised (the JSON then has "error"). Every result carries:
peer, peer_version, task, args, versions, python, cpu_count, ok, supported, task_wall_s,
encoder (model description) and, where texts get encoded, encoder_texts / encoder_calls.

synaptoroute's default encoder (FastEmbedEncoder, BAAI/bge-small-en-v1.5) downloads its model
from a hub, so the shared model -- fingerpost.encoders.OnnxEncoder, all-MiniLM-L6-v2 int8 from
PyPI packages -- is plugged in through synaptoroute.encoder.BaseEncoder (`FingerpostSynaptoEncoder`
below: requires_lock, dim, encode(text), encode_batch(texts)).

Routers are AdaptiveRouter(encoder, SQLiteStorage(":memory:"), profile=THROUGHPUT (the default),
margin=0.0) with the NumpyIndex (faiss is not installed). add_route() returns before the route
is searchable (the index is updated by a storage worker thread), so build and add timings here
wait until the index holds the new vectors and report both "returned" and "visible" times.

TASKS and their --json-args (defaults shown; all optional):
  encoder_latency  {"n": 200, "warmup": 20}
      single-turn encode latency through the BaseEncoder adapter (and the bare model).
  route_latency    {"n": 1000, "warmup": 20}
      build from CLINC150 train (150 routes x 100 utterances, one add_route per route, then
      wait until searchable); latency of n single sync router(text) calls over test turns.
  add_cost         {"checkpoints": [1, 100, 1000, 5000], "per_route": 5, "time_cap_s": 120,
                    "window": 21, "hot_routes": 500, "hot_n": 200}
      phase 1: empty router, add_route one by one, each waited until searchable; per-add
      times at the checkpoints; stops at time_cap_s. phase 2: CLINC150 router, single-turn p50
      over hot_n test turns before and after hot_routes single add_route calls.
  concurrency      {"levels": [1, 16, 64, 256], "min_turns": 256, "per_worker": 4,
                    "max_turns": 2048, "time_cap_s": 60, "warmup": 20}
      CLINC150 router, `await router.start()`, throughput and latency of
      `await router.aquery(text)` with `level` concurrent callers.
  cold_boot        {"n_routes": 500, "per_route": 100, "boots": 3, "npy_repeats": 5}
                   or {"vectors": 50000} (= ceil(vectors / per_route) routes of per_route)
      SQLite file holding n_routes*per_route utterances with their float32 BLOBs (written with
      SQLiteStorage.save_route from real embeddings); time to boot AdaptiveRouter on it
      (construct = load + index) vs np.load of the same raw float32 array; counts re-encoding.
  accuracy         {"fit": false, "limit_eval": null}
      extra (not in semantic-router's form): CLINC150 train routes, default thresholds (0.5),
      router(text) on test + oos_test: in-scope accuracy, OOS recall/precision; with "fit":
      fit_thresholds(val + oos_val) and again (slow: pure-Python grid search).
  quirks           {}
      checks behaviours the README states (add_route visibility, margin only on the sync
      path, aquery before start).
  fewshot          {"input": "spec.json"}  (written by benchmarks/fp_fewshot.py)
      routes (name + utterances) and turn sets from a JSON file, vectors from the .npz it
      names (the caller's vectors: the same model); one AdaptiveRouter per case and setting
      with its defaults (threshold 0.5 per route, margin 0.0); each turn's route or none
      through router(text). A setting may name "threshold" (every route's) and "margin".
  sync             unsupported (only a Redis pub/sub sync manager; no vector-DB sync).
  list             the task names.
Common args: "threads" (ONNX intra-op threads, default fingerpost's), "clinc" (path),
"per_intent" (default 100: CLINC150 train utterances per route; smaller for smoke runs),
"requires_lock" (default false: OnnxEncoder is thread-safe), "max_capacity" (default 50000).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C
import numpy as np
from synaptoroute.encoder import BaseEncoder
from synaptoroute.models import Route
from synaptoroute.router import AdaptiveRouter
from synaptoroute.storage import SQLiteStorage

OOS = "__oos__"  # label for out-of-scope in fit_thresholds (never a route name)


class FingerpostSynaptoEncoder(BaseEncoder):
    """fingerpost's OnnxEncoder behind synaptoroute's BaseEncoder interface."""

    def __init__(self, enc: Any, counter: C.Counter, requires_lock: bool = False) -> None:
        self._enc = enc
        self._counter = counter
        self._requires_lock = requires_lock

    @property
    def requires_lock(self) -> bool:
        # OnnxEncoder runs the ONNX session without a Python lock and is safe to share.
        return self._requires_lock

    @property
    def dim(self) -> int:
        return int(self._enc.dim)

    def encode(self, text: str) -> np.ndarray:
        t0 = time.perf_counter()
        out = self._enc([text])[0]
        self._counter.add(1, time.perf_counter() - t0)
        return out

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        t0 = time.perf_counter()
        out = self._enc(list(texts))
        self._counter.add(len(texts), time.perf_counter() - t0)
        return out


class Env:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.raw, self.encoder_info = C.make_fingerpost_encoder(args)
        self.counter = C.Counter()
        self.encoder = FingerpostSynaptoEncoder(
            self.raw, self.counter, bool(args.get("requires_lock", False))
        )
        self.data = C.load_clinc(args.get("clinc"))
        self.per_intent = int(args.get("per_intent", 100))
        self.max_capacity = int(args.get("max_capacity", 50000))

    def router(
        self,
        storage: SQLiteStorage | None = None,
        margin: float = 0.0,
        max_capacity: int | None = None,
    ) -> AdaptiveRouter:
        return AdaptiveRouter(
            encoder=self.encoder,
            storage=storage or SQLiteStorage(":memory:"),
            max_capacity=max_capacity or self.max_capacity,
            margin=margin,
        )

    def train_routes(self) -> list[Route]:
        return [
            Route(name=k, utterances=v[: self.per_intent])
            for k, v in C.grouped(self.data["train"]).items()
        ]

    def build_clinc(self) -> tuple[AdaptiveRouter, dict[str, Any]]:
        routes = self.train_routes()
        expected = sum(len(r.utterances) for r in routes)
        c0, t0_ = self.counter.snapshot()
        t0 = time.perf_counter()
        router = self.router()
        for r in routes:
            router.add_route(r)
        returned_s = time.perf_counter() - t0
        wait_vectors(router, expected)
        build_s = time.perf_counter() - t0
        c1, t1_ = self.counter.snapshot()
        return router, {
            "build_s": round(build_s, 4),
            "add_route_calls_returned_s": round(returned_s, 4),
            "routes": len(routes),
            "utterances": expected,
            "index": type(router.index).__name__,
            "index_vectors": router.index.total_vectors,
            "build_encoder_texts": t1_ - t0_,
            "build_encoder_calls": c1 - c0,
            "threshold": routes[0].threshold,
            "margin": router.margin,
        }

    def base(self) -> dict[str, Any]:
        calls, texts = self.counter.snapshot()
        return {"encoder": self.encoder_info, "encoder_texts": texts, "encoder_calls": calls}


def wait_vectors(router: AdaptiveRouter, expected: int, timeout: float = 600.0) -> float:
    """Spin until the index holds ``expected`` live vectors; returns the seconds waited."""
    t0 = time.perf_counter()
    while router.index.total_vectors < expected:
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(
                f"index has {router.index.total_vectors}/{expected} vectors after {timeout}s"
            )
        time.sleep(0.0002)
    return time.perf_counter() - t0


def wait_route(router: AdaptiveRouter, name: str, timeout: float = 60.0) -> None:
    t0 = time.perf_counter()
    ids = router.index._route_to_ids  # NumpyIndex internals: route name -> vector ids
    while name not in ids:
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"route {name} not searchable after {timeout}s")
        time.sleep(0.0002)
        ids = router.index._route_to_ids


def _name(route: Any) -> str | None:
    return None if route is None else route.name


def _time_calls_split(
    env: Env, router: AdaptiveRouter, texts: list[str], warmup: int
) -> tuple[list[float], list[float]]:
    """Per-call wall times, and the part of each spent outside the model (router overhead)."""
    for t in texts[:warmup]:
        router(t)
    lat, outside = [], []
    for t in texts:
        e0 = env.counter.encode_seconds()
        t0 = time.perf_counter()
        router(t)
        dt = time.perf_counter() - t0
        lat.append(dt)
        outside.append(dt - (env.counter.encode_seconds() - e0))
    return lat, outside


def _time_calls(router: AdaptiveRouter, texts: list[str], warmup: int) -> list[float]:
    for t in texts[:warmup]:
        router(t)
    lat = []
    for t in texts:
        t0 = time.perf_counter()
        router(t)
        lat.append(time.perf_counter() - t0)
    return lat


# --------------------------------------------------------------------------------------------- tasks


def task_encoder_latency(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    n, warmup = int(args.get("n", 200)), int(args.get("warmup", 20))
    texts = C.test_turns(env.data, n)
    for t in texts[:warmup]:
        env.encoder.encode(t)
    env.counter = C.Counter()
    env.encoder._counter = env.counter
    adapter, bare = [], []
    for t in texts:
        t0 = time.perf_counter()
        env.encoder.encode(t)
        adapter.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.raw([t])
        bare.append(time.perf_counter() - t0)
    return {
        **env.base(),
        "adapter": C.latency_stats(adapter),
        "bare_model": C.latency_stats(bare),
        "note": "adapter = FingerpostSynaptoEncoder.encode(text); bare = OnnxEncoder([text])",
    }


def task_route_latency(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    n, warmup = int(args.get("n", 1000)), int(args.get("warmup", 20))
    router, build = env.build_clinc()
    texts = C.test_turns(env.data, n)
    labels = [lbl for _, lbl in env.data["test"]]
    _, before = env.counter.snapshot()
    cpu0 = time.process_time()
    lat, outside = _time_calls_split(env, router, texts, warmup)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / (len(texts) + min(warmup, len(texts)))
    _, after = env.counter.snapshot()
    m = min(n, 300)
    correct = sum(_name(router(t)) == labels[i % len(labels)] for i, t in enumerate(texts[:m]))
    return {
        **env.base(),
        "build": build,
        "query_encoder_texts": after - before,
        "latency": C.latency_stats(lat),
        "latency_outside_model": C.latency_stats(outside),
        "process_cpu_ms_per_call": round(cpu_ms, 3),
        "sanity_top1_acc_first300": round(correct / m, 4),
        "call": "router(text)  # AdaptiveRouter.__call__ (encode on its read pool, NumpyIndex search)",
    }


def _add_one_by_one(
    env: Env,
    router: AdaptiveRouter,
    start: int,
    count: int,
    pool: list[str],
    per_route: int,
    time_cap_s: float,
    wait_each: bool,
) -> dict[str, Any]:
    returned, visible, outside = [], [], []
    deadline = time.perf_counter() + time_cap_s
    capped = False
    for i in range(start, start + count):
        name, utts = C.synthetic_route(i, pool, per_route)
        route = Route(name=name, utterances=utts)
        e0 = env.counter.encode_seconds()
        t0 = time.perf_counter()
        router.add_route(route)
        t1 = time.perf_counter()
        returned.append(t1 - t0)
        outside.append((t1 - t0) - (env.counter.encode_seconds() - e0))
        if wait_each:
            wait_route(router, name)
            visible.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            capped = True
            break
    return {"returned": returned, "visible": visible, "outside": outside, "capped": capped}


def task_add_cost(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    checkpoints = sorted(int(c) for c in args.get("checkpoints", [1, 100, 1000, 5000]))
    per_route = int(args.get("per_route", 5))
    cap = float(args.get("time_cap_s", 120))
    window = int(args.get("window", 21))
    pool = C.text_pool(env.data)
    needed = checkpoints[-1] * per_route
    capacity = max(env.max_capacity, needed)

    router = env.router(max_capacity=capacity)
    c0 = env.counter.snapshot()[1]
    r = _add_one_by_one(env, router, 0, checkpoints[-1], pool, per_route, cap, wait_each=True)
    texts1 = env.counter.snapshot()[1] - c0
    n_added = len(r["returned"])
    per_add: dict[str, Any] = {}
    for c in checkpoints:
        if c <= n_added:
            lo = max(0, c - window)
            per_add[str(c)] = {
                "add_route_returned_ms": round(r["returned"][c - 1] * 1e3, 4),
                "visible_ms": round(r["visible"][c - 1] * 1e3, 4),
                "window_median_returned_ms": round(statistics.median(r["returned"][lo:c]) * 1e3, 4),
                "window_median_visible_ms": round(statistics.median(r["visible"][lo:c]) * 1e3, 4),
                "window_median_returned_outside_model_ms": round(
                    statistics.median(r["outside"][lo:c]) * 1e3, 4
                ),
                "window": c - lo,
            }
        else:
            per_add[str(c)] = None
    phase1 = {
        "start": "empty AdaptiveRouter(SQLiteStorage(':memory:'))",
        "max_capacity": capacity,
        "routes_added": n_added,
        "reached_last_checkpoint": n_added >= checkpoints[-1],
        "time_capped": r["capped"],
        "total_s": round(sum(r["visible"]), 3),
        "per_add": per_add,
        "all_adds_returned": C.latency_stats(r["returned"]),
        "all_adds_visible": C.latency_stats(r["visible"]),
        "all_adds_returned_outside_model": C.latency_stats(r["outside"]),
        "encoder_texts": texts1,
        "index_vectors_end": router.index.total_vectors,
    }
    del router

    hot_routes, hot_n = int(args.get("hot_routes", 500)), int(args.get("hot_n", 200))
    router, build = env.build_clinc()
    texts = C.test_turns(env.data, hot_n)
    before_l, before_o = _time_calls_split(env, router, texts, 20)
    expected = router.index.total_vectors + hot_routes * per_route
    t0 = time.perf_counter()
    r2 = _add_one_by_one(env, router, 100_000, hot_routes, pool, per_route, cap, wait_each=False)
    wait_vectors(router, router.index.total_vectors if r2["capped"] else expected)
    all_visible_s = time.perf_counter() - t0
    after_l, after_o = _time_calls_split(env, router, texts, 20)
    before, after = C.latency_stats(before_l), C.latency_stats(after_l)
    before_o_s, after_o_s = C.latency_stats(before_o), C.latency_stats(after_o)
    phase2 = {
        "build": build,
        "routes_added": len(r2["returned"]),
        "time_capped": r2["capped"],
        "add_total_until_visible_s": round(all_visible_s, 3),
        "adds_returned": C.latency_stats(r2["returned"]),
        "adds_returned_outside_model": C.latency_stats(r2["outside"]),
        "route_before": before,
        "route_after": after,
        "p50_delta_ms": round(after["p50_ms"] - before["p50_ms"], 4),
        "route_before_outside_model": before_o_s,
        "route_after_outside_model": after_o_s,
        "p50_delta_outside_model_ms": round(after_o_s["p50_ms"] - before_o_s["p50_ms"], 4),
        "index_vectors_after": router.index.total_vectors,
    }
    return {
        **env.base(),
        "per_route": per_route,
        "phase1_add_from_empty": phase1,
        "phase2_hot_reload": phase2,
        "call": "router.add_route(Route(name, 5 utterances)); wait until searchable",
    }


def task_concurrency(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    levels = [int(x) for x in args.get("levels", [1, 16, 64, 256])]
    min_turns, per_worker = int(args.get("min_turns", 256)), int(args.get("per_worker", 4))
    max_turns, cap = int(args.get("max_turns", 2048)), float(args.get("time_cap_s", 60))
    warmup = int(args.get("warmup", 20))
    router, build = env.build_clinc()
    texts = C.test_turns(env.data, 4500)

    async def go() -> list[dict[str, Any]]:
        await router.start()
        try:
            for t in texts[:warmup]:
                await router.aquery(t)
            out = []
            for lvl in levels:
                n = C.turns_for_level(lvl, min_turns, per_worker, max_turns)
                c0, t0_ = env.counter.snapshot()
                res = await C.run_concurrency_level(router.aquery, texts, lvl, n, cap)
                c1, t1_ = env.counter.snapshot()
                res["encoder_texts"] = t1_ - t0_
                res["encoder_calls"] = c1 - c0
                res["mean_batch"] = round((t1_ - t0_) / max(1, c1 - c0), 2)
                C.log("concurrency", lvl, res["throughput_turns_per_s"], "turns/s")
                out.append(res)
            return out
        finally:
            await router.stop()

    results = asyncio.run(go())
    return {
        **env.base(),
        "build": build,
        "profile": {
            "batch_size": router.batch_size,
            "read_pool_workers": router._read_pool._max_workers,
        },
        "levels": results,
        "call": "await router.start(); await router.aquery(text)",
    }


def task_cold_boot(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    per_route = int(args.get("per_route", 100))
    if args.get("vectors") is not None:  # total utterances, split into routes of per_route
        n_routes = max(1, -(-int(args["vectors"]) // per_route))
    else:
        n_routes = int(args.get("n_routes", 500))
    boots, npy_repeats = int(args.get("boots", 3)), int(args.get("npy_repeats", 5))
    total = n_routes * per_route
    pool = C.text_pool(env.data)
    if per_route > len(pool):
        raise ValueError("per_route larger than the CLINC150 text pool")
    uniq = pool[: min(len(pool), total)]
    t0 = time.perf_counter()
    vecs = env.encoder.encode_batch(uniq)
    encode_pool_s = time.perf_counter() - t0
    index_of = {t: i for i, t in enumerate(uniq)}

    tmp = tempfile.mkdtemp(prefix="synapto-boot-")
    try:
        db = os.path.join(tmp, "routes.sqlite")
        npy = os.path.join(tmp, "vectors.npy")
        storage = SQLiteStorage(db)
        rows = []
        t0 = time.perf_counter()
        for r in range(n_routes):
            name, utts = C.synthetic_route(r, uniq, per_route)
            emb = vecs[[index_of[u] for u in utts]]
            storage.save_route(Route(name=name, utterances=utts), emb)
            rows.append(emb)
        write_s = time.perf_counter() - t0
        del storage
        raw = np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)
        np.save(npy, raw)
        db_bytes = os.path.getsize(db) + sum(
            os.path.getsize(db + s) for s in ("-wal", "-shm") if os.path.exists(db + s)
        )

        boot_runs = []
        for b in range(boots):
            c0, t0_ = env.counter.snapshot()
            t0 = time.perf_counter()
            router = AdaptiveRouter(
                encoder=env.encoder,
                storage=SQLiteStorage(db),
                max_capacity=max(env.max_capacity, total),
            )
            boot_s = time.perf_counter() - t0
            c1, t1_ = env.counter.snapshot()
            probe = router(env.data["test"][0][0])
            boot_runs.append(
                {
                    "boot_s": round(boot_s, 4),
                    "encoder_texts": t1_ - t0_,
                    "encoder_calls": c1 - c0,
                    "index_vectors": router.index.total_vectors,
                    "probe_route": _name(probe),
                }
            )
            C.log("boot", b, boot_runs[-1])
            del router
        t0 = time.perf_counter()
        _routes, _emb_map = SQLiteStorage(db).load_all_routes()
        load_all_s = time.perf_counter() - t0
        npy_t = []
        for _ in range(npy_repeats):
            t0 = time.perf_counter()
            arr = np.load(npy)
            npy_t.append(time.perf_counter() - t0)
        assert arr.shape == (total, env.raw.dim)
        boot_med = statistics.median(b["boot_s"] for b in boot_runs)
        npy_med = statistics.median(npy_t)
        return {
            **env.base(),
            "vectors": total,
            "routes": n_routes,
            "per_route": per_route,
            "distinct_texts_encoded_for_setup": len(uniq),
            "setup_encode_s": round(encode_pool_s, 3),
            "setup_write_sqlite_s": round(write_s, 3),
            "sqlite_bytes": db_bytes,
            "npy_bytes": os.path.getsize(npy),
            "boots": boot_runs,
            "boot_median_s": round(boot_med, 4),
            "re_encoded_on_boot": any(b["encoder_texts"] for b in boot_runs),
            "storage_load_all_routes_s": round(load_all_s, 4),
            "np_load": C.latency_stats(npy_t),
            "np_load_median_s": round(npy_med, 5),
            "boot_over_np_load": round(boot_med / npy_med, 1) if npy_med > 0 else None,
            "note": "file in the OS page cache (just written); boot = AdaptiveRouter(encoder, SQLiteStorage(path)) "
            "with the encoder already loaded",
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def task_accuracy(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    router, build = env.build_clinc()
    ev = env.data["test"] + env.data["oos_test"]
    fit_set = env.data["val"] + env.data["oos_val"]
    limit = args.get("limit_eval")
    if limit:
        ev = env.data["test"][: int(limit)] + env.data["oos_test"][: max(1, int(limit) // 4)]
        fit_set = env.data["val"][: int(limit)] + env.data["oos_val"][: max(1, int(limit) // 4)]
    X, y = [t for t, _ in ev], [g for _, g in ev]

    def evaluate() -> dict[str, Any]:
        t0 = time.perf_counter()
        pred = [_name(router(t)) for t in X]
        res = C.routing_scores(pred, y)
        res["predict_s"] = round(time.perf_counter() - t0, 3)
        thr = [r.threshold for r in router._route_map.values()]
        res["thresholds"] = {"min": min(thr), "median": statistics.median(thr), "max": max(thr)}
        return res

    out: dict[str, Any] = {
        "build": build,
        "eval_set": "test + oos_test",
        "n_eval": len(X),
        "call": "router(text) (sync path, margin gate applies)",
    }
    out["before_fit"] = evaluate()
    if args.get("fit", False):
        Xf = [t for t, _ in fit_set]
        yf = [g if g is not None else OOS for _, g in fit_set]
        t0 = time.perf_counter()
        router.fit_thresholds(Xf, yf)
        # update_threshold() changes the in-memory routes at once; storage catches up in the background
        fit_s = time.perf_counter() - t0
        out["fit"] = {
            "set": "val + oos_val",
            "n": len(Xf),
            "fit_s": round(fit_s, 3),
            "call": "router.fit_thresholds(samples, labels)  # OOS labelled '__oos__'",
        }
        out["after_fit"] = evaluate()
    return {**env.base(), **out}


def task_quirks(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    out: dict[str, Any] = {}
    # 1. add_route returns before the route is searchable
    router = env.router()
    router.add_route(
        Route(name="weather", utterances=["what is the weather today", "will it rain tomorrow"])
    )
    out["searchable_right_after_add_route"] = "weather" in router.index._route_to_ids
    wait_route(router, "weather")
    out["searchable_after_wait"] = "weather" in router.index._route_to_ids
    # 2. margin: the sync path gates on it, the async batch path does not
    router = env.router(margin=0.5)
    router.add_route(
        Route(name="weather", utterances=["what is the weather today", "is it going to rain"])
    )
    router.add_route(
        Route(name="forecast", utterances=["what is the weather forecast", "will it rain tomorrow"])
    )
    wait_vectors(router, 4)
    q = "what's the weather like today"
    out["margin_0.5_sync_call"] = _name(router(q))

    async def aq() -> Any:
        try:
            await router.aquery(q)
        except RuntimeError as exc:
            out["aquery_before_start"] = f"RuntimeError: {exc}"
        await router.start()
        try:
            return _name(await router.aquery(q))
        finally:
            await router.stop()

    out["margin_0.5_aquery"] = asyncio.run(aq())
    # 3. thresholds: Route.threshold defaults to 0.5 and is compared per vector hit (score >= threshold)
    out["route_threshold_default"] = Route(name="x", utterances=["y"]).threshold
    router = env.router()
    router.add_route(
        Route(name="weather", utterances=["what is the weather today", "will it rain tomorrow"])
    )
    wait_vectors(router, 2)
    out["unrelated_query_threshold_0.5"] = _name(router("what is the capital of mongolia"))
    router.update_threshold("weather", -1.0)
    out["unrelated_query_threshold_-1.0"] = _name(router("what is the capital of mongolia"))
    return {**env.base(), **out}


def task_sync(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "unsupported": "synaptoroute has no vector-DB sync: its only sync manager is RedisSyncManager "
        "(pub/sub of mutations between router processes, needs a Redis server and the redis extra); "
        "durability is its local SQLiteStorage (see cold_boot)."
    }


def task_fewshot(args: dict[str, Any]) -> dict[str, Any]:
    """Few-shot routes as a user would build them: AdaptiveRouter(encoder) with its defaults
    (SQLiteStorage(":memory:"), margin 0.0, Route.threshold 0.5, best single hit among the top
    5), one add_route per route, waited until searchable; each turn through router(text). A
    setting may name "threshold" (every Route's) and "margin"."""
    spec, table = C.load_fewshot_input(args)
    counter = C.Counter()
    encoder = FingerpostSynaptoEncoder(table, counter, bool(args.get("requires_lock", False)))

    def route_case(
        setting: dict[str, Any], routes: list[dict[str, Any]], sets: dict[str, list[str]]
    ) -> dict[str, list[str | None]]:
        kw = {"margin": setting["margin"]} if "margin" in setting else {}
        router = AdaptiveRouter(encoder=encoder, **kw)
        extra = {"threshold": setting["threshold"]} if "threshold" in setting else {}
        for r in routes:
            router.add_route(Route(name=r["name"], utterances=list(r["utterances"]), **extra))
        wait_vectors(router, sum(len(r["utterances"]) for r in routes))
        try:
            return {k: [_name(router(t)) for t in v] for k, v in sets.items()}
        finally:
            router._read_pool.shutdown(wait=False)
            router._write_pool.shutdown(wait=False)

    out = C.run_fewshot(spec, route_case)
    return {
        **out,
        "encoder": {"impl": table.name, "dim": table.dim},
        "encoder_misses": table.misses,
        "defaults": {"threshold": Route(name="x", utterances=["y"]).threshold, "margin": 0.0},
        "call": "router(text)  # sync path, default margin",
    }


TASKS = {
    "encoder_latency": task_encoder_latency,
    "route_latency": task_route_latency,
    "add_cost": task_add_cost,
    "concurrency": task_concurrency,
    "cold_boot": task_cold_boot,
    "accuracy": task_accuracy,
    "quirks": task_quirks,
    "sync": task_sync,
    "fewshot": task_fewshot,
}

if __name__ == "__main__":
    C.main("synaptoroute", "synaptoroute", TASKS, __doc__ or "", extra_versions=("scikit-learn",))
