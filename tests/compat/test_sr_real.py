"""Indexes that the REAL semantic-router 0.1.16 wrote open in fingerpost: refused as foreign by
default, read with ``layout="semantic-router"``, and copied by ``fingerpost.migrate`` without
re-embedding.

semantic-router runs in its own virtualenv (``bash benchmarks/setup_peers.sh sr``, which
``make test``'s install step runs), in a subprocess (``sr_write.py``): it writes an embedded
Qdrant ``path=`` directory (and closes it) and an index on the loopback Pinecone server that
this process serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fingerpost import ForeignLayoutError, SemanticRouter, migrate
from fingerpost.encoders.testing import HashEncoder

qdrant_client = pytest.importorskip("qdrant_client")
pinecone = pytest.importorskip("pinecone")

from fingerpost.index.pinecone import PineconeIndex  # noqa: E402
from fingerpost.index.qdrant import QdrantIndex  # noqa: E402
from tests.servers.pinecone_server import PineconeTestServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SR_PYTHON = ROOT / "benchmarks" / ".venv-semantic-router" / "bin" / "python"
DIM = 16
ENCODER = HashEncoder(dim=DIM)
TURNS = [
    "what time is it in rome",
    "time in tokyo please",
    "how are you doing",
    "lovely day",
    "clock",
    "quantum chromodynamics",
    "hello",
    "tell me the weather in paris",
]


@dataclass
class Written:
    qdrant_path: Path
    server: PineconeTestServer
    report: dict[str, Any]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Written]:
    if not SR_PYTHON.exists():
        pytest.skip(
            f"semantic-router 0.1.16 venv absent ({SR_PYTHON}); create it with "
            "`bash benchmarks/setup_peers.sh sr` (make test's install step does)"
        )
    base = tmp_path_factory.mktemp("sr")
    with PineconeTestServer(api_key="k") as srv:
        args = {"qdrant_path": str(base / "qdrant"), "pinecone_url": srv.url, "turns": TURNS}
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": str(ROOT / "src"),
        }
        proc = subprocess.run(
            [str(SR_PYTHON), str(Path(__file__).with_name("sr_write.py")), json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["qdrant_count"] == report["pinecone_count"] == 6
        yield Written(base / "qdrant", srv, report)


def _expected(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["name"], u): r for r in report["routes"] for u in r["utterances"]}


def test_real_semantic_router_qdrant_collection(written: Written) -> None:
    client = qdrant_client.QdrantClient(path=str(written.qdrant_path))
    try:
        with (
            QdrantIndex("sr-routes", client=client) as idx,
            pytest.raises(ForeignLayoutError) as info,
        ):
            idx.bind(ENCODER.name, DIM)
        assert info.value.layout == "semantic-router"
        expected = _expected(written.report)
        with QdrantIndex("sr-routes", client=client, layout="semantic-router") as src:
            src.bind(ENCODER.name, DIM)
            points = src.fetch()
            assert {p.utterance.key for p in points} == set(expected)
            for p in points:
                assert p.utterance.metadata == expected[p.utterance.key].get("metadata", {})
                assert np.allclose(p.vector, ENCODER([p.utterance.utterance])[0], atol=1e-5)
            with QdrantIndex("fp-routes", client=client) as dst:
                report = migrate(src, dst, ENCODER)
                assert (report.routes, report.utterances) == (2, 6)
                assert (report.copied_vectors, report.encoded) == (6, 0) and report.encoder_matches
                assert report.target_count == 6
                router = SemanticRouter(encoder=ENCODER, index=dst, score_threshold=0.0)
                assert router("what time is it in tokyo").name == "get_time"
                got = {r.name: r for r in router.routes}
                assert got["get_time"].metadata == {"team": "tools", "tier": 2}
                assert router.is_synced()
                router.close()
    finally:
        client.close()


def test_real_semantic_router_pinecone_index(written: Written) -> None:
    url, expected = written.server.url, _expected(written.report)
    with (
        PineconeIndex("sr-routes", api_key="k", host=url) as idx,
        pytest.raises(ForeignLayoutError),
    ):
        idx.bind(ENCODER.name, DIM)
    with (
        PineconeIndex("sr-routes", api_key="k", host=url, layout="semantic-router") as src,
        PineconeIndex("fp-routes", api_key="k", host=url) as dst,
    ):
        src.bind(ENCODER.name, DIM)
        points = src.fetch()
        assert {p.utterance.key for p in points} == set(expected)
        for p in points:
            route = expected[p.utterance.key]
            assert p.utterance.function_schemas == route.get("function_schemas")
            assert p.utterance.metadata == route.get("metadata", {})
            assert np.allclose(p.vector, ENCODER([p.utterance.utterance])[0], atol=1e-5)
        report = migrate(src, dst, ENCODER)
        assert (report.copied_vectors, report.encoded, report.target_count) == (6, 0, 6)
        with SemanticRouter(encoder=ENCODER, index=dst, score_threshold=0.0) as router:
            choice = router("what time is it in rome")
            assert choice.name == "get_time"
            got = {r.name: r for r in router.routes}
            assert (
                got["get_time"].function_schemas == written.report["routes"][0]["function_schemas"]
            )


def test_real_semantic_router_collection_through_the_cli(
    written: Written, capsys: pytest.CaptureFixture[str]
) -> None:
    from fingerpost.__main__ import main

    store = written.qdrant_path
    argv = [
        "migrate",
        "--from",
        "semantic-router",
        "--index",
        f"qdrant+path://{store}/sr-routes",
        "--to",
        f"qdrant+path://{store}/cli-routes",
        "--encoder",
        "hash",
        "--dim",
        str(DIM),
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["routes"], report["utterances"], report["encoded"]) == (2, 6, 0)
    assert report["copied_vectors"] == report["target_count"] == 6


def test_compat_layer_answers_as_semantic_router_does(written: Written) -> None:
    """Same routes, same vectors, same turns: fingerpost.compat.semantic_router gives the real
    semantic-router 0.1.16's choices and scores (its global top-k scoring, thresholds 0.3)."""
    from fingerpost.compat import semantic_router as compat

    class HashDense(compat.DenseEncoder):
        name: str = ENCODER.name
        score_threshold: float | None = 0.3

        def __call__(self, docs: list[Any]) -> list[list[float]]:
            return ENCODER(list(docs)).tolist()  # type: ignore[no-any-return]

    routes = [  # static routes, as semantic-router routed them (dynamic ones would call an LLM)
        compat.Route(**{k: v for k, v in r.items() if k != "function_schemas"})
        for r in written.report["routes"]
    ]
    with compat.SemanticRouter(encoder=HashDense(), routes=routes, auto_sync="local") as rl:
        for turn, want in zip(TURNS, written.report["choices"], strict=True):
            one = rl(turn)
            assert one.name == want["one"][0], turn
            if want["one"][1] is not None:
                assert one.similarity_score == pytest.approx(want["one"][1], abs=1e-5), turn
            many = rl(turn, limit=None)
            assert [c.name for c in (many if isinstance(many, list) else [many])] == want["all"], (
                turn
            )
    assert any(w["one"][0] is None for w in written.report["choices"])  # both outcomes covered
    assert any(w["one"][0] is not None for w in written.report["choices"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
