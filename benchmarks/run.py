"""One run, one table: fingerpost measured side by side with its peers on this machine.

    make bench                                  # everything (several minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --only core --quick

Peers run in their own virtualenvs (``make bench-peers`` creates them) through
benchmarks/peers/*_bench.py and report JSON; a missing peer venv is reported, not faked.
Everything uses the same ONNX model (all-MiniLM-L6-v2 int8 from PyPI).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import HERE, cached_encoder, clinc, table

PEERS = {
    "semantic-router 0.1.16": (
        HERE / ".venv-semantic-router" / "bin" / "python",
        HERE / "peers" / "sr_bench.py",
    ),
    "synaptoroute": (
        HERE / ".venv-synaptoroute" / "bin" / "python",
        HERE / "peers" / "synapto_bench.py",
    ),
}


def peer(name: str, task: str, args: dict[str, Any], timeout: int = 900) -> dict[str, Any]:
    py, script = PEERS[name]
    if not py.exists():
        return {"error": f"no venv ({py}); run `make bench-peers`"}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    try:
        out = subprocess.run(
            [str(py), str(script), task, "--json-args", json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    except (json.JSONDecodeError, IndexError):
        return {"error": (out.stderr or out.stdout)[-300:]}


def _g(d: Any, *path: Any) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _dash(v: Any) -> Any:
    """A value a peer did not report prints as ``-``."""
    return "-" if v is None else v


def _ratio(a: Any, b: Any) -> str:
    return (
        f"{a / b:.2f}x"
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
        else "-"
    )


def _setup() -> tuple[Any, Any, Any]:
    from fingerpost.encoders import OnnxEncoder

    data = clinc()
    model = OnnxEncoder()
    return data, model, cached_encoder(model, data)


def core(quick: bool, with_peers: bool) -> str:
    import fp_core

    data, model, cached = _setup()
    n = 100 if quick else 500
    cps = [1, 100, 1000] if quick else [1, 100, 1000, 5000]
    hot_routes = 100 if quick else 500
    lat = fp_core.turn_latency(model, cached, data, n)
    add = fp_core.add_cost(cached, data, cps)
    add_fixed = fp_core.add_cost(cached, data, cps, calibrated=False)
    hot = fp_core.hot_reload(model, cached, data, n_routes=hot_routes, n=100 if quick else 200)
    boot = fp_core.cold_boot(cached, data, n_utts=10_000 if quick else 50_000)
    peers = (
        {name: {} for name in PEERS}
        if not with_peers
        else {
            name: {
                "route_latency": peer(name, "route_latency", {"n": n}),
                "add_cost": peer(
                    name,
                    "add_cost",
                    {
                        "checkpoints": cps,
                        "time_cap_s": 300,
                        "hot_routes": hot_routes,
                        "hot_n": 100 if quick else 200,
                    },
                ),
            }
            for name in PEERS
        }
    )
    out = []
    rows = [
        [
            "fingerpost",
            lat["utterances"],
            lat["encoder_p50_ms"],
            lat["router_p50_ms"],
            lat["router_p99_ms"],
            f"{lat['overhead_pct']:+.1f} %",
        ]
    ]
    for name, r in peers.items():
        rl = r.get("route_latency", {})
        p50 = _g(rl, "latency", "p50_ms")
        inside = (
            None
            if p50 is None or _g(rl, "latency_outside_model", "p50_ms") is None
            else p50 - _g(rl, "latency_outside_model", "p50_ms")
        )
        rows.append(
            [
                name,
                _g(rl, "build", "utterances") or rl.get("error", "-"),
                inside,
                p50,
                _g(rl, "latency", "p99_ms"),
                f"{100 * (p50 - inside) / inside:+.1f} %" if p50 and inside else "-",
            ]
        )
    out.append(
        table(
            f"Single-turn latency, CLINC150 train loaded ({n} test turns, sequential)",
            [
                "router",
                "utterances",
                "encoder p50 ms",
                "router p50 ms",
                "router p99 ms",
                "overhead vs encoder",
            ],
            rows,
        )
    )
    rows = [
        [
            "fingerpost (calibrated: fits the route's gate)",
            *[add["per_add_ms"][k] for k in cps],
            f"{add['flat_ratio']:.2f}x",
        ],
        [
            "fingerpost, fixed threshold",
            *[add_fixed["per_add_ms"][k] for k in cps],
            f"{add_fixed['flat_ratio']:.2f}x",
        ],
    ]
    for name, r in peers.items():
        pa = _g(r, "add_cost", "phase1_add_from_empty", "per_add") or {}
        vals = [
            _g(pa, str(k), "window_median_outside_model_ms")
            or _g(pa, str(k), "window_median_returned_outside_model_ms")
            for k in cps
        ]
        rows.append(
            [
                name,
                *vals,
                _ratio(vals[-1], vals[0])
                if vals and vals[0]
                else _g(r, "add_cost", "error") or "-",
            ]
        )
    out.append(
        table(
            "Per-add cost (ms, the router's own work: encoding excluded) at the k-th route, 5 utterances each",
            ["router", *[f"#{k}" for k in cps], "last/first"],
            rows,
        )
    )
    rows = [
        [
            "fingerpost",
            hot_routes,
            hot["p50_before_ms"],
            hot["p50_after_ms"],
            f"{hot['delta_pct']:+.1f} %",
        ]
    ]
    for name, r in peers.items():
        ph = _g(r, "add_cost", "phase2_hot_reload") or {}
        b, a = _g(ph, "route_before", "p50_ms"), _g(ph, "route_after", "p50_ms")
        rows.append(
            [name, ph.get("routes_added"), b, a, f"{100 * (a - b) / b:+.1f} %" if a and b else "-"]
        )
    out.append(
        table(
            "Hot reload: single-turn p50 before/after adding routes one by one",
            ["router", "routes added", "p50 before ms", "p50 after ms", "change"],
            rows,
        )
    )
    rows = [
        [
            "fingerpost",
            boot["utterances"],
            boot["boot_s"],
            boot["np_load_s"],
            f"{boot['ratio']:.1f}x",
            f"{boot['memory_ratio']:.2f}x",
            f"{boot['rss_ratio']:.2f}x",
        ]
    ]
    rows.append(
        [
            "fingerpost, fixed threshold (no calibration)",
            boot["utterances"],
            boot["boot_fixed_threshold_s"],
            boot["np_load_s"],
            f"{boot['ratio_fixed_threshold']:.1f}x",
            "-",
            "-",
        ]
    )
    if with_peers:
        cb = peer("synaptoroute", "cold_boot", {"vectors": 10_000 if quick else 50_000})
        rows.append(
            [
                "synaptoroute",
                cb.get("vectors", cb.get("error")),
                cb.get("boot_median_s"),
                cb.get("np_load_median_s"),
                _ratio(cb.get("boot_median_s"), cb.get("np_load_median_s")),
                "-",
                "-",
            ]
        )
    out.append(
        table(
            "Cold boot from a SQLite store (no re-encoding) vs np.load of the raw float32 array",
            [
                "router",
                "utterances",
                "boot s",
                "np.load s",
                "boot / np.load",
                "memory / raw vectors (tracemalloc)",
                "memory / raw vectors (resident growth)",
            ],
            rows,
        )
    )
    return "\n".join(out)


def quality(quick: bool, with_peers: bool) -> str:
    import fp_quality

    text = fp_quality.main()
    if with_peers:
        r = peer(
            "semantic-router 0.1.16", "accuracy", {"limit_eval": 500} if quick else {}, timeout=1800
        )
        rows = []
        for stage in ("before_fit", "after_fit"):
            st = r.get(stage) or {}
            rows.append(
                [
                    f"semantic-router 0.1.16 ({stage.replace('_', ' ')})",
                    st.get("in_scope_accuracy"),
                    st.get("oos_recall"),
                    st.get("oos_precision"),
                    _g(r, "fit", "fit_s") if stage == "after_fit" else "-",
                ]
            )
        if "error" in r:
            rows = [["semantic-router 0.1.16", r["error"], "-", "-", "-"]]
        text += "\n" + table(
            "semantic-router 0.1.16 on the same split (top_k=5, mean, threshold 0.5; then its fit)",
            ["router", "in-scope acc", "OOS recall", "OOS precision", "fit s"],
            rows,
        )
    return text


def fewshot(quick: bool, with_peers: bool) -> str:
    import fp_fewshot

    return fp_fewshot.main(
        (lambda name, task, args: peer(name, task, args, timeout=1800)) if with_peers else None,
        list(PEERS),
    )


def concurrency(quick: bool, with_peers: bool) -> str:
    import fp_concurrency

    data, model, cached = _setup()
    levels = [1, 16, 64] if quick else [1, 16, 64, 256]
    ceiling = fp_concurrency.encoder_ceiling(model, [t for t, _ in data["test"]])
    ours = fp_concurrency.concurrency(model, cached, data, levels, max_turns=512 if quick else 2048)
    peer_levels = {}
    if with_peers:
        for name in PEERS:
            r = peer(
                name,
                "concurrency",
                {"levels": levels, "max_turns": 512 if quick else 2048},
                timeout=1800,
            )
            peer_levels[name] = (
                {lv.get("concurrency"): lv for lv in r.get("levels", [])} if "levels" in r else r
            )
    rows = []
    for lv in ours["levels"]:
        row = [lv["concurrency"], lv["turns_per_s"], lv["p50_ms"], lv["p99_ms"]]
        for name in peer_levels:
            pl = (
                peer_levels[name].get(lv["concurrency"], {})
                if isinstance(peer_levels[name], dict)
                else {}
            )
            row += [pl.get("throughput_turns_per_s"), pl.get("p99_ms")]
        row.append(
            _ratio(
                lv["turns_per_s"],
                (peer_levels.get("semantic-router 0.1.16", {}).get(lv["concurrency"]) or {}).get(
                    "throughput_turns_per_s"
                ),
            )
        )
        rows.append(row)
    header = ["concurrency", "fingerpost turns/s", "p50 ms", "p99 ms"]
    for name in peer_levels:
        header += [f"{name} turns/s", f"{name} p99 ms"]
    header.append("fingerpost / semantic-router")
    text = table(
        "Async throughput, CLINC150 train loaded (closed-loop callers, same ONNX model)",
        header,
        rows,
    )
    text += "\n" + table(
        "Encoder ceiling (one call)",
        ["batch", "seconds", "turns/s", "single-turn p50 ms"],
        [[ceiling["batch"], ceiling["batch_s"], ceiling["turns_per_s"], ceiling["single_p50_ms"]]],
    )
    lv = {x["concurrency"]: x for x in ours["levels"]}
    top = max(lv)
    text += (
        f"\np99 at {top} concurrent / p50 at {top}: {lv[top]['p99_ms'] / lv[top]['p50_ms']:.2f}x; "
        f"p99 at {top} / single-turn p50: {lv[top]['p99_ms'] / lv[1]['p50_ms']:.1f}x\n"
    )
    return text


def sync(quick: bool, with_peers: bool) -> str:
    import fp_sync

    data, model, cached = _setup()
    per = 20 if quick else None
    rows = []
    kinds = ("qdrant-embedded", "pinecone-test-server")
    for kind in kinds:
        r = fp_sync.sync_costs(model, cached.table, data, kind, per_intent=per)
        rows.append(
            [
                f"fingerpost / {kind}",
                r["utterances"],
                r["initial_sync_s"],
                r["is_synced_ms"],
                r["is_synced_requests"],
                r["incremental_sync_s"],
                r["incremental_requests"],
                r["incremental_encoded"],
            ]
        )
    if with_peers:
        r = peer(
            "semantic-router 0.1.16", "sync", {"per_intent": 20} if quick else {}, timeout=1800
        )
        rows.append(
            [
                "semantic-router 0.1.16 / qdrant-embedded",
                _g(r, "full_sync", "utterances") or r.get("error"),
                _g(r, "full_sync", "sync_s"),
                _g(r, "is_synced", "p50_ms"),
                _dash(_g(r, "is_synced", "client_calls")),
                _g(r, "restart_sync", "construct_with_auto_sync_s"),
                _dash(_g(r, "restart_sync", "client_calls")),
                _g(r, "restart_sync", "encoder_texts"),
            ]
        )
    text = table(
        "Sync CLINC150 train to an empty remote; already-synced check; restart with 10 changed utterances "
        "(requests: client calls on embedded Qdrant, HTTP requests on the Pinecone test server)",
        [
            "router / remote",
            "utterances",
            "initial sync s (vectors cached)",
            "is_synced ms",
            "is_synced requests",
            "restart sync s",
            "restart requests",
            "texts embedded",
        ],
        rows,
    )
    mv = fp_sync.mirror_vs_remote(model, cached.table, data, n=30 if quick else 100)
    text += "\n" + table(
        "Per-turn routing cost, CLINC150 train (precomputed query vector)",
        ["mode", "p50 ms", "remote requests per turn"],
        [[k, *v] for k, v in mv.items()],
    )
    return text


def integrations(quick: bool, with_peers: bool) -> str:
    out = []
    for path in (
        "integrations/langchain/bench_overhead.py",
        "integrations/llama-index/bench_overhead.py",
    ):
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            Path(path).parent.name + "_bench", HERE.parent / path
        )
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out.append(f"#### {Path(path).parent.name}\n\n" + mod.main())
    return "\n".join(out)


def server(quick: bool, with_peers: bool) -> str:
    import fp_server

    return fp_server.report(fp_server.compare(quick))


SECTIONS = {
    "core": core,
    "quality": quality,
    "fewshot": fewshot,
    "concurrency": concurrency,
    "sync": sync,
    "integrations": integrations,
    "server": server,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=list(SECTIONS), action="append")
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    sections = args.only or list(SECTIONS)
    print(
        f"# fingerpost benchmarks — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at start {os.getloadavg()[0]:.2f}\n"
    )
    print("Command: `" + " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]) + "`\n")
    for s in sections:
        print(f"## {s}\n", flush=True)
        print(SECTIONS[s](args.quick, not args.no_peers), flush=True)


if __name__ == "__main__":
    main()
