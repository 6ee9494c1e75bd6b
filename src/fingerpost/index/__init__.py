"""Where routes live: in memory, in a local SQLite store, or in a remote vector index.

``QdrantIndex`` and ``PineconeIndex`` import their clients only when used
(``pip install "fingerpost[qdrant]"`` / ``"fingerpost[pinecone]"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import RemoteIndex
from .local import LocalIndex

if TYPE_CHECKING:
    from .pinecone import PineconeIndex
    from .qdrant import QdrantIndex

__all__ = ["LocalIndex", "PineconeIndex", "QdrantIndex", "RemoteIndex"]


def __getattr__(name: str) -> Any:
    if name == "QdrantIndex":
        from .qdrant import QdrantIndex

        return QdrantIndex
    if name == "PineconeIndex":
        from .pinecone import PineconeIndex

        return PineconeIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
