"""semantic-router (0.1.16) side of the fingerpost peer benchmarks.

Run INSIDE benchmarks/.venv-semantic-router (made by benchmarks/setup_peers.sh):

    LITELLM_LOCAL_MODEL_COST_MAP=True \
    benchmarks/.venv-semantic-router/bin/python benchmarks/peers/sr_bench.py TASK --json-args '{...}'

(The script sets LITELLM_LOCAL_MODEL_COST_MAP=True itself before importing semantic_router.)

Prints exactly ONE JSON object on stdout; logs go to stderr. Exit code 0 on success (also for
tasks that return {"unsupported": ...}), 1 when the task raised (the JSON then has "error").
Every result carries: peer, peer_version, task, args, versions, python, cpu_count, ok,
supported, task_wall_s, encoder (model description) and, where texts get encoded,
encoder_texts / encoder_calls (counted by the adapter around the shared model).

The model is fingerpost.encoders.OnnxEncoder (all-MiniLM-L6-v2 int8 from PyPI packages), wrapped
in semantic_router.encoders.DenseEncoder by `FingerpostDenseEncoder` below.

TASKS and their --json-args (defaults shown; all optional):
  encoder_latency  {"n": 200, "warmup": 20}
      single-turn encode latency through the DenseEncoder adapter (and the bare model).
  route_latency    {"n": 1000, "warmup": 20, "score_threshold": 0.5}
      build SemanticRouter(LocalIndex, auto_sync="local") from CLINC150 train (150 routes x 100
      utterances); build time; latency of n single sync router(text) calls over test turns.
  add_cost         {"checkpoints": [1, 100, 1000, 5000], "per_route": 5, "time_cap_s": 120,
                    "window": 21, "hot_routes": 500, "hot_n": 200}
      phase 1: empty router, add routes one by one (router.add), per-add wall time at the
      checkpoints (the checkpoint add and the median of the `window` adds ending there); stops
      at time_cap_s and reports how far it got. phase 2: CLINC150 router, single-turn p50
      over hot_n test turns before and after adding hot_routes routes one by one.
  concurrency      {"levels": [1, 16, 64, 256], "min_turns": 256, "per_worker": 4,
                    "max_turns": 2048, "time_cap_s": 60, "warmup": 20}
      CLINC150 router; throughput and latency of `await router.acall(text)` with `level`
      concurrent callers, max(min_turns, per_worker*level) turns per level (<= max_turns).
  accuracy         {"score_threshold": 0.5, "top_k": 5, "aggregation": "mean",
                    "fit": true, "max_iter": 10, "fit_budget_s": 240, "fit_batch_size": 500,
                    "local_execution": false, "evaluate_subset": 1000, "limit_eval": null}
      CLINC150 train routes; evaluate on test + oos_test (oos label None): in-scope accuracy,
      OOS recall/precision (router(vector=..., simulate_static=True), as router.evaluate does),
      cross-checked with router.evaluate() on an evenly spaced subset; then
      router.fit(val + oos_val, max_iter) with max_iter cut so the fit fits fit_budget_s at the
      measured per-turn cost; evaluate again.
  sync             {"location": ":memory:", "changed": 10, "is_synced_repeats": 5}
      QdrantIndex (embedded, ":memory:" or "path"): sync of the 15,000 train utterances into an
      empty remote via auto_sync="local"; already-synced is_synced(); incremental sync of
      `changed` edited utterances (router.sync("local") and a restart with auto_sync="local").
  quirks           {}
      checks behaviours the README states (Index is not ready, thresholds, acall on stock
      encoders, acall on in-memory Qdrant).
  fewshot          {"input": "spec.json"}  (written by benchmarks/fp_fewshot.py)
      routes (name + utterances) and turn sets from a JSON file, vectors from the .npz it
      names (the caller's vectors: the same model); one router per case and setting, built as a
      user would (LocalIndex, auto_sync="local", top_k=5, mean, threshold 0.5 = the
      HuggingFaceEncoder default for all-MiniLM-L6-v2); each turn's route or none. A setting
      may name "threshold" (or "score_threshold": the router's), "top_k", "aggregation".
  cold_boot        unsupported (no durable local store).
  list             the task names.
Common args: "threads" (ONNX intra-op threads, default fingerpost's), "clinc" (path),
"per_intent" (default 100: CLINC150 train utterances per route; smaller for smoke runs),
"quiet_peer_logs" (default true: semantic_router logger at ERROR; it warns on every add).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import Any, ClassVar

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C
import numpy as np
from pydantic import ConfigDict, PrivateAttr
from semantic_router import Route
from semantic_router.encoders import DenseEncoder
from semantic_router.index import LocalIndex
from semantic_router.routers import SemanticRouter

DEFAULT_THRESHOLD = 0.5  # what semantic-router's own local encoders (FastEmbed, HuggingFace) use


class FingerpostDenseEncoder(DenseEncoder):
    """fingerpost's OnnxEncoder behind semantic-router's DenseEncoder interface.

    Returns List[List[float]] like semantic-router's own encoders (FastEmbedEncoder,
    LocalEncoder, HuggingFaceEncoder all end in ``.tolist()``), so the router stores and
    compares vectors exactly as it does with a stock encoder. ``acall`` offloads to a worker
    thread (fingerpost's ``acall``); semantic-router's stock local encoders have no ``acall``.
    """

    name: str = "fingerpost-onnx"
    type: str = "fingerpost"
    model_config: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True)
    _enc: Any = PrivateAttr()
    _counter: Any = PrivateAttr()

    def __init__(
        self, enc: Any, counter: C.Counter, score_threshold: float | None = DEFAULT_THRESHOLD
    ):
        super().__init__(name=enc.name, score_threshold=score_threshold)
        self._enc = enc
        self._counter = counter

    def __call__(self, docs: list[Any]) -> list[list[float]]:
        t0 = time.perf_counter()
        out = self._enc(list(docs)).tolist()
        self._counter.add(len(docs), time.perf_counter() - t0)
        return out

    async def acall(self, docs: list[Any]) -> list[list[float]]:
        t0 = time.perf_counter()
        out = (await self._enc.acall(list(docs))).tolist()
        self._counter.add(len(docs), time.perf_counter() - t0)
        return out


# ---------------------------------------------------------------------------------------------


class Env:
    """Model, counter, adapter and data for one task run."""

    def __init__(self, args: dict[str, Any], threshold_default: float | None = DEFAULT_THRESHOLD):
        if args.get("quiet_peer_logs", True):
            logging.getLogger("semantic_router.utils.logger").setLevel(logging.ERROR)
            for name in list(logging.root.manager.loggerDict):
                if name.startswith("semantic_router"):
                    logging.getLogger(name).setLevel(logging.ERROR)
        self.raw, self.encoder_info = C.make_fingerpost_encoder(args)
        self.counter = C.Counter()
        thr = args.get("score_threshold", threshold_default)
        self.encoder = FingerpostDenseEncoder(self.raw, self.counter, score_threshold=thr)
        self.data = C.load_clinc(args.get("clinc"))
        self.per_intent = int(args.get("per_intent", 100))

    def train_routes(self) -> list[Route]:
        return [
            Route(name=k, utterances=v[: self.per_intent])
            for k, v in C.grouped(self.data["train"]).items()
        ]

    def build_local(self, args: dict[str, Any]) -> tuple[SemanticRouter, dict[str, Any]]:
        routes = self.train_routes()
        c0, t0_ = self.counter.snapshot()
        t0 = time.perf_counter()
        router = SemanticRouter(
            encoder=self.encoder,
            routes=routes,
            index=LocalIndex(),
            top_k=int(args.get("top_k", 5)),
            aggregation=args.get("aggregation", "mean"),
            auto_sync="local",
        )
        build_s = time.perf_counter() - t0
        c1, t1_ = self.counter.snapshot()
        return router, {
            "build_s": round(build_s, 4),
            "routes": len(routes),
            "utterances": sum(len(r.utterances) for r in routes),
            "index": "LocalIndex",
            "index_vectors": len(router.index),
            "index_dtype": str(router.index.index.dtype),
            "build_encoder_texts": t1_ - t0_,
            "build_encoder_calls": c1 - c0,
            "score_threshold": router.score_threshold,
        }

    def base(self) -> dict[str, Any]:
        calls, texts = self.counter.snapshot()
        return {"encoder": self.encoder_info, "encoder_texts": texts, "encoder_calls": calls}


def _route_name(choice: Any) -> str | None:
    if isinstance(choice, list):
        return choice[0].name if choice else None
    return choice.name


def _time_calls_split(
    env: Env, router: SemanticRouter, texts: list[str], warmup: int
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


def _time_calls(router: SemanticRouter, texts: list[str], warmup: int) -> list[float]:
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
        env.encoder([t])
    env.counter = C.Counter()
    env.encoder._counter = env.counter
    adapter, bare = [], []
    for t in texts:
        t0 = time.perf_counter()
        env.encoder([t])
        adapter.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.raw([t])
        bare.append(time.perf_counter() - t0)
    return {
        **env.base(),
        "adapter": C.latency_stats(adapter),
        "bare_model": C.latency_stats(bare),
        "note": "adapter = FingerpostDenseEncoder([text]) incl. .tolist(); bare = OnnxEncoder([text])",
    }


def task_route_latency(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    n, warmup = int(args.get("n", 1000)), int(args.get("warmup", 20))
    router, build = env.build_local(args)
    texts = C.test_turns(env.data, n)
    labels = [lbl for _, lbl in env.data["test"]]
    _, before = env.counter.snapshot()
    cpu0 = time.process_time()
    lat, outside = _time_calls_split(env, router, texts, warmup)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / (len(texts) + min(warmup, len(texts)))
    _, after = env.counter.snapshot()
    # sanity: routing works (top-1 against the label, threshold applied)
    correct = sum(
        _route_name(router(t)) == labels[i % len(labels)]
        for i, t in enumerate(texts[: min(n, 300)])
    )
    return {
        **env.base(),
        "build": build,
        "query_encoder_texts": after - before,
        "latency": C.latency_stats(lat),
        "latency_outside_model": C.latency_stats(outside),
        "process_cpu_ms_per_call": round(cpu_ms, 3),
        "sanity_top1_acc_first300": round(correct / min(n, 300), 4),
        "call": "router(text)  # SemanticRouter.__call__, LocalIndex",
    }


def _add_routes_one_by_one(
    env: Env,
    router: SemanticRouter,
    start: int,
    count: int,
    pool: list[str],
    per_route: int,
    time_cap_s: float,
) -> tuple[list[float], list[float], bool]:
    """Returns per-add wall times, per-add time outside the model, and whether the cap hit."""
    times: list[float] = []
    other: list[float] = []
    deadline = time.perf_counter() + time_cap_s
    for i in range(start, start + count):
        name, utts = C.synthetic_route(i, pool, per_route)
        route = Route(name=name, utterances=utts)
        e0 = env.counter.encode_seconds()
        t0 = time.perf_counter()
        router.add(route)
        dt = time.perf_counter() - t0
        times.append(dt)
        other.append(dt - (env.counter.encode_seconds() - e0))
        if time.perf_counter() > deadline:
            return times, other, True
    return times, other, False


def task_add_cost(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    checkpoints = sorted(int(c) for c in args.get("checkpoints", [1, 100, 1000, 5000]))
    per_route = int(args.get("per_route", 5))
    cap = float(args.get("time_cap_s", 120))
    window = int(args.get("window", 21))
    pool = C.text_pool(env.data)

    # phase 1: empty router, add routes one by one
    router = SemanticRouter(encoder=env.encoder, routes=[], index=LocalIndex())
    ready_before_first_add = router.index.is_ready()
    c0 = env.counter.snapshot()[1]
    times, other, capped = _add_routes_one_by_one(
        env, router, 0, checkpoints[-1], pool, per_route, cap
    )
    texts_phase1 = env.counter.snapshot()[1] - c0
    per_add: dict[str, Any] = {}
    for c in checkpoints:
        if c <= len(times):
            win = times[max(0, c - window) : c]
            per_add[str(c)] = {
                "add_ms": round(times[c - 1] * 1e3, 4),
                "window_median_ms": round(statistics.median(win) * 1e3, 4),
                "window_median_outside_model_ms": round(
                    statistics.median(other[max(0, c - window) : c]) * 1e3, 4
                ),
                "window": len(win),
            }
        else:
            per_add[str(c)] = None
    phase1 = {
        "start": "empty SemanticRouter(LocalIndex), no auto_sync",
        "index_ready_before_first_add": ready_before_first_add,
        "routes_added": len(times),
        "reached_last_checkpoint": len(times) >= checkpoints[-1],
        "time_capped": capped,
        "total_s": round(sum(times), 3),
        "per_add": per_add,
        "all_adds": C.latency_stats(times),
        "all_adds_outside_model": C.latency_stats(other),
        "encoder_texts": texts_phase1,
        "index_vectors_end": len(router.index),
    }
    del router

    # phase 2: routing p50 on the CLINC150 router before/after hot_routes single adds
    hot_routes, hot_n = int(args.get("hot_routes", 500)), int(args.get("hot_n", 200))
    router, build = env.build_local(args)
    texts = C.test_turns(env.data, hot_n)
    before_l, before_o = _time_calls_split(env, router, texts, 20)
    add_times, add_other, capped2 = _add_routes_one_by_one(
        env, router, 100_000, hot_routes, pool, per_route, cap
    )
    after_l, after_o = _time_calls_split(env, router, texts, 20)
    before, after = C.latency_stats(before_l), C.latency_stats(after_l)
    before_o_s, after_o_s = C.latency_stats(before_o), C.latency_stats(after_o)
    phase2 = {
        "build": build,
        "routes_added": len(add_times),
        "time_capped": capped2,
        "add_total_s": round(sum(add_times), 3),
        "adds": C.latency_stats(add_times),
        "adds_outside_model": C.latency_stats(add_other),
        "route_before": before,
        "route_after": after,
        "p50_delta_ms": round(after["p50_ms"] - before["p50_ms"], 4),
        "route_before_outside_model": before_o_s,
        "route_after_outside_model": after_o_s,
        "p50_delta_outside_model_ms": round(after_o_s["p50_ms"] - before_o_s["p50_ms"], 4),
        "index_vectors_after": len(router.index),
    }
    return {
        **env.base(),
        "per_route": per_route,
        "phase1_add_from_empty": phase1,
        "phase2_hot_reload": phase2,
        "call": "router.add(Route(name, 5 utterances))",
    }


def task_concurrency(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    levels = [int(x) for x in args.get("levels", [1, 16, 64, 256])]
    min_turns, per_worker = int(args.get("min_turns", 256)), int(args.get("per_worker", 4))
    max_turns, cap = int(args.get("max_turns", 2048)), float(args.get("time_cap_s", 60))
    warmup = int(args.get("warmup", 20))
    router, build = env.build_local(args)
    texts = C.test_turns(env.data, 4500)

    async def go() -> list[dict[str, Any]]:
        for t in texts[:warmup]:
            await router.acall(t)
        out = []
        for lvl in levels:
            n = C.turns_for_level(lvl, min_turns, per_worker, max_turns)
            c0 = env.counter.snapshot()[1]
            res = await C.run_concurrency_level(router.acall, texts, lvl, n, cap)
            res["encoder_texts"] = env.counter.snapshot()[1] - c0
            C.log("concurrency", lvl, res["throughput_turns_per_s"], "turns/s")
            out.append(res)
        return out

    results = asyncio.run(go())
    return {
        **env.base(),
        "build": build,
        "levels": results,
        "call": "await router.acall(text)  # encoder.acall -> fingerpost acall (to_thread)",
    }


def _predict(router: SemanticRouter, vecs: np.ndarray) -> list[str | None]:
    return [_route_name(router(vector=v, simulate_static=True)) for v in vecs]


def task_accuracy(args: dict[str, Any]) -> dict[str, Any]:
    env = Env(args)
    router, build = env.build_local(args)
    limit = args.get("limit_eval")
    ev = env.data["test"] + env.data["oos_test"]
    fit_set = env.data["val"] + env.data["oos_val"]
    if limit:
        # keep both in-scope and OOS in a smoke run
        ev = env.data["test"][: int(limit)] + env.data["oos_test"][: max(1, int(limit) // 4)]
        fit_set = env.data["val"][: int(limit)] + env.data["oos_val"][: max(1, int(limit) // 4)]
    X = [t for t, _ in ev]
    y = [g for _, g in ev]
    vecs = np.asarray(env.encoder(X))

    # router.evaluate() re-encodes and routes one vector at a time; run it on an evenly spaced
    # subset (in-scope and OOS) to cross-check our numbers, which come from the same call
    # (router(vector=..., simulate_static=True)) on all of X.
    n_sub = min(len(X), int(args.get("evaluate_subset", 1000)))
    sub = list(range(0, len(X), max(1, len(X) // n_sub)))[:n_sub]

    def evaluate(tag: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        pred = _predict(router, vecs)
        res = C.routing_scores(pred, y)
        res["predict_s"] = round(time.perf_counter() - t0, 3)
        res["predict_ms_per_turn"] = round(res["predict_s"] * 1e3 / len(X), 3)
        t0 = time.perf_counter()
        res["router_evaluate_subset"] = round(
            router.evaluate(X=[X[i] for i in sub], y=[y[i] for i in sub]), 4
        )  # type: ignore[misc]
        res["router_evaluate_subset_s"] = round(time.perf_counter() - t0, 3)
        res["our_overall_accuracy_on_subset"] = round(
            sum(pred[i] == y[i] for i in sub) / len(sub), 4
        )
        res["evaluate_subset_n"] = len(sub)
        thr = router.get_thresholds()
        res["thresholds"] = {
            "min": round(min(thr.values()), 4),
            "median": round(statistics.median(thr.values()), 4),
            "max": round(max(thr.values()), 4),
        }
        C.log(tag, res)
        return res

    out: dict[str, Any] = {
        "build": build,
        "eval_set": "test + oos_test",
        "n_eval": len(X),
        "top_k": router.top_k,
        "aggregation": router.aggregation,
    }
    out["before_fit"] = evaluate("before fit")
    if args.get("fit", True):
        Xf = [t for t, _ in fit_set]
        yf = [g for _, g in fit_set]
        # fit() routes the whole fit set once, then once per iteration, one vector at a time:
        # pick max_iter so the fit stays within fit_budget_s at the per-turn cost just measured.
        per_turn_s = out["before_fit"]["predict_s"] / len(X)
        est_iter_s = per_turn_s * len(Xf)
        budget = float(args.get("fit_budget_s", 240))
        requested = int(args.get("max_iter", 10))
        max_iter = max(1, min(requested, int(budget / max(est_iter_s, 1e-9)) - 1))
        local_execution = bool(args.get("local_execution", False))
        C.log(f"fit: {len(Xf)} turns, ~{est_iter_s:.1f}s per pass, max_iter={max_iter}")
        t0 = time.perf_counter()
        router.fit(
            X=Xf,
            y=yf,
            batch_size=int(args.get("fit_batch_size", 500)),
            max_iter=max_iter,  # type: ignore[arg-type]
            local_execution=local_execution,
        )
        fit_s = time.perf_counter() - t0
        out["fit"] = {
            "set": "val + oos_val",
            "n": len(Xf),
            "max_iter_requested": requested,
            "max_iter": max_iter,
            "fit_budget_s": budget,
            "estimated_s_per_pass": round(est_iter_s, 3),
            "fit_s": round(fit_s, 3),
            "s_per_pass": round(fit_s / (max_iter + 1), 3),
            "extrapolated_default_max_iter_500_s": round(fit_s / (max_iter + 1) * 501, 1),
            "local_execution": local_execution,
            "note": "fit() routes the whole fit set once, then once per iteration (random threshold "
            "search, kept only if accuracy improves); semantic-router's default max_iter is 500",
        }
        out["after_fit"] = evaluate("after fit")
        out["after_fit_changed_thresholds"] = (
            sum(1 for v in router.get_thresholds().values() if abs(v - 0.5) > 1e-9)
            if router.score_threshold == 0.5
            else None
        )
    return {**env.base(), **out}


def _count_client_calls() -> list[int]:
    """Count calls of ``QdrantClient``'s public methods, as fingerpost's sync table counts its
    own (one client call = one request against a Qdrant server)."""
    import functools
    import inspect

    from qdrant_client import QdrantClient

    calls = [0]

    def counted(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            calls[0] += 1
            return fn(*a, **kw)

        return wrapper

    for name, fn in list(vars(QdrantClient).items()):
        if not name.startswith("_") and inspect.isfunction(fn):
            setattr(QdrantClient, name, counted(fn))
    return calls


def task_sync(args: dict[str, Any]) -> dict[str, Any]:
    from semantic_router.index import QdrantIndex

    calls = _count_client_calls()
    env = Env(args)
    location = args.get("location", ":memory:")
    changed = int(args.get("changed", 10))
    tmp = None

    def make_index() -> Any:
        if location == "path":
            return QdrantIndex(location=None, path=tmp, dimensions=env.raw.dim)
        return QdrantIndex(location=":memory:", dimensions=env.raw.dim)

    if location == "path":
        tmp = tempfile.mkdtemp(prefix="sr-qdrant-")
    index = make_index()
    routes = env.train_routes()
    n_utts = sum(len(r.utterances) for r in routes)

    c0, t0_ = env.counter.snapshot()
    t0 = time.perf_counter()
    router = SemanticRouter(encoder=env.encoder, routes=routes, index=index, auto_sync="local")
    full_s = time.perf_counter() - t0
    c1, t1_ = env.counter.snapshot()
    full = {
        "utterances": n_utts,
        "sync_s": round(full_s, 3),
        "encoder_texts": t1_ - t0_,
        "encoder_calls": c1 - c0,
        "remote_points_after": len(index),
        "is_synced_after": router.is_synced(),
    }

    reps = int(args.get("is_synced_repeats", 5))
    ts = []
    before = calls[0]
    for _ in range(reps):
        t0 = time.perf_counter()
        ok = router.is_synced()
        ts.append(time.perf_counter() - t0)
    is_synced = {"result": ok, "client_calls": (calls[0] - before) / reps, **C.latency_stats(ts)}

    # incremental 1: edit `changed` utterances of the live router, then router.sync("local")
    edited = []
    for k in range(changed):
        r = routes[k % len(routes)]
        j = k // len(routes)
        old = r.utterances[j]
        r.utterances[j] = f"{old} please (edit {k})"
        edited.append((r.name, old, r.utterances[j]))
    c0, t0_ = env.counter.snapshot()
    t0 = time.perf_counter()
    synced_before = router.is_synced()
    diff = router.sync("local")
    inc_s = time.perf_counter() - t0
    c1, t1_ = env.counter.snapshot()
    incremental = {
        "changed_utterances": changed,
        "is_synced_before": synced_before,
        "sync_s": round(inc_s, 4),
        "encoder_texts": t1_ - t0_,
        "encoder_calls": c1 - c0,
        "diff_lines": len(diff),
        "diff_changed_lines": sum(1 for d in diff if not d.startswith(" ")),
        "remote_points_after": len(index),
        "is_synced_after": router.is_synced(),
    }

    # incremental 2: a restart: new router over the same remote with `changed` more edits
    for k in range(changed):
        r = routes[(k + 7) % len(routes)]
        r.utterances[-1 - k // len(routes)] = (
            r.utterances[-1 - k // len(routes)] + f" thanks (restart {k})"
        )
    c0, t0_ = env.counter.snapshot()
    before = calls[0]
    t0 = time.perf_counter()
    router2 = SemanticRouter(encoder=env.encoder, routes=routes, index=index, auto_sync="local")
    re_s = time.perf_counter() - t0
    c1, t1_ = env.counter.snapshot()
    restart = {
        "changed_utterances": changed,
        "construct_with_auto_sync_s": round(re_s, 4),
        "client_calls": calls[0] - before,
        "encoder_texts": t1_ - t0_,
        "encoder_calls": c1 - c0,
        "remote_points_after": len(index),
        "is_synced_after": router2.is_synced(),
    }

    # the async path on embedded Qdrant: ais_ready() is False without an async client, so every
    # acall re-runs _async_init_index_state (a full auto_sync diff).
    acall_res: dict[str, Any] = {}
    if location == ":memory:" or location == "path":

        async def one() -> float:
            t0 = time.perf_counter()
            await router2.acall(env.data["test"][0][0])
            return time.perf_counter() - t0

        c0, t0_ = env.counter.snapshot()
        lat = [asyncio.run(one()) for _ in range(3)]
        c1, t1_ = env.counter.snapshot()
        sync_lat = _time_calls(router2, [t for t, _ in env.data["test"][:20]], 5)
        acall_res = {
            "acall": C.latency_stats(lat),
            "acall_encoder_texts": t1_ - t0_,
            "sync_call": C.latency_stats(sync_lat),
            "ais_ready": asyncio.run(index.ais_ready()),
            "is_ready": index.is_ready(),
        }
    if tmp is not None:
        import shutil

        index.client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        **env.base(),
        "index": f"QdrantIndex(embedded, {location})",
        "full_sync": full,
        "is_synced": is_synced,
        "incremental_sync": incremental,
        "restart_sync": restart,
        "qdrant_embedded_calls": acall_res,
    }


def task_cold_boot(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "unsupported": "semantic-router has no durable local store: LocalIndex lives in memory; a "
        "restart rebuilds it by re-encoding every utterance (auto_sync) or reads a remote index "
        "(Pinecone/Qdrant/Postgres) -- see the sync task for the embedded-Qdrant restart."
    }


def task_quirks(args: dict[str, Any]) -> dict[str, Any]:
    """Small, fast checks of behaviours the README states."""
    env = Env(args)
    out: dict[str, Any] = {}
    routes = [
        Route(name="weather", utterances=["what is the weather today", "will it rain tomorrow"]),
        Route(name="billing", utterances=["I need a refund", "cancel my subscription"]),
    ]

    # 1. routes given but no auto_sync: the index is never filled
    r = SemanticRouter(
        encoder=env.encoder, routes=[Route(**x.model_dump()) for x in routes], index=LocalIndex()
    )
    try:
        r("is it going to be sunny")
        out["no_auto_sync_call"] = "returned"
    except ValueError as exc:
        out["no_auto_sync_call"] = f"ValueError: {exc}"
    # 2. thresholds: None (encoder without score_threshold) and 0.0 both mean "always pass"
    for thr in (None, 0.0, 0.5):
        enc = FingerpostDenseEncoder(env.raw, env.counter, score_threshold=thr)
        r = SemanticRouter(
            encoder=enc,
            routes=[Route(**x.model_dump()) for x in routes],
            index=LocalIndex(),
            auto_sync="local",
        )
        choice = r("what is the capital of mongolia")
        out[f"unrelated_query_threshold_{thr}"] = choice.name

    # 3. acall with a stock local encoder interface: DenseEncoder.acall raises NotImplementedError
    class SyncOnly(FingerpostDenseEncoder):
        async def acall(self, docs: list[Any]) -> list[list[float]]:  # type: ignore[override]
            return await DenseEncoder.acall(self, docs)

    r = SemanticRouter(
        encoder=SyncOnly(env.raw, env.counter),
        routes=[Route(**x.model_dump()) for x in routes],
        index=LocalIndex(),
        auto_sync="local",
    )
    try:
        asyncio.run(r.acall("will it rain"))
        out["acall_without_encoder_acall"] = "returned"
    except NotImplementedError as exc:
        out["acall_without_encoder_acall"] = f"NotImplementedError: {exc}"
    # 4. add() cost components: _get_hash serialises every route to JSON on each add
    r = SemanticRouter(encoder=env.encoder, routes=[], index=LocalIndex())
    out["empty_router_index_ready"] = r.index.is_ready()
    return {**env.base(), **out}


def task_fewshot(args: dict[str, Any]) -> dict[str, Any]:
    """Few-shot routes as a user would build them: SemanticRouter(encoder, routes, LocalIndex(),
    auto_sync="local") with the defaults (top_k=5, mean aggregation); the threshold is the one
    semantic-router's HuggingFaceEncoder gives this model (all-MiniLM-L6-v2: 0.5), unless a
    setting names "score_threshold". Turns are routed by vector (simulate_static, as evaluate)."""
    if args.get("quiet_peer_logs", True):
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("semantic_router"):
                logging.getLogger(name).setLevel(logging.ERROR)
    spec, table = C.load_fewshot_input(args)
    counter = C.Counter()

    def route_case(
        setting: dict[str, Any], routes: list[dict[str, Any]], sets: dict[str, list[str]]
    ) -> dict[str, list[str | None]]:
        enc = FingerpostDenseEncoder(
            table,
            counter,
            score_threshold=setting.get(
                "threshold", setting.get("score_threshold", DEFAULT_THRESHOLD)
            ),
        )
        router = SemanticRouter(
            encoder=enc,
            routes=[Route(name=r["name"], utterances=list(r["utterances"])) for r in routes],
            index=LocalIndex(),
            auto_sync="local",
            **{k: setting[k] for k in ("top_k", "aggregation") if k in setting},
        )
        return {k: _predict(router, table(v)) for k, v in sets.items()}

    out = C.run_fewshot(spec, route_case)
    return {
        **out,
        "encoder": {"impl": table.name, "dim": table.dim},
        "encoder_misses": table.misses,
        "defaults": {"score_threshold": DEFAULT_THRESHOLD, "top_k": 5, "aggregation": "mean"},
        "call": "router(vector=v, simulate_static=True)",
    }


TASKS = {
    "encoder_latency": task_encoder_latency,
    "route_latency": task_route_latency,
    "add_cost": task_add_cost,
    "concurrency": task_concurrency,
    "accuracy": task_accuracy,
    "sync": task_sync,
    "cold_boot": task_cold_boot,
    "quirks": task_quirks,
    "fewshot": task_fewshot,
}

if __name__ == "__main__":
    C.main(
        "semantic-router",
        "semantic-router",
        TASKS,
        __doc__ or "",
        extra_versions=("qdrant-client",),
    )
