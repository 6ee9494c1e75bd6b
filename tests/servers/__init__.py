"""Loopback servers that let the real Qdrant and Pinecone clients run without Docker.

Import from the submodules (``tests.servers.qdrant_rest``, ``tests.servers.pinecone_server``,
``tests.servers._http``); the names below are also reachable here, imported lazily so that
using one server never requires the other's client library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FaultInjector", "PineconeTestServer", "QdrantTestServer", "ServerProcess"]


def __getattr__(name: str) -> Any:
    if name == "QdrantTestServer":
        from tests.servers.qdrant_rest import QdrantTestServer

        return QdrantTestServer
    if name == "PineconeTestServer":
        from tests.servers.pinecone_server import PineconeTestServer

        return PineconeTestServer
    if name in ("FaultInjector", "ServerProcess"):
        from tests.servers import _http

        return getattr(_http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
