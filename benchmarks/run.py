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

from _data import HERE, cached_encoder, clinc, table  # noqa: E402

PEERS = {
    "semantic-router 0.1.16": (HERE / ".venv-semantic-router" / "bin" / "python", HERE / "peers" / "sr_bench.py"),
    "synaptoroute": (HERE / ".venv-synaptoroute" / "bin" / "python", HERE / "peers" / "synapto_bench.py"),
}


def peer(name: str, task: str, args: dict[str, Any], timeout: int = 900) -> dict[str, Any]:
    py, script = PEERS[name]
    if not py.exists():
        return {"error": f"no venv ({py}); run `make bench-peers`"}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    try:
        out = subprocess.run([str(py), str(script), task, "--json-args", json.dumps(args)],
                             capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    except (json.JSONDecodeError, IndexError):
        return {"error": (out.stderr or out.stdout)[-300:]}


def core(quick: bool, with_peers: bool) -> str:
    import fp_core
    from fingerpost.encoders import OnnxEncoder

    data = clinc()
    model = OnnxEncoder()
    cached = cached_encoder(model, data)
    n = 100 if quick else 500
    cps = [1, 100, 1000] if quick else [1, 100, 1000, 5000]
    lat = fp_core.turn_latency(model, cached, data, n)
    add = fp_core.add_cost(cached, data, cps)
    hot = fp_core.hot_reload(model, cached, data, n_routes=100 if quick else 500, n=100 if quick else 200)
    boot = fp_core.cold_boot(cached, data, n_utts=10_000 if quick else 50_000)
    out = []
    rows = [["fingerpost", lat["utterances"], lat["encoder_p50_ms"], lat["router_p50_ms"],
             lat["router_p99_ms"], f"{lat['overhead_pct']:+.1f} %"]]
    peer_res: dict[str, dict[str, Any]] = {}
    if with_peers:
        for name in PEERS:
            r = peer(name, "route_latency", {"n": n})
            peer_res[name] = r
            rows.append([name, r.get("utterances", r.get("error", "?")), r.get("encoder_p50_ms"),
                         r.get("p50_ms", r.get("router_p50_ms")), r.get("p99_ms", r.get("router_p99_ms")), "-"])
    out.append(table(f"Single-turn latency, CLINC150 train loaded ({n} test turns, sequential)",
                     ["router", "utterances", "encoder p50 ms", "router p50 ms", "router p99 ms",
                      "overhead vs encoder"], rows))
    rows = [["fingerpost (insert only)", *[add["per_add_ms"][k] for k in cps], f"{add['flat_ratio']:.2f}x"]]
    if with_peers:
        for name in PEERS:
            r = peer(name, "add_cost", {"checkpoints": cps, "time_cap_s": 240})
            pa = r.get("per_add_ms", {})
            rows.append([name, *[pa.get(str(k), pa.get(k)) for k in cps], r.get("error", "")])
    out.append(table("Per-add cost (ms) at the k-th route, 5 utterances each",
                     ["router", *[f"#{k}" for k in cps], "last/first"], rows))
    out.append(table("Hot reload: single-turn p50 before/after adding routes one by one",
                     ["router", "routes added", "p50 before ms", "p50 after ms", "change"],
                     [["fingerpost", 100 if quick else 500, hot["p50_before_ms"], hot["p50_after_ms"],
                       f"{hot['delta_pct']:+.1f} %"]]))
    out.append(table(f"Cold boot of a {boot['utterances']:,}-utterance SQLite store (no re-encoding)",
                     ["router", "boot s", "np.load s", "boot / np.load", "raw MB", "router MB", "router / raw"],
                     [["fingerpost", boot["boot_s"], boot["np_load_s"], f"{boot['ratio']:.2f}x",
                       boot["raw_mb"], boot["router_mb"], f"{boot['memory_ratio']:.2f}x"]]))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=["core", "quality", "concurrency", "sync", "integrations"], action="append")
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    sections = args.only or ["core"]
    print(f"# fingerpost benchmarks — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}\n")
    for s in sections:
        if s == "core":
            print(core(args.quick, not args.no_peers), flush=True)


if __name__ == "__main__":
    main()
