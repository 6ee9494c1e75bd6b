"""Measuring a router on labelled turns: accuracy, out-of-scope recall and precision, per route.

Evaluation routes exactly as users are routed (``router.batch``: one encoder call), so what it
reports is what they get; :func:`route_scores` exposes every route's final score (similarity
and head blended, no thresholds) for plots and argmax figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._exceptions import InvalidInputError, RouteNotFoundError
from .._types import F32
from ..encoders.base import check_texts
from ..engine._decide import effective_thresholds
from ..engine._head import head_inputs
from ..engine._scoring import all_route_scores
from ..engine._table import Snapshot

if TYPE_CHECKING:
    from ._target import FitTarget, LabelledRouter

__all__ = ["EvalReport", "check_labelled", "evaluate_router", "evaluation_report", "route_scores"]


@dataclass(frozen=True)
class EvalReport:
    """Routing quality on a labelled set (``None`` label = should route nowhere)."""

    n: int
    n_in_scope: int
    n_out_of_scope: int
    accuracy: float
    in_scope_accuracy: float | None
    oos_recall: float | None
    oos_precision: float | None
    predicted: list[str | None] = field(repr=False)
    per_route: dict[str, tuple[int, int, str | None]] = field(repr=False)
    """route -> (examples, correct, most frequent wrong answer; ``None`` = no route)."""

    def worst_routes(self, k: int = 10) -> list[tuple[str, int, int, str | None]]:
        """The k routes with the lowest accuracy (ties: more examples first, then name)."""
        rows = [(name, n, ok, wrong) for name, (n, ok, wrong) in self.per_route.items()]
        rows.sort(key=lambda r: (r[2] / r[1], -r[1], r[0]))
        return rows[:k]


def check_labelled(
    route_names: Collection[str], X: Sequence[str], y: Sequence[str | None]
) -> list[str]:
    """The texts of a labelled set over ``route_names``; ``InvalidInputError`` or
    ``RouteNotFoundError`` if it is not one."""
    texts = check_texts(X)
    if isinstance(y, str):
        raise InvalidInputError("y must be a list of route names (or None), not a str")
    if len(texts) != len(y):
        raise InvalidInputError(f"X and y must have the same length ({len(texts)} != {len(y)})")
    names = set(route_names)
    for i, label in enumerate(y):
        if label is not None and not isinstance(label, str):
            raise InvalidInputError(f"label {i} is {type(label).__name__}, not str or None")
        if label is not None and label not in names:
            raise RouteNotFoundError(f"label {i} names no route: {label!r}")
    return texts


def evaluate_router(router: LabelledRouter, X: Sequence[str], y: Sequence[str | None]) -> float:
    """Accuracy of ``router.batch(X)`` against ``y`` (one encoder call)."""
    return evaluation_report(router, X, y).accuracy


def evaluation_report(
    router: LabelledRouter, X: Sequence[str], y: Sequence[str | None]
) -> EvalReport:
    """Accuracy, in-scope accuracy, out-of-scope recall/precision and per-route results."""
    texts = check_labelled(router.list_route_names(), X, y)
    if not texts:
        raise InvalidInputError("nothing to evaluate: X is empty")
    predicted: list[str | None] = [c.name for c in router.batch(texts)]
    labels = list(y)
    n = len(labels)
    ins = [(p, g) for p, g in zip(predicted, labels, strict=True) if g is not None]
    oos = [p for p, g in zip(predicted, labels, strict=True) if g is None]
    said_none = [g for p, g in zip(predicted, labels, strict=True) if p is None]
    per: dict[str, list[str | None]] = {}
    for p, g in ins:
        per.setdefault(str(g), []).append(p)
    per_route: dict[str, tuple[int, int, str | None]] = {}
    for name, preds in per.items():
        wrong = Counter(p for p in preds if p != name).most_common(1)
        per_route[name] = (
            len(preds),
            sum(p == name for p in preds),
            wrong[0][0] if wrong else None,
        )
    return EvalReport(
        n=n,
        n_in_scope=len(ins),
        n_out_of_scope=len(oos),
        accuracy=sum(p == g for p, g in zip(predicted, labels, strict=True)) / n,
        in_scope_accuracy=sum(p == g for p, g in ins) / len(ins) if ins else None,
        oos_recall=sum(p is None for p in oos) / len(oos) if oos else None,
        oos_precision=sum(g is None for g in said_none) / len(said_none) if said_none else None,
        predicted=predicted,
        per_route=per_route,
    )


def route_scores(
    target: FitTarget, queries: F32, snap: Snapshot | None = None
) -> tuple[list[str], F32, F32]:
    """Every live route's final score for each query, as routing computes it, no thresholds.

    Returns:
        ``(names, scores (b, routes), thresholds (routes,))``.
    """
    snap = target.snapshot() if snap is None else snap
    live = np.flatnonzero(snap.alive())
    names = [snap.routes[int(s)].name for s in live]
    st = snap.settings
    thr = effective_thresholds(snap)
    if live.size == 0 or queries.shape[0] == 0:
        return names, np.empty((queries.shape[0], live.size), np.float32), thr[live]
    sims = queries @ snap.vectors.T
    scores = all_route_scores(
        sims, snap.starts, st.top_k, st.aggregation, queries @ snap.centroids.T, st.centroid_weight
    )
    head = snap.extras.get("head")
    if head is not None:
        scale, offset = head_inputs(head, snap, queries)
        scores = (scale * scores + offset).astype(np.float32)
    return names, scores[:, live], thr[live]
