"""The bridge between a fitted route head (``extras["head"]``) and per-slot scoring arrays.

A head is any object with ``classes`` (route names it was trained on), ``weight`` (``a``),
``scale()`` (the factor it leaves on similarity) and ``terms(queries) -> (b, C)``; a route's
score is ``scale * similarity + a * term``. Routes the head does not know (added after the
fit) get scale 1 and no term: they score by similarity until the head is retrained.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from ._table import Snapshot

__all__ = ["RouteHeadLike", "head_inputs"]


class RouteHeadLike(Protocol):
    classes: tuple[str, ...]
    weight: float

    def scale(self) -> float: ...

    def terms(self, queries: NDArray[np.float32]) -> NDArray[np.float32]: ...


def head_inputs(
    head: Any, snap: Snapshot, queries: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(scale (n_slots,), offset (b, n_slots))``: slot scores are ``scale * sim + offset``."""
    key = ("head_map", id(head))
    cached = snap.cache.get(key)
    if cached is None:
        index = {name: i for i, name in enumerate(head.classes)}
        cls = np.array([index.get(r.name, -1) for r in snap.routes[: snap.n_slots]], dtype=np.int64)
        known = cls >= 0
        weights = np.where(known, np.float32(head.weight), np.float32(0)).astype(np.float32)
        scale = np.where(known, np.float32(head.scale()), np.float32(1)).astype(np.float32)
        cached = (cls, weights, scale)
        snap.cache[key] = cached
    cls, weights, scale = cast(
        "tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]", cached
    )
    # unknown routes read column 0 times weight 0: terms are finite (log p is floored)
    offset: NDArray[np.float32] = (weights * head.terms(queries)[:, np.maximum(cls, 0)]).astype(
        np.float32
    )
    return scale, offset
