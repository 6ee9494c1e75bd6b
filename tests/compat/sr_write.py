"""Run by the REAL semantic-router 0.1.16 (``benchmarks/.venv-semantic-router``), not by pytest:
builds a router with ``auto_sync="local"`` over an embedded Qdrant ``path=`` directory and/or
the loopback Pinecone server, saves its config with ``to_json``/``to_yaml``, and prints one JSON
line describing what it wrote. The encoder is fingerpost's deterministic ``HashEncoder`` behind
semantic-router's ``DenseEncoder`` (vectors as lists, like its stock encoders).

    python sr_write.py '{"qdrant_path": DIR, "pinecone_url": URL, "out": DIR, "turns": [...]}'

``turns``: route each with ``limit=1`` and ``limit=None`` on a local index (for the compat
layer's parity test).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, ClassVar

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from pydantic import ConfigDict, PrivateAttr
from semantic_router import Route
from semantic_router.encoders import DenseEncoder
from semantic_router.routers import SemanticRouter

from fingerpost.encoders.testing import HashEncoder

DIM = 16
SCHEMA = {
    "name": "get_time",
    "description": "Current time in a timezone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
}
ROUTES: list[dict[str, Any]] = [
    {
        "name": "get_time",
        "utterances": ["what time is it in rome", "tell me the time in tokyo", "clock in paris"],
        "function_schemas": [SCHEMA],
        "metadata": {"team": "tools", "tier": 2},
    },
    {"name": "chitchat", "utterances": ["how are you", "lovely weather today", "hello there"]},
]


class HashDense(DenseEncoder):
    """fingerpost's HashEncoder as a semantic-router encoder."""

    name: str = "fingerpost-hash"
    type: str = "fingerpost"
    model_config: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True)
    _enc: Any = PrivateAttr()

    def __init__(self) -> None:
        enc = HashEncoder(dim=DIM)
        super().__init__(name=enc.name, score_threshold=0.3)
        self._enc = enc

    def __call__(self, docs: list[Any]) -> list[list[float]]:
        return self._enc(list(docs)).tolist()  # type: ignore[no-any-return]


def _routes() -> list[Route]:
    return [Route(**r) for r in ROUTES]


def main() -> int:
    args = json.loads(sys.argv[1])
    logging.getLogger("semantic_router").setLevel(logging.ERROR)
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # its print()s and logs go to stderr; stdout carries one JSON line
    out: dict[str, Any] = {"routes": ROUTES}
    if args.get("qdrant_path"):
        from semantic_router.index.qdrant import QdrantIndex

        idx = QdrantIndex(index_name="sr-routes", location=None, path=args["qdrant_path"])
        router = SemanticRouter(encoder=HashDense(), routes=_routes(), index=idx, auto_sync="local")
        out["qdrant_count"] = len(idx.get_utterances())
        out["qdrant_synced"] = router.is_synced()
        idx.client.close()  # release the embedded storage for fingerpost
    if args.get("pinecone_url"):
        from semantic_router.index.pinecone import PineconeIndex

        pidx = PineconeIndex(
            api_key="k", index_name="sr-routes", dimensions=DIM, base_url=args["pinecone_url"]
        )
        router = SemanticRouter(
            encoder=HashDense(), routes=_routes(), index=pidx, auto_sync="local"
        )
        out["pinecone_count"] = len(pidx.get_utterances())
    if args.get("turns"):
        static = [Route(**{k: v for k, v in r.items() if k != "function_schemas"}) for r in ROUTES]
        router = SemanticRouter(encoder=HashDense(), routes=static, auto_sync="local")  # no LLM
        out["choices"] = []
        for turn in args["turns"]:
            one = router(turn)
            many = router(turn, limit=None)
            many = many if isinstance(many, list) else [many]
            out["choices"].append(
                {"one": [one.name, one.similarity_score], "all": [c.name for c in many]}
            )
    if args.get("out"):
        router = SemanticRouter(encoder=HashDense(), routes=_routes(), auto_sync="local")
        router.to_json(os.path.join(args["out"], "sr_config.json"))
        router.to_yaml(os.path.join(args["out"], "sr_config.yaml"))
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
