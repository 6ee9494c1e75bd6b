"""Sync with remotes: initial upload of CLINC150 train, already-synced check, incremental sync,
and per-turn cost with and without the mirror (issue: sync strategies), with remote request
counts next to the times: client calls on embedded Qdrant (each is one request to a server),
HTTP requests answered by the loopback servers otherwise."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _data import CachedEncoder, clinc_routes, median_ms

from fingerpost import SemanticRouter, _calibrator
from fingerpost.encoders import OnnxEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _Remote:
    """Makes indexes on one remote and counts the requests they send."""

    def __init__(
        self, make: Callable[[], Any], requests: Callable[[], int], reset: Callable[[], object]
    ) -> None:
        self.make, self.requests, self.reset = make, requests, reset


@contextmanager
def remote(kind: str, latency: float = 0.0) -> Iterator[_Remote]:
    from fingerpost.index import QdrantIndex

    if kind == "qdrant-embedded":
        idx = QdrantIndex(index_name="bench", location=":memory:")
        calls: Counter[str] = Counter()
        inner = idx._call

        def counted(what: str, fn: Callable[[], Any]) -> Any:
            calls[what] += 1  # one client call = one request against a Qdrant server
            return inner(what, fn)

        idx._call = counted  # type: ignore[method-assign]
        yield _Remote(lambda: idx, lambda: sum(calls.values()), calls.clear)
        idx.close()
        return
    if kind == "pinecone-test-server":
        # In a child process, as a real server would be: in this one its JSON encoding would
        # hold the GIL the client needs (a restart read 16,000 vectors: 4.4 s in-process).
        from tests.servers._http import ServerProcess

        args = ["--api-key", "k", "--latency", str(latency)]
        with (
            ServerProcess("tests.servers.pinecone_server", args) as proc,
            _indexes("pinecone", proc.url) as make,
        ):
            yield _Remote(make, lambda: int(proc.stats()["requests_total"]), proc.reset_counters)
        return
    if kind == "qdrant-rest":
        from tests.servers.qdrant_rest import QdrantTestServer as Server

        server: Any = Server(latency=latency)
    else:
        from tests.servers.pinecone_server import PineconeTestServer

        server = PineconeTestServer(api_key="k", latency=latency)
    with server as srv, _indexes(kind, srv.url) as make:
        yield _Remote(make, lambda: srv.faults.requests_total, srv.faults.reset_counters)


@contextmanager
def _indexes(kind: str, url: str) -> Iterator[Callable[[], Any]]:
    """Makes indexes on the server at ``url`` and closes them all at the end."""
    from fingerpost.index import PineconeIndex, QdrantIndex

    made: list[Any] = []

    def make() -> Any:
        made.append(
            # The loopback servers search in Python (the Qdrant one through an embedded
            # Qdrant, the Pinecone one by brute force, one query at a time): a batch of 32
            # queries over 15,000 points can take them longer than the default 10 s.
            QdrantIndex(index_name="bench", url=url, timeout=120)
            if kind == "qdrant-rest"
            else PineconeIndex(index_name="bench", api_key="k", host=url, timeout=120)
        )
        return made[-1]

    try:
        yield make
    finally:
        for m in made:
            m.close()


@contextmanager
def own_cache_dir() -> Iterator[None]:
    before = os.environ.get("FINGERPOST_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FINGERPOST_CACHE_DIR"] = cache
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("FINGERPOST_CACHE_DIR", None)
            else:
                os.environ["FINGERPOST_CACHE_DIR"] = before


def sync_costs(
    model: OnnxEncoder, table: dict, data: dict, kind: str, per_intent: int | None = None
) -> dict[str, Any]:
    routes = clinc_routes(data["train"], per_intent)
    out: dict[str, Any] = {"remote": kind, "utterances": sum(len(r.utterances) for r in routes)}
    # A cache directory of this run's own: the restart finds what the first agent on this
    # machine kept there (gates, its routes' vectors), nothing from earlier runs (the changed
    # utterances are new to it).
    with own_cache_dir(), remote(kind) as rem:
        enc = CachedEncoder(model, dict(table))
        # The first agent is a fresh process too: it fits its gates (none from an earlier
        # kind's run in this process) and so leaves them in the cache directory.
        _calibrator._memo.clear()
        t = time.perf_counter()
        r = SemanticRouter(routes=routes, encoder=enc, index=rem.make(), auto_sync="local")
        out["initial_sync_s"] = time.perf_counter() - t
        out["initial_encoded"] = enc.encoded  # 0: vectors cached; upload only
        assert r.is_synced()
        rem.reset()
        t = time.perf_counter()
        for _ in range(5):
            assert r.is_synced()
        out["is_synced_ms"] = (time.perf_counter() - t) / 5 * 1000
        out["is_synced_requests"] = rem.requests() / 5
        # a new process starts with 10 changed utterances and syncs them ("local")
        changed = [
            r.model_copy(update={"utterances": [*r.utterances[1:], f"{r.utterances[0]} (v2)"]})
            if i < 10
            else r
            for i, r in enumerate(routes)
        ]
        enc2 = CachedEncoder(model, {})  # empty cache: every embedding is counted
        # A new process on the same machine: no gate in memory (those of unchanged routes are
        # in the cache directory's gates.sqlite, as after any earlier run); the model loaded
        # before the clock starts, as semantic-router's is (its load is reported apart).
        _calibrator._memo.clear()
        model.encode(["warm up"])
        rem.reset()
        t = time.perf_counter()
        r2 = SemanticRouter(routes=changed, encoder=enc2, index=rem.make(), auto_sync="local")
        out["incremental_sync_s"] = time.perf_counter() - t
        out["incremental_requests"] = rem.requests()
        out["incremental_encoded"] = enc2.encoded
        assert r2.is_synced()
    return out


def mirror_vs_remote(
    model: OnnxEncoder, table: dict, data: dict, n: int = 100, latency: float = 0.001
) -> dict[str, tuple[float, float]]:
    """Per-turn p50 ms and remote requests per turn: the mirror, mirror=False on embedded
    Qdrant, and mirror=False against the Qdrant-REST and Pinecone loopback servers with
    ``latency`` seconds of simulated latency per request, turn by turn and in batches
    (``router.batch``: Qdrant answers a batch's queries in one request, Pinecone on a
    bounded pool of threads)."""
    routes = clinc_routes(data["train"])
    turns = [t for t, _ in data["test"][:n]]
    vecs = {t: table[t] for t in turns}
    res: dict[str, tuple[float, float]] = {}

    def measure(name: str, r: SemanticRouter, rem: _Remote | None) -> None:
        lat = []
        if rem is not None:
            rem.reset()
        for t in turns:
            s = time.perf_counter()
            r(vector=vecs[t])
            lat.append(time.perf_counter() - s)
        res[name] = (median_ms(lat), 0.0 if rem is None else rem.requests() / len(turns))

    def measure_batch(name: str, r: SemanticRouter, rem: _Remote, size: int = 32) -> None:
        """``router.batch`` of ``size`` turns: mean ms and remote requests per turn."""
        rem.reset()
        s = time.perf_counter()
        for i in range(0, len(turns), size):
            r.batch(turns[i : i + size])
        ms = (time.perf_counter() - s) / len(turns) * 1000
        res[f"{name}, batch of {size} (mean per turn)"] = (ms, rem.requests() / len(turns))

    with remote("qdrant-embedded") as rem:
        mirrored = SemanticRouter(
            routes=routes,
            encoder=CachedEncoder(model, dict(table)),
            index=rem.make(),
            auto_sync="local",
        )
        measure("mirror", mirrored, None)
        measure(
            "mirror=False, embedded Qdrant",
            SemanticRouter(
                encoder=CachedEncoder(model, dict(table)), index=rem.make(), mirror=False
            ),
            rem,
        )
    for kind in ("qdrant-rest", "pinecone"):
        with remote(kind, latency) as rem:
            SemanticRouter(
                routes=routes,
                encoder=CachedEncoder(model, dict(table)),
                index=rem.make(),
                auto_sync="local",
            )
            r = SemanticRouter(
                encoder=CachedEncoder(model, dict(table)), index=rem.make(), mirror=False
            )
            name = f"mirror=False, {kind} loopback (+{latency * 1000:g} ms per request)"
            measure(name, r, rem)
            measure_batch(name, r, rem)
    return res
