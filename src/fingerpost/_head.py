"""The bridge between a fitted route head (``extras["head"]``) and per-slot scoring arrays.

A head is any object with ``classes`` (route names it was trained on), ``weight`` (a in
``score = (1 - a) * similarity + a * probability``) and ``predict_proba(queries) -> (b, C)``.
Routes the head does not know (added after the fit) get weight 0: they score by similarity
until the head is retrained.
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

    def predict_proba(self, queries: NDArray[np.float32]) -> NDArray[np.float32]: ...


def head_inputs(
    head: Any, snap: Snapshot, queries: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(b, n_slots) probabilities and (n_slots,) weights for this snapshot."""
    key = ("head_map", id(head))
    cached = snap.cache.get(key)
    if cached is None:
        index = {name: i for i, name in enumerate(head.classes)}
        cls = np.array(
            [index.get(r.name, -1) for r in snap.routes[: snap.n_slots]], dtype=np.int64
        )
        weights = np.where(cls >= 0, np.float32(head.weight), np.float32(0)).astype(np.float32)
        cached = (cls, weights)
        snap.cache[key] = cached
    cls, weights = cast("tuple[NDArray[np.int64], NDArray[np.float32]]", cached)
    proba = head.predict_proba(queries)
    probs = np.where(cls >= 0, proba[:, np.maximum(cls, 0)], np.float32(0)).astype(np.float32)
    return probs, weights
