"""Sync with remotes: initial upload of CLINC150 train, already-synced check, incremental sync,
and per-turn cost with and without the mirror (issue: sync strategies)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _data import CachedEncoder, clinc_routes, median_ms

from fingerpost import SemanticRouter
from fingerpost.encoders import OnnxEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@contextmanager
def remote(kind: str) -> Iterator[Any]:
    from fingerpost.index import PineconeIndex, QdrantIndex

    if kind == "qdrant-embedded":
        idx = QdrantIndex(index_name="bench", location=":memory:")
        yield lambda: idx
        idx.close()
    else:
        from tests.servers.pinecone_server import PineconeTestServer

        with PineconeTestServer(api_key="k") as srv:
            made: list[Any] = []
            yield lambda: made.append(PineconeIndex(index_name="bench", api_key="k", host=srv.url)) or made[-1]
            for m in made:
                m.close()


def sync_costs(model: OnnxEncoder, table: dict, data: dict, kind: str, per_intent: int | None = None) -> dict[str, Any]:
    routes = clinc_routes(data["train"], per_intent)
    out: dict[str, Any] = {"remote": kind, "utterances": sum(len(r.utterances) for r in routes)}
    with remote(kind) as make:
        enc = CachedEncoder(model, dict(table))
        t = time.perf_counter()
        r = SemanticRouter(routes=routes, encoder=enc, index=make(), auto_sync="local")
        out["initial_sync_s"] = time.perf_counter() - t
        out["initial_encoded"] = enc.encoded  # 0: vectors cached; upload only
        t = time.perf_counter()
        for _ in range(5):
            assert r.is_synced()
        out["is_synced_ms"] = (time.perf_counter() - t) / 5 * 1000
        # a new process starts with 10 changed utterances and syncs them ("local")
        changed = [r.model_copy(update={"utterances": [*r.utterances[1:], f"{r.utterances[0]} (v2)"]})
                   if i < 10 else r for i, r in enumerate(routes)]
        enc2 = CachedEncoder(model, {})  # empty cache: every embedding is counted
        t = time.perf_counter()
        r2 = SemanticRouter(routes=changed, encoder=enc2, index=make(), auto_sync="local")
        out["incremental_sync_s"] = time.perf_counter() - t
        out["incremental_encoded"] = enc2.encoded
        assert r2.is_synced()
    return out


def mirror_vs_remote(model: OnnxEncoder, table: dict, data: dict, n: int = 100) -> dict[str, Any]:
    from fingerpost.index import QdrantIndex

    idx = QdrantIndex(index_name="bench", location=":memory:")
    routes = clinc_routes(data["train"])
    mirrored = SemanticRouter(routes=routes, encoder=CachedEncoder(model, dict(table)), index=idx, auto_sync="local")
    remote_only = SemanticRouter(encoder=CachedEncoder(model, dict(table)), index=idx, mirror=False)
    turns = [t for t, _ in data["test"][:n]]
    vecs = {t: table[t] for t in turns}
    res = {}
    for name, r in (("mirror", mirrored), ("mirror=False (embedded Qdrant)", remote_only)):
        lat = []
        for t in turns:
            s = time.perf_counter()
            r(vector=vecs[t])
            lat.append(time.perf_counter() - s)
        res[name] = median_ms(lat)
    idx.close()
    return res


