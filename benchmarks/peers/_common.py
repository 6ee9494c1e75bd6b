"""Shared plumbing for the peer benchmark scripts (sr_bench.py, synapto_bench.py).

Pure stdlib + numpy + fingerpost, so it imports in every peer venv. Not a public API: the
stable interface is each script's command line (see the top of sr_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# ---------------------------------------------------------------------------------------------
# stdout discipline: exactly one JSON object on stdout, everything else on stderr.
# Peers print() to stdout (synaptoroute's _load_routes does), and native libraries may write to
# file descriptor 1, so fd 1 itself is pointed at stderr while a task runs.


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[Any]:
    """Point fd 1 and sys.stdout at stderr; yield a writable handle on the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    old = sys.stdout
    sys.stdout = sys.stderr
    real = os.fdopen(saved, "w", closefd=True)
    try:
        yield real
    finally:
        sys.stdout.flush()
        sys.stdout = old
        os.dup2(real.fileno(), 1)
        real.close()


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# data


def clinc_path(explicit: str | None = None) -> Path:
    """CLINC150 ``data_full.json``: explicit arg, $CLINC150_PATH, or shared/ next to the repo
    (or next to any folder above it)."""
    candidates = [explicit, os.environ.get("CLINC150_PATH")]
    candidates += [
        # shared/ beside the checkout (a git worktree may sit deeper: every parent is tried)
        *(
            str(p / "shared" / "data" / "clinc150" / "data_full.json")
            for p in (REPO, *REPO.parents)
        ),
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    raise FileNotFoundError(f"CLINC150 data_full.json not found (tried {candidates})")


def load_clinc(explicit: str | None = None) -> dict[str, list[tuple[str, str | None]]]:
    """Splits train/val/test (intent labels) and oos_* (label None)."""
    raw = json.loads(clinc_path(explicit).read_text())
    out: dict[str, list[tuple[str, str | None]]] = {}
    for split, items in raw.items():
        oos = split.startswith("oos")
        out[split] = [(t, None if oos else lbl) for t, lbl in items]
    return out


def grouped(items: Sequence[tuple[str, str | None]]) -> dict[str, list[str]]:
    """intent -> utterances (order kept, duplicates dropped)."""
    routes: dict[str, list[str]] = {}
    for text, label in items:
        assert label is not None
        lst = routes.setdefault(label, [])
        if text not in lst:
            lst.append(text)
    return routes


def text_pool(data: dict[str, list[tuple[str, str | None]]]) -> list[str]:
    """All distinct CLINC150 texts (about 23.6k), a deterministic order, for synthetic routes."""
    seen: dict[str, None] = {}
    for split in ("train", "val", "test", "oos_train", "oos_val", "oos_test"):
        for t, _ in data.get(split, []):
            seen.setdefault(t, None)
    return list(seen)


def synthetic_route(i: int, pool: Sequence[str], per_route: int) -> tuple[str, list[str]]:
    """Route ``i``: a unique name and ``per_route`` consecutive CLINC texts (wrapping around)."""
    n = len(pool)
    start = (i * per_route) % n
    texts = [pool[(start + j) % n] for j in range(per_route)]
    return f"synthetic_{i:06d}", texts


def test_turns(data: dict[str, list[tuple[str, str | None]]], n: int) -> list[str]:
    """The first ``n`` CLINC150 test turns (in-scope, file order), repeated if n > 4500."""
    texts = [t for t, _ in data["test"]]
    if n <= len(texts):
        return texts[:n]
    return [texts[i % len(texts)] for i in range(n)]


# ---------------------------------------------------------------------------------------------
# statistics


def latency_stats(seconds: Sequence[float]) -> dict[str, float | int]:
    a = np.asarray(seconds, dtype=np.float64) * 1e3
    if a.size == 0:
        return {"n": 0}
    return {
        "n": int(a.size),
        "mean_ms": round(float(a.mean()), 4),
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p90_ms": round(float(np.percentile(a, 90)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "min_ms": round(float(a.min()), 4),
        "max_ms": round(float(a.max()), 4),
    }


def routing_scores(pred: Sequence[str | None], gold: Sequence[str | None]) -> dict[str, Any]:
    """In-scope accuracy, OOS recall/precision (OOS = label None, predicted None = no route)."""
    if len(pred) != len(gold):
        raise ValueError("pred and gold differ in length")
    pairs = list(zip(pred, gold, strict=True))
    ins = [(p, g) for p, g in pairs if g is not None]
    oos = [p for p, g in pairs if g is None]
    pred_none = [g for p, g in pairs if p is None]
    return {
        "n_in_scope": len(ins),
        "n_oos": len(oos),
        "in_scope_accuracy": round(sum(p == g for p, g in ins) / max(1, len(ins)), 4),
        "oos_recall": round(sum(p is None for p in oos) / max(1, len(oos)), 4),
        "oos_precision": round(sum(g is None for g in pred_none) / len(pred_none), 4)
        if pred_none
        else None,
        "predicted_none": len(pred_none),
        "overall_accuracy": round(sum(p == g for p, g in pairs) / max(1, len(pairs)), 4),
    }


# ---------------------------------------------------------------------------------------------
# the shared model: fingerpost's OnnxEncoder (all-MiniLM-L6-v2 int8 from PyPI packages)


class Counter:
    """Thread-safe count of encoder calls and texts, shared by a peer adapter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.texts = 0
        self.seconds = 0.0  # wall time spent inside the model (summed over threads)

    def add(self, n: int, seconds: float = 0.0) -> None:
        with self._lock:
            self.calls += 1
            self.texts += n
            self.seconds += seconds

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.calls, self.texts

    def encode_seconds(self) -> float:
        with self._lock:
            return self.seconds


def make_fingerpost_encoder(args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Load fingerpost.encoders.OnnxEncoder (timed), return it and a description."""
    from fingerpost.encoders import OnnxEncoder

    kwargs: dict[str, Any] = {}
    if args.get("threads") is not None:
        kwargs["threads"] = int(args["threads"])
    t0 = time.perf_counter()
    enc = OnnxEncoder(**kwargs).load()
    load_s = time.perf_counter() - t0
    info = {
        "impl": "fingerpost.encoders.OnnxEncoder",
        "name": enc.name,
        "dim": enc.dim,
        "threads": getattr(enc, "threads", None),
        "max_length": getattr(enc, "max_length", None),
        "load_s": round(load_s, 4),
    }
    return enc, info


# ---------------------------------------------------------------------------------------------
# concurrency harness


async def run_concurrency_level(
    call: Callable[[str], Awaitable[Any]],
    texts: Sequence[str],
    concurrency: int,
    n_turns: int,
    time_cap_s: float,
) -> dict[str, Any]:
    """``concurrency`` workers pull turns from a shared cursor and await ``call(text)``."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cursor = 0
    deadline = time.perf_counter() + time_cap_s
    capped = False

    async def worker() -> None:
        nonlocal cursor, capped
        while True:
            if cursor >= n_turns:
                return
            if time.perf_counter() > deadline:
                capped = True
                return
            i = cursor
            cursor += 1
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            try:
                await call(text)
            except Exception as exc:  # record and keep going: a peer failing under load is data
                key = f"{type(exc).__name__}: {str(exc)[:120]}"
                errors[key] = errors.get(key, 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = len(latencies)
    return {
        "concurrency": concurrency,
        "turns_requested": n_turns,
        "turns_ok": done,
        "turns_failed": sum(errors.values()),
        "errors": errors,
        "time_capped": capped,
        "wall_s": round(wall, 4),
        "throughput_turns_per_s": round(done / wall, 2) if wall > 0 else None,
        "process_cpu_ms_per_turn": round(cpu * 1e3 / done, 3) if done else None,
        **{k: v for k, v in latency_stats(latencies).items() if k != "n"},
    }


def turns_for_level(concurrency: int, min_turns: int, per_worker: int, max_turns: int) -> int:
    return min(max_turns, max(min_turns, per_worker * concurrency))


# ---------------------------------------------------------------------------------------------
# command line


def peer_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(
    peer: str,
    dist: str,
    tasks: dict[str, Callable[[dict[str, Any]], dict[str, Any]]],
    doc: str,
    extra_versions: Sequence[str] = (),
) -> None:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("task", choices=sorted([*tasks, "list"]))
    parser.add_argument("--json-args", default="{}", help="task options as a JSON object")
    ns = parser.parse_args()
    try:
        args = json.loads(ns.json_args)
        if not isinstance(args, dict):
            raise ValueError("--json-args must be a JSON object")
    except ValueError as exc:
        parser.error(str(exc))

    with stdout_to_stderr() as real_stdout:
        result: dict[str, Any] = {
            "peer": peer,
            "peer_version": peer_version(dist),
            "task": ns.task,
            "args": args,
            "versions": {
                d: peer_version(d)
                for d in (dist, "fingerpost", "onnxruntime", "numpy", *extra_versions)
            },
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        }
        rc = 0
        t0 = time.perf_counter()
        try:
            if ns.task == "list":
                result["tasks"] = sorted(tasks)
            else:
                result.update(tasks[ns.task](args))
            result["ok"] = True
            result["supported"] = "unsupported" not in result
        except Exception as exc:
            traceback.print_exc()
            result["ok"] = False
            result["error"] = f"{type(exc).__name__}: {exc}"
            rc = 1
        result["task_wall_s"] = round(time.perf_counter() - t0, 3)
        result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        real_stdout.write(json.dumps(result, default=_json_default) + "\n")
        real_stdout.flush()
    # Peers leave non-daemon threads and executors behind; do not wait for them.
    sys.stderr.flush()
    os._exit(rc)


def _json_default(o: object) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------------------------------------
# few-shot routing (benchmarks/fp_fewshot.py): routes and turn sets come in a JSON file, the
# vectors of every text in an .npz written by fingerpost's run (same model, same vectors)


class TableEncoder:
    """Vectors looked up in the caller's table; a text missing from it goes to the shared model
    (loaded on first miss, counted), so the peer sees exactly the vectors fingerpost used."""

    def __init__(self, table: dict[str, np.ndarray], args: dict[str, Any]) -> None:
        self.table = table
        self.args = args
        self.misses = 0
        self._model: Any = None
        first = next(iter(table.values()))
        self.dim = int(first.shape[0])
        self.name = "fingerpost-onnx (vectors from the caller's table)"

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.table]
        if missing:
            if self._model is None:
                self._model, _ = make_fingerpost_encoder(self.args)
            self.misses += len(missing)
            self.table.update(zip(missing, self._model(missing), strict=True))
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.stack([self.table[t] for t in texts]).astype(np.float32, copy=False)

    async def acall(self, texts: list[str]) -> np.ndarray:
        return self(texts)


def load_fewshot_input(args: dict[str, Any]) -> tuple[dict[str, Any], TableEncoder]:
    """The task spec (``args["input"]``, a JSON file) and an encoder over its vector table.

    Spec: ``{"vectors": npz with texts + vectors, "turn_sets": {key: [text]},
    "cases": [{"id", "routes": [{"name", "utterances"}], "turns": [key]}],
    "settings": [{"label", ...peer options; {} = the peer's defaults}]}``.
    """
    spec = json.loads(Path(args["input"]).read_text(encoding="utf-8"))
    z = np.load(spec["vectors"], allow_pickle=False)
    table = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
    return spec, TableEncoder(table, args)


def run_fewshot(
    spec: dict[str, Any],
    route_case: Callable[[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]], Any],
) -> dict[str, Any]:
    """``route_case(setting, routes, {key: texts})`` -> ``{key: [route name or None]}`` for each
    setting and case; answers come back as route indices (-1: no route) to keep stdout small."""
    sets: dict[str, list[str]] = spec["turn_sets"]
    results: dict[str, dict[str, dict[str, list[int]]]] = {}
    t0 = time.perf_counter()
    turns = 0
    for setting in spec["settings"]:
        per_case: dict[str, dict[str, list[int]]] = {}
        for case in spec["cases"]:
            names = [r["name"] for r in case["routes"]]
            got = route_case(setting, case["routes"], {k: sets[k] for k in case["turns"]})
            per_case[case["id"]] = {
                k: [-1 if n is None else names.index(n) for n in v] for k, v in got.items()
            }
            turns += sum(len(v) for v in got.values())
        results[setting["label"]] = per_case
        log(
            "fewshot",
            setting["label"],
            f"{len(per_case)} cases",
            f"{time.perf_counter() - t0:.1f}s",
        )
    wall = time.perf_counter() - t0
    return {
        "results": results,
        "cases": len(spec["cases"]),
        "turns_routed": turns,
        "route_wall_s": round(wall, 3),
        "ms_per_turn": round(wall * 1e3 / max(1, turns), 4),
    }
