"""The HTTP service next to the library: closed-loop clients at several concurrency levels.

Same router (CLINC150 train, the default ONNX model for every turn), same turns, same levels:

* library: ``router.acall`` from N asyncio tasks in this process;
* service: ``fingerpost.server`` under uvicorn in a child process, N keep-alive HTTP/1.1
  connections on loopback from this process, one ``POST /v1/route`` at a time each.

The load generator is a minimal asyncio HTTP/1.1 client (no httpx) so that what is measured
is the service, not the client's overhead; it still shares the machine's cores with the
server, as any client on the same box would. Every level is bounded in turns and in time.

    python benchmarks/fp_server.py [--quick]      # or: benchmarks/run.py --only server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _data
from _data import clinc, clinc_routes, median_ms, pct

from fingerpost import SemanticRouter
from fingerpost.encoders import OnnxEncoder

if os.environ.get("CLINC150"):  # a checkout outside the usual layout (e.g. a git worktree)
    _data.CLINC = Path(os.environ["CLINC150"])

LEVELS = [1, 16, 64]
TIME_CAP_S = 20.0  # per level and side


def build_router(hash_encoder: bool = False) -> SemanticRouter:
    """CLINC150 train; ``hash_encoder`` swaps the model for the (much cheaper) test encoder so
    that the service's own overhead shows."""
    from _data import cached_encoder

    data = clinc()
    if hash_encoder:
        from fingerpost.encoders.testing import HashEncoder

        return SemanticRouter(routes=clinc_routes(data["train"]), encoder=HashEncoder(dim=384))
    model = OnnxEncoder()
    router = SemanticRouter(routes=clinc_routes(data["train"]), encoder=cached_encoder(model, data))
    router.encoder = model  # every turn pays for its encoding, as in production
    return router


def turns() -> list[str]:
    return [t for t, _ in clinc()["test"]]


# ---- library -------------------------------------------------------------------------------
async def _library_level(
    router: SemanticRouter, texts: list[str], conc: int, n: int
) -> dict[str, float]:
    lat: list[float] = []
    it = iter(range(n))
    stop = time.perf_counter() + TIME_CAP_S

    async def worker() -> None:
        for i in it:
            if time.perf_counter() > stop:
                return
            s = time.perf_counter()
            await router.acall(texts[i % len(texts)])
            lat.append(time.perf_counter() - s)

    await router.acall(texts[0])
    s = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - s
    return _stats(conc, lat, wall)


# ---- service -------------------------------------------------------------------------------
class _Conn:
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)


async def _service_level(port: int, texts: list[str], conc: int, n: int) -> dict[str, float]:
    conns = [_Conn(*await asyncio.open_connection("127.0.0.1", port)) for _ in range(conc)]
    bodies = [json.dumps({"text": t}).encode() for t in texts]
    lat: list[float] = []
    errors = 0
    it = iter(range(n))
    stop = time.perf_counter() + TIME_CAP_S

    async def worker(conn: _Conn) -> None:
        nonlocal errors
        for i in it:
            if time.perf_counter() > stop:
                return
            s = time.perf_counter()
            status, _ = await conn.post("/v1/route", bodies[i % len(bodies)])
            lat.append(time.perf_counter() - s)
            errors += status != 200

    await conns[0].post("/v1/route", bodies[0])
    s = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - s
    for c in conns:
        c.writer.close()
    out = _stats(conc, lat, wall)
    out["errors"] = errors
    return out


class _Served:
    """The service in a child process, for the length of a ``with``."""

    def __init__(self, hash_encoder: bool) -> None:
        argv = [sys.executable, __file__, "--serve", *(["--hash"] if hash_encoder else [])]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

    def __enter__(self) -> int:
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline())  # bound and listening before uvicorn starts

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve(hash_encoder: bool) -> None:
    """Child process: the app over the benchmark router, on a pre-bound loopback socket."""
    import uvicorn

    from fingerpost.server import create_app

    router = build_router(hash_encoder)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        create_app(router), log_level="warning", access_log=False, ws="none", lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])
    router.close()


# ---- both ----------------------------------------------------------------------------------
def _stats(conc: int, lat: list[float], wall: float) -> dict[str, float]:
    return {
        "concurrency": conc,
        "turns": len(lat),
        "turns_per_s": len(lat) / wall,
        "p50_ms": median_ms(lat),
        "p99_ms": pct(lat, 99) * 1000,
    }


def compare(quick: bool = False, hash_encoder: bool = False, rounds: int = 2) -> dict[str, Any]:
    """Library and service, level by level, alternating ``rounds`` times; the best of each.

    Alternating (rather than all library levels, then all service levels) keeps a change in
    the machine's load from reading as a difference between the two.
    """
    n_for = {c: (256 if quick else 1024) if c > 1 else (100 if quick else 300) for c in LEVELS}
    if hash_encoder:
        n_for = {c: 4 * n for c, n in n_for.items()}
    router = build_router(hash_encoder)
    texts = turns()

    async def run(port: int) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        lib, svc = [], []
        async with router:
            for c in LEVELS:
                tries = [
                    (
                        await _library_level(router, texts, c, n_for[c]),
                        await _service_level(port, texts, c, n_for[c]),
                    )
                    for _ in range(rounds)
                ]
                lib.append(max((t[0] for t in tries), key=lambda r: r["turns_per_s"]))
                svc.append(max((t[1] for t in tries), key=lambda r: r["turns_per_s"]))
        return lib, svc

    try:
        with _Served(hash_encoder) as port:
            lib, svc = asyncio.run(run(port))
    finally:
        router.close()
    return {
        "levels": LEVELS,
        "library": lib,
        "service": svc,
        "encoder": "hash" if hash_encoder else "onnx",
        "rounds": rounds,
        "ratio_at_64": svc[-1]["turns_per_s"] / lib[-1]["turns_per_s"],
    }


def report(result: dict[str, Any]) -> str:
    from _data import table

    rows = []
    for lib, svc in zip(result["library"], result["service"], strict=True):
        rows.append(
            [
                lib["concurrency"],
                lib["turns_per_s"],
                lib["p50_ms"],
                lib["p99_ms"],
                svc["turns_per_s"],
                svc["p50_ms"],
                svc["p99_ms"],
                f"{100 * svc['turns_per_s'] / lib['turns_per_s']:.0f} %",
                int(svc.get("errors", 0)),
            ]
        )
    model = (
        "default ONNX model"
        if result["encoder"] == "onnx"
        else "hash test encoder (service overhead)"
    )
    text = table(
        f"HTTP service vs library, CLINC150 train loaded, {model}, closed-loop clients on loopback "
        f"(best of {result['rounds']} alternating rounds)",
        [
            "clients",
            "library turns/s",
            "lib p50 ms",
            "lib p99 ms",
            "service turns/s",
            "svc p50 ms",
            "svc p99 ms",
            "service / library",
            "HTTP errors",
        ],
        rows,
    )
    goal = "met" if result["ratio_at_64"] >= 0.8 else "NOT met"
    return (
        text
        + f"\nService keeps {100 * result['ratio_at_64']:.0f} % of the library's throughput at 64 clients (goal >= 80 %: {goal}).\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--hash", action="store_true", help="the test encoder: measures the service's own overhead"
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.hash)
        return
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}\n")
    print(report(compare(args.quick, args.hash)))


if __name__ == "__main__":
    main()
