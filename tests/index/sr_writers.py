"""Write collections and indexes exactly as semantic-router 0.1.16 does, with plain clients.

Mirrors ``semantic_router/index/qdrant.py`` (``QdrantIndex.add``, ``_write_config``) and
``semantic_router/index/pinecone.py`` (``build_records``, ``PineconeRecord``,
``ConfigParameter.to_pinecone``) of semantic-router 0.1.16 (MIT, aurelio-labs), so the
foreign-layout tests run without semantic-router installed. ``tests/compat`` checks the
same reads against the real package.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

SR_ROWS = list[tuple[str, str, dict[str, Any], dict[str, Any]]]  # route, utterance, schema, md


def sr_rows() -> SR_ROWS:
    """Two routes: one with metadata and a function schema, one plain."""
    schema = {"name": "get_time", "description": "time in a zone", "parameters": {"tz": "str"}}
    weather = [("weather", u, schema, {"team": "ops"}) for u in ("is it raining", "forecast")]
    chat = [("chitchat", u, {}, {}) for u in ("how are you", "hello there")]
    return weather + chat


def qdrant_write(client: Any, name: str, rows: SR_ROWS, vectors: NDArray[np.float32]) -> None:
    """``semantic_router.index.qdrant.QdrantIndex.add`` then ``_write_config(sr_hash)``."""
    from qdrant_client import models

    client.create_collection(
        collection_name=name,
        vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE),
    )
    ids = [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{r}:{u}")) for r, u, _, _ in rows]
    payloads = [{"sr_route": r, "sr_utterance": u, "metadata": md} for r, u, _, md in rows]
    client.upload_collection(
        name, vectors=vectors.tolist(), payload=payloads, ids=ids, batch_size=100
    )
    if not client.collection_exists("sr_config"):
        client.create_collection(
            collection_name="sr_config",
            vectors_config=models.VectorParams(size=1, distance=models.Distance.COSINE),
        )
    client.upsert(
        collection_name="sr_config",
        points=[
            models.PointStruct(
                id=str(uuid.uuid5(uuid.NAMESPACE_DNS, f"sr_hash#{name}")),
                vector=[0.0],
                payload={
                    "field": "sr_hash",
                    "scope": name,
                    "value": "0" * 64,
                    "created_at": "2026-01-01T00:00:00+00:00",
                },
            )
        ],
    )


def _clean_route_name(route: str) -> str:
    return route.strip().replace(" ", "-")  # semantic_router.index.pinecone.clean_route_name


def pinecone_records(
    rows: SR_ROWS, vectors: NDArray[np.float32], dim: int, namespace: str = ""
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``build_records`` output, and the ``sr_hash`` config record for namespace ``sr_config``."""
    records = []
    for (route, utt, schema, md), vec in zip(rows, vectors, strict=True):
        meta = dict(md)
        meta.update(
            {"sr_route": route, "sr_utterance": utt, "sr_function_schema": json.dumps(schema)}
        )
        uid = hashlib.sha256(utt.encode()).hexdigest()
        records.append(
            {"id": f"{_clean_route_name(route)}#{uid}", "values": vec.tolist(), "metadata": meta}
        )
    config = {
        "id": f"sr_hash#{namespace}",
        "values": [0.1] * dim,
        "metadata": {
            "value": "0" * 64,
            "created_at": "2026-01-01T00:00:00+00:00",
            "namespace": namespace,
            "field": "sr_hash",
        },
    }
    return records, config


def texts(rows: SR_ROWS) -> Sequence[str]:
    return [u for _, u, _, _ in rows]
