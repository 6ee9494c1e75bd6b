"""Fitting a router: the glue between a :class:`~._target.FitTarget` (what the router hands
over) and the math in ``_fit``/``_thresholds``.

``fit``: embed X once -> held-out route scores (similarity via ``_scoring``, head logits via
``_fit``) -> choose the head's L2 strength, blend weight and temperature and the thresholds on
held-out rows -> train the final head on everything -> publish head, thresholds, examples and
``FitState`` in ONE index write (``_fit_state.publish``).

Held-out rows: with plenty of data, the labelled X is the validation set (routes' utterances
are prototypes; X is what users actually say) and the routes' utterances train the head; with
little data, k-fold cross-fitting over utterances and X together, each fold's utterances
removed from the similarity table too. Either way no score used for a choice saw its row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .._exceptions import InvalidInputError
from .._types import F32
from ..engine._scoring import all_route_scores
from ..engine._table import LiveRows, Snapshot
from . import _fit, _thresholds
from ._evaluate import check_labelled
from ._fit import SoftmaxHead
from ._fit_state import live_names, on_routes_changed, publish, publish_remote, session_of
from ._target import FitTarget
from ._thresholds import BlendChoice

__all__ = ["FitReport", "fit_router"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Objective = Literal["balanced", "accuracy"]

# Cross-fit every row while that is cheap; above this many rows, validate on one held-out part.
_CROSS_FIT_MAX_ROWS = 4000
_FOLDS = 5
# L2 strengths tried, strong to weak, half a decade apart (whitened features: scale-free).
_L2_GRID = tuple(float(10.0 ** (-e / 2)) for e in range(-2, 11))


@dataclass(frozen=True)
class FitReport:
    """What ``router.fit`` chose, and how it did on held-out rows.

    Attributes:
        head_weight: ``a`` in ``similarity + a * log p(route)``, ``p`` the head's
            probability; 0 = no head.
        temperature: Logit scale of the head (1 when there is no head).
        l2: L2 strength of the head (``None`` when there is no head).
        thresholds: The fitted threshold of every route.
        objective: ``"balanced"`` or ``"accuracy"``.
        validation: How held-out rows were made, e.g. ``"holdout: 3100 fit rows"``.
        before: Objective of the router as it was, on the held-out rows.
        after: Objective of the fitted choice on the same rows (thresholds were tuned on them,
            so this is optimistic by a little).
        seconds: Wall time of the fit, encoding included.
    """

    head_weight: float
    temperature: float
    l2: float | None
    thresholds: dict[str, float]
    objective: str
    validation: str
    before: float
    after: float
    seconds: float


# ---- fitting -------------------------------------------------------------------------------
def _similarity(
    snap: Snapshot, table: LiveRows, queries: F32, drop: NDArray[np.bool_] | None
) -> F32:
    """Route similarity scores of ``queries`` with table rows ``drop`` removed (leave-out)."""
    st = snap.settings
    n_routes = len(table.names)
    if drop is None or not drop.any():
        return all_route_scores(
            queries @ table.vectors.T,
            table.starts,
            st.top_k,
            st.aggregation,
            queries @ table.centroids.T,
            st.centroid_weight,
        )
    keep = ~drop
    vecs, owner = table.vectors[keep], table.row_route[keep]
    counts = np.bincount(owner, minlength=n_routes)
    present = np.flatnonzero(counts > 0)
    out = np.full((queries.shape[0], n_routes), -1.0, dtype=np.float32)
    if present.size == 0:
        return out
    starts = np.concatenate([[0], np.cumsum(counts[present])[:-1]]).astype(np.int64)
    cent = np.zeros((present.size, vecs.shape[1]), dtype=np.float64)
    np.add.at(cent, np.searchsorted(present, owner), vecs)
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    out[:, present] = all_route_scores(
        queries @ vecs.T,
        starts,
        st.top_k,
        st.aggregation,
        queries @ cent.astype(np.float32).T,
        st.centroid_weight,
    )
    return out


@dataclass
class _Fitted:
    head: SoftmaxHead | None
    choice: BlendChoice
    thresholds: F64
    before: float
    l2: float | None
    validation: str


def _fit_arrays(
    snap: Snapshot,
    table: LiveRows,
    queries: F32,
    labels: I64,
    *,
    objective: Objective,
    use_head: bool,
    head_weight: float | None,
    prior: float,
) -> _Fitted:
    """Choose everything on held-out rows, then train the final head. Pure but for time."""
    n_routes = len(table.names)
    n_table = table.vectors.shape[0]
    # pooled rows: the routes' utterances (in the table), then X (in-scope and out-of-scope)
    pool_x = np.concatenate([table.vectors, queries]) if queries.size else table.vectors
    pool_y = np.concatenate([table.row_route, labels]).astype(np.int64)
    in_table = np.arange(pool_y.shape[0]) < n_table
    n_x_in = int((labels >= 0).sum())
    if pool_y.shape[0] <= _CROSS_FIT_MAX_ROWS:
        counts = np.bincount(pool_y[pool_y >= 0])
        k = int(min(_FOLDS, max(2, counts[counts > 0].min())))
        folds = _thresholds.stratified_folds(pool_y, k)
        evaluated = list(range(k))
        validation = f"{k}-fold cross-fitting over {pool_y.shape[0]} rows"
    elif n_x_in >= 2 * n_routes:  # X is what users say: the better judge, when it is enough
        folds = np.where(in_table, -1, 0)
        evaluated = [0]
        validation = f"holdout: the {labels.shape[0]} fit rows"
    else:
        folds = _thresholds.stratified_folds(pool_y, _FOLDS)
        folds[pool_y < 0] = 0
        evaluated = [0]
        validation = f"holdout: 1/{_FOLDS} of {pool_y.shape[0]} rows"
    val = np.isin(folds, evaluated)
    val_idx = np.flatnonzero(val)
    y_val = pool_y[val_idx]
    weights = _thresholds.objective_weights(y_val, objective)

    # similarity of each held-out row, its own fold's utterances left out of the table
    sim_val = np.empty((val_idx.shape[0], n_routes), dtype=np.float32)
    for f in evaluated:
        rows = folds[val_idx] == f
        drop = (folds[:n_table] == f) if f >= 0 else None
        sim_val[rows] = _similarity(snap, table, pool_x[val_idx[rows]], drop)
    before = float(
        _thresholds.decision_gains(
            _thresholds.decide(sim_val, np.float32(prior)), y_val, weights
        ).sum()
    )

    base = _thresholds.select_blend(sim_val, None, y_val, weights, prior)
    picked = None
    if use_head and n_routes >= 2:
        picked = _select_head(
            pool_x,
            pool_y,
            folds,
            evaluated,
            val_idx,
            sim_val,
            y_val,
            weights,
            prior,
            n_routes,
            head_weight,
        )
    choice, l2, params, logits_val = (base, None, None, None) if picked is None else picked
    scores_val = sim_val
    if choice.weight > 0 and logits_val is not None:
        terms = _fit.head_terms(logits_val * np.float32(choice.temperature))
        scores_val = _thresholds.blend_scores(sim_val, terms, choice.weight)
    shrink = _thresholds.select_route_shrinkage(scores_val, y_val, weights, choice.threshold)
    thresholds = _thresholds.per_route_thresholds(
        scores_val, y_val, weights, choice.threshold, shrink
    )
    thresholds = np.clip(np.round(thresholds, 6), -1.0, 1.0)

    head = None
    if choice.weight > 0 and l2 is not None:
        train = pool_y >= 0
        head = _fit.train_head(
            pool_x[train],
            pool_y[train],
            table.names,
            l2=l2,
            weight=choice.weight,
            temperature=choice.temperature,
            threshold=round(choice.threshold, 6),
            init=params,
        )
    return _Fitted(head, choice, thresholds, before, l2 if head else None, validation)


def _select_head(
    pool_x: F32,
    pool_y: I64,
    folds: I64,
    evaluated: list[int],
    val_idx: I64,
    sim_val: F32,
    y_val: I64,
    weights: F64,
    prior: float,
    n_routes: int,
    head_weight: float | None,
) -> tuple[BlendChoice, float, F64, F32] | None:
    """Walk the L2 grid with warm starts, scoring each strength by the router objective on the
    held-out rows (head blended with similarity, thresholds tuned); stop after two strengths
    without improvement. ``None`` when no strength gives a head worth using."""
    train_rows = pool_y >= 0
    mean, proj = _fit.whitening(pool_x[train_rows], pool_y[train_rows])
    feats = ((pool_x - mean) @ proj).astype(np.float32)
    sw = np.zeros(pool_y.shape[0])
    sw[train_rows] = _fit.class_balanced_weights(pool_y[train_rows], n_routes)
    tried: dict[int, tuple[float, BlendChoice, F32, dict[int, F64]]] = {}

    def run(i: int, init: dict[int, F64] | None) -> float:
        logits = np.empty((val_idx.shape[0], n_routes), dtype=np.float32)
        params: dict[int, F64] = {}
        for f in evaluated:
            tr = train_rows & (folds != f)
            rows = folds[val_idx] == f
            params[f], _ = _fit.train_softmax(
                feats[tr],
                pool_y[tr],
                n_routes,
                l2=_L2_GRID[i],
                sample_weight=sw[tr],
                init=None if init is None else init[f],
            )
            p = params[f]
            logits[rows] = feats[val_idx[rows]] @ p[:-1].astype(np.float32) + p[-1].astype(
                np.float32
            )
        if head_weight is None:
            choice = _thresholds.select_blend(sim_val, logits, y_val, weights, prior)
        else:
            choice = _thresholds.select_blend(
                sim_val, logits, y_val, weights, prior, blend_weights=(head_weight,), guard=False
            )
        tried[i] = (choice.score, choice, logits, params)
        return choice.score

    # start near 1 / sqrt(n): strong enough for a handful of rows, weak enough for thousands
    n_train = max(int(train_rows.sum()), 1)
    start = int(np.argmin(np.abs(np.log(_L2_GRID) + 0.5 * np.log(n_train))))
    run(start, None)
    for step in (1, -1):  # weaker first; stronger only if weaker never helped
        i, stall, best = start, 0, tried[start][0]
        while stall < 2 and 0 <= i + step < len(_L2_GRID):
            score = run(i + step, tried[i][3])
            i += step
            best, stall = (score, 0) if score > best + 1e-12 else (best, stall + 1)
        if step == 1 and best > tried[start][0] + 1e-12:
            break
    top = max(tried, key=lambda i: (tried[i][0], -i))  # ties: the stronger L2
    _, choice, logits, params = tried[top]
    if choice.weight == 0:
        return None
    return choice, _L2_GRID[top], params[evaluated[-1]], logits


def fit_router(
    target: FitTarget,
    X: Sequence[str],
    y: Sequence[str | None],
    *,
    objective: Objective = "balanced",
    head: bool = True,
    head_weight: float | None = None,
) -> FitReport:
    """Fit thresholds (and, when it helps on held-out rows, a route head) and publish them.

    Args:
        X: Labelled turns (may be empty: the routes' utterances are training data too).
        y: Route name per turn, ``None`` for a turn that should route nowhere.
        objective: ``"balanced"`` (default): in-scope accuracy and out-of-scope recall weigh
            the same, whatever their proportions in X; ``"accuracy"``: every row the same.
        head: ``False`` fits thresholds only.
        head_weight: Force the head's blend weight (0 < w <= 1) instead of choosing it on
            held-out rows; L2, temperature and thresholds are still chosen there.
    """
    t0 = time.perf_counter()
    if objective not in ("balanced", "accuracy"):
        raise InvalidInputError(f"objective must be 'balanced' or 'accuracy', got {objective!r}")
    if head_weight is not None and not (
        isinstance(head_weight, (int, float)) and 0.0 < float(head_weight) <= 1.0
    ):
        raise InvalidInputError(f"head_weight must be within (0, 1], got {head_weight!r}")
    remote = target.remote
    if remote is not None:
        # Route thresholds travel through the remote with the routes, so every agent gets
        # them; a head would stay in this process, and other agents would compare plain
        # similarity with thresholds tuned for blended scores. So: thresholds only.
        if not remote.mirror:
            raise InvalidInputError(
                "fit needs the routes' vectors: use mirror=True to fit over a remote index"
            )
        if head_weight is not None:
            raise InvalidInputError(
                "a route head is not shared through a remote index: fit thresholds only"
            )
        remote.refresh()  # tune the routes as other agents left them
        read_version = remote.local_version
        head = False
    texts = check_labelled(live_names(target), X, y)
    snap = target.snapshot()
    table = snap.live_rows(canonical=True)
    if not table.names:
        raise InvalidInputError("nothing to fit: the router has no routes")
    index = {name: i for i, name in enumerate(table.names)}
    labels = np.array([-1 if g is None else index[g] for g in y], dtype=np.int64)
    queries = target.encode(texts) if texts else np.empty((0, target.encoder.dim), np.float32)
    prior = snap.settings.score_threshold
    # BLAS threads are left as the application set them: changing them here, while other
    # threads may be inside a BLAS call (routing turns), can crash OpenBLAS (engine._threads).
    fitted = _fit_arrays(
        snap,
        table,
        queries,
        labels,
        objective=objective,
        use_head=head,
        head_weight=None if head_weight is None else float(head_weight),
        prior=prior,
    )
    thresholds = {name: float(t) for name, t in zip(table.names, fitted.thresholds, strict=True)}
    if remote is not None:
        publish_remote(target, remote, thresholds, read_version)
        return _report(fitted, thresholds, objective, t0)
    examples: dict[str, list[str]] = {}
    if fitted.head is not None:
        for text, label in zip(texts, labels.tolist(), strict=True):
            if label >= 0:
                examples.setdefault(table.names[label], []).append(text)
        session_of(target).vectors = {
            t: v for t, v, lab in zip(texts, queries, labels.tolist(), strict=True) if lab >= 0
        }
    publish(target, fitted.head, thresholds, only_unset=False, examples=examples)
    if fitted.head is not None and set(fitted.head.classes) != live_names(target):
        on_routes_changed(target)  # routes written while fitting: the new head is already stale
    return _report(fitted, thresholds, objective, t0)


def _report(fitted: _Fitted, thresholds: dict[str, float], objective: str, t0: float) -> FitReport:
    return FitReport(
        head_weight=fitted.choice.weight if fitted.head else 0.0,
        temperature=fitted.choice.temperature if fitted.head else 1.0,
        l2=fitted.l2,
        thresholds=thresholds,
        objective=objective,
        validation=fitted.validation,
        before=fitted.before,
        after=fitted.choice.score,
        seconds=time.perf_counter() - t0,
    )
