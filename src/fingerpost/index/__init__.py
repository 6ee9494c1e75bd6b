"""Where routes live: in memory, in a local SQLite store, or in a remote vector index."""

from __future__ import annotations

from .local import LocalIndex

__all__ = ["LocalIndex"]
