"""Fitting and evaluating a router: the glue between ``SemanticRouter`` and the math in ``_fit``.

``fit``: embed X once -> held-out route scores (similarity via ``_scoring``, head logits via
``_fit``) -> choose the head's L2 strength, blend weight and temperature and the thresholds on
held-out rows -> train the final head on everything -> publish head, thresholds and
``FitState`` in ONE index write (and one store transaction when the index is durable).

Held-out rows: with plenty of data, the labelled X is the validation set (routes' utterances
are prototypes; X is what users actually say) and the routes' utterances train the head; with
little data, k-fold cross-fitting over utterances and X together, each fold's utterances
removed from the similarity table too. Either way no score used for a choice saw its row.

A hot add/delete leaves the head stale: routes it does not know score by similarity until a
daemon thread has retrained it (bursts coalesce into one retrain; queries never wait; the new
head is published atomically). :func:`wait_for_retrain` lets tests wait without sleeping.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from . import _fit
from ._exceptions import (
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    RouteNotFoundError,
)
from ._fit import SoftmaxHead
from ._head import head_inputs
from ._scoring import all_route_scores
from ._table import Snapshot
from .encoders.base import check_texts
from .schema import FitState, Route

if TYPE_CHECKING:
    from .router import SemanticRouter

__all__ = [
    "EvalReport",
    "FitReport",
    "evaluate_router",
    "evaluation_report",
    "fit_router",
    "fit_state_of",
    "on_routes_changed",
    "restore_fit_state",
    "route_scores",
    "wait_for_retrain",
]

log = logging.getLogger("fingerpost")

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Objective = Literal["balanced", "accuracy"]

# Cross-fit every row while that is cheap; above this many rows, validate on one held-out part.
_CROSS_FIT_MAX_ROWS = 4000
_FOLDS = 5
# L2 strengths tried, strong to weak, half a decade apart (whitened features: scale-free).
_L2_GRID = tuple(float(10.0 ** (-e / 2)) for e in range(-2, 11))


# ---- reports -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitReport:
    """What ``router.fit`` chose, and how it did on held-out rows.

    Attributes:
        head_weight: ``a`` in ``similarity + a * log p(route)`` (the head's log-probability); 0 = no head.
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


# ---- evaluation ----------------------------------------------------------------------------
def _check_labelled(router: SemanticRouter, X: Sequence[str], y: Sequence[str | None]) -> list[str]:
    texts = check_texts(X)
    if isinstance(y, str):
        raise InvalidInputError("y must be a list of route names (or None), not a str")
    if len(texts) != len(y):
        raise InvalidInputError(f"X and y must have the same length ({len(texts)} != {len(y)})")
    names = set(router.list_route_names())
    for i, label in enumerate(y):
        if label is not None and not isinstance(label, str):
            raise InvalidInputError(f"label {i} is {type(label).__name__}, not str or None")
        if label is not None and label not in names:
            raise RouteNotFoundError(f"label {i} names no route: {label!r}")
    return texts


def evaluate_router(router: SemanticRouter, X: Sequence[str], y: Sequence[str | None]) -> float:
    """Accuracy of ``router.batch(X)`` against ``y`` (one encoder call)."""
    return evaluation_report(router, X, y).accuracy


def evaluation_report(router: SemanticRouter, X: Sequence[str], y: Sequence[str | None]) -> EvalReport:
    """Accuracy, in-scope accuracy, out-of-scope recall/precision and per-route results."""
    texts = _check_labelled(router, X, y)
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
        per_route[name] = (len(preds), sum(p == name for p in preds), wrong[0][0] if wrong else None)
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
    router: SemanticRouter, queries: F32, snap: Snapshot | None = None
) -> tuple[list[str], F32, F32]:
    """Every live route's final score for each query, as routing computes it, no thresholds.

    Returns:
        ``(names, scores (b, routes), thresholds (routes,))``.
    """
    snap = router._local.snapshot() if snap is None else snap
    live = np.flatnonzero(snap.alive())
    names = [snap.routes[int(s)].name for s in live]
    st = snap.settings
    thr = np.where(np.isnan(snap.thresholds), np.float32(st.score_threshold), snap.thresholds)
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


# ---- fitting -------------------------------------------------------------------------------
@dataclass
class _Table:
    """The live routes as one compact table: rows, route of each row, starts, centroids."""

    names: list[str]
    routes: list[Route]
    vectors: F32
    row_route: I64
    starts: I64
    centroids: F32

    @classmethod
    def of(cls, snap: Snapshot) -> _Table:
        live = np.flatnonzero(snap.alive())
        routes = [snap.routes[int(s)] for s in live]
        blocks = [snap.route_vectors(r.name) for r in routes]
        vecs = [b for b in blocks if b is not None]
        counts = np.array([b.shape[0] for b in vecs], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(
            names=[r.name for r in routes],
            routes=routes,
            vectors=np.concatenate(vecs) if vecs else np.empty((0, snap.vectors.shape[1]), np.float32),
            row_route=np.repeat(np.arange(len(routes)), counts).astype(np.int64),
            starts=starts if len(routes) else np.empty(0, np.int64),
            centroids=snap.centroids[live],
        )


def _similarity(snap: Snapshot, table: _Table, queries: F32, drop: NDArray[np.bool_] | None) -> F32:
    """Route similarity scores of ``queries`` with table rows ``drop`` removed (leave-out)."""
    st = snap.settings
    n_routes = len(table.names)
    if drop is None or not drop.any():
        return all_route_scores(
            queries @ table.vectors.T, table.starts, st.top_k, st.aggregation,
            queries @ table.centroids.T, st.centroid_weight,
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
        queries @ vecs.T, starts, st.top_k, st.aggregation,
        queries @ cent.astype(np.float32).T, st.centroid_weight,
    )
    return out


def _balanced_weights(labels: I64, n_classes: int) -> F64:
    """Every route carries the same total weight: how many utterances an author wrote for a
    route says nothing about how often users ask for it."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return 1.0 / (counts[labels] * np.count_nonzero(counts))


@dataclass
class _Fitted:
    head: SoftmaxHead | None
    choice: _fit.BlendChoice
    thresholds: F64
    before: float
    l2: float | None
    validation: str


def _fit_arrays(
    snap: Snapshot,
    table: _Table,
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
        folds = _fit.stratified_folds(pool_y, k)
        evaluated = list(range(k))
        validation = f"{k}-fold cross-fitting over {pool_y.shape[0]} rows"
    elif n_x_in >= 2 * n_routes:  # X is what users say: the better judge, when it is enough
        folds = np.where(in_table, -1, 0)
        evaluated = [0]
        validation = f"holdout: the {labels.shape[0]} fit rows"
    else:
        folds = _fit.stratified_folds(pool_y, _FOLDS)
        folds[pool_y < 0] = 0
        evaluated = [0]
        validation = f"holdout: 1/{_FOLDS} of {pool_y.shape[0]} rows"
    val = np.isin(folds, evaluated)
    val_idx = np.flatnonzero(val)
    y_val = pool_y[val_idx]
    weights = _fit.objective_weights(y_val, objective)

    # similarity of each held-out row, its own fold's utterances left out of the table
    sim_val = np.empty((val_idx.shape[0], n_routes), dtype=np.float32)
    for f in evaluated:
        rows = folds[val_idx] == f
        drop = (folds[:n_table] == f) if f >= 0 else None
        sim_val[rows] = _similarity(snap, table, pool_x[val_idx[rows]], drop)
    before = float(_fit.decision_gains(_fit.decide(sim_val, np.float32(prior)), y_val, weights).sum())

    base = _fit.select_blend(sim_val, None, y_val, weights, prior)
    picked = None
    if use_head and n_routes >= 2:
        picked = _select_head(
            pool_x, pool_y, folds, evaluated, val_idx, sim_val, y_val, weights, prior, n_routes,
            head_weight,
        )
    choice, l2, params, logits_val = (base, None, None, None) if picked is None else picked
    scores_val = sim_val
    if choice.weight > 0 and logits_val is not None:
        terms = _fit.head_terms(logits_val * np.float32(choice.temperature))
        scores_val = _fit.blend_scores(sim_val, terms, choice.weight)
    shrink = _fit.select_route_shrinkage(scores_val, y_val, weights, choice.threshold)
    thresholds = _fit.per_route_thresholds(scores_val, y_val, weights, choice.threshold, shrink)
    thresholds = np.clip(np.round(thresholds, 6), -1.0, 1.0)

    head = None
    if choice.weight > 0 and l2 is not None:
        train = pool_y >= 0
        mean, proj = _fit.whitening(pool_x[train], pool_y[train])
        feats = ((pool_x[train] - mean) @ proj).astype(np.float32)
        final, _ = _fit.train_softmax(
            feats, pool_y[train], n_routes, l2=l2, init=params,
            sample_weight=_balanced_weights(pool_y[train], n_routes),
        )
        head = SoftmaxHead.from_params(
            table.names, final, mean, proj, weight=choice.weight,
            temperature=choice.temperature, l2=l2, threshold=round(choice.threshold, 6),
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
) -> tuple[_fit.BlendChoice, float, F64, F32] | None:
    """Walk the L2 grid with warm starts, scoring each strength by the router objective on the
    held-out rows (head blended with similarity, thresholds tuned); stop after two strengths
    without improvement. ``None`` when no strength gives a head worth using."""
    train_rows = pool_y >= 0
    mean, proj = _fit.whitening(pool_x[train_rows], pool_y[train_rows])
    feats = ((pool_x - mean) @ proj).astype(np.float32)
    sw = np.zeros(pool_y.shape[0])
    sw[train_rows] = _balanced_weights(pool_y[train_rows], n_routes)
    tried: dict[int, tuple[float, _fit.BlendChoice, F32, dict[int, F64]]] = {}

    def run(i: int, init: dict[int, F64] | None) -> float:
        logits = np.empty((val_idx.shape[0], n_routes), dtype=np.float32)
        params: dict[int, F64] = {}
        for f in evaluated:
            tr = train_rows & (folds != f)
            rows = folds[val_idx] == f
            params[f], _ = _fit.train_softmax(
                feats[tr], pool_y[tr], n_routes, l2=_L2_GRID[i], sample_weight=sw[tr],
                init=None if init is None else init[f],
            )
            p = params[f]
            logits[rows] = feats[val_idx[rows]] @ p[:-1].astype(np.float32) + p[-1].astype(np.float32)
        if head_weight is None:
            choice = _fit.select_blend(sim_val, logits, y_val, weights, prior)
        else:
            choice = _fit.select_blend(
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
    router: SemanticRouter,
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
    if router._local is not router.index:
        # Route thresholds are shared through a remote index but the head would stay in this
        # process: other agents would compare similarity with blended-scale thresholds.
        raise InvalidInputError("fit needs a router over a LocalIndex (remote indexes: not yet)")
    texts = _check_labelled(router, X, y)
    snap = router._local.snapshot()
    table = _Table.of(snap)
    if not table.names:
        raise InvalidInputError("nothing to fit: the router has no routes")
    index = {name: i for i, name in enumerate(table.names)}
    labels = np.array([-1 if g is None else index[g] for g in y], dtype=np.int64)
    queries = router._encode(texts) if texts else np.empty((0, router.encoder.dim), np.float32)
    prior = snap.settings.score_threshold
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, min(os.cpu_count() or 1, 8)), user_api="blas"):
        fitted = _fit_arrays(
            snap, table, queries, labels, objective=objective, use_head=head,
            head_weight=None if head_weight is None else float(head_weight), prior=prior,
        )
    thresholds = {name: float(t) for name, t in zip(table.names, fitted.thresholds, strict=True)}
    _session(router).fit_data = (queries, labels.copy(), list(table.names))
    _publish(router, fitted.head, thresholds, only_unset=False)
    if fitted.head is not None and set(fitted.head.classes) != set(router.list_route_names()):
        on_routes_changed(router)  # routes written while fitting: the new head is already stale
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


# ---- publishing, saving, restoring -----------------------------------------------------------
def _state(router: SemanticRouter, routes: Sequence[Route], head: object) -> FitState:
    return FitState(
        encoder_name=router.encoder.name,
        thresholds={r.name: r.score_threshold for r in routes if r.score_threshold is not None},
        head=head.to_dict() if isinstance(head, SoftmaxHead) else None,
    )


def _publish(
    router: SemanticRouter,
    head: SoftmaxHead | None,
    thresholds: dict[str, float],
    *,
    only_unset: bool,
    expect_head: object = None,
    check_head: bool = False,
) -> bool:
    """Install ``head``, route thresholds and the saved state in ONE index write (and one
    store transaction): readers and a restart see all of it or none of it.

    ``only_unset`` leaves routes that already have a threshold alone. With ``check_head`` the
    write happens only if the published head is still ``expect_head`` (a retrain must not undo
    a fit that landed while it ran). Returns whether anything was published.
    """
    local = router._local
    with local.table.lock:
        snap = local.snapshot()
        if check_head and snap.extras.get("head") is not expect_head:
            return False
        routes = {r.name: r for r in snap.live_routes()}
        updates = []
        for name, value in thresholds.items():
            route = routes.get(name)
            if route is None or route.score_threshold == value:
                continue
            if only_unset and route.score_threshold is not None:
                continue
            vecs = snap.route_vectors(name)
            assert vecs is not None
            routes[name] = Route(**{**route.model_dump(), "score_threshold": value})
            updates.append((routes[name], vecs))
        extras = {k: v for k, v in snap.extras.items() if k != "head"}
        extras["fitted"] = True
        if head is not None:
            extras["head"] = head
        state = _state(router, list(routes.values()), head)
        local.apply(
            add=updates, replace=True, extras=extras, meta={"fit_state": state.model_dump(mode="json")}
        )
    return True


def fit_state_of(router: SemanticRouter, snap: Snapshot) -> FitState | None:
    """The fitted state to save with a config, or ``None`` if the router was never fitted."""
    if not snap.extras.get("fitted"):
        return None
    return _state(router, snap.live_routes(), snap.extras.get("head"))


def restore_fit_state(router: SemanticRouter, state: FitState) -> None:
    """Install a saved fit: the head, and thresholds for routes that have none of their own.

    Raises:
        EncoderMismatchError: The state was fitted with another encoder (name or dimension).
        InvalidInputError: The saved head cannot be read.
    """
    if state.encoder_name != router.encoder.name:
        raise EncoderMismatchError(
            f"fit state was made with encoder {state.encoder_name!r}, not {router.encoder.name!r}"
        )
    head = None
    if state.head is not None:
        try:
            head = SoftmaxHead.from_dict(state.head)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"unreadable fitted head: {exc}") from exc
        if head.coef.shape[0] != router.encoder.dim:
            raise EncoderMismatchError(
                f"fitted head has dimension {head.coef.shape[0]}, encoder {router.encoder.dim}"
            )
    _publish(router, head, dict(state.thresholds), only_unset=True)
    if head is not None and set(head.classes) != set(router.list_route_names()):
        on_routes_changed(router)


# ---- background retraining ---------------------------------------------------------------------
class _Session:
    """Per-router fit data (memory only) and the retrain thread."""

    def __init__(self, router: SemanticRouter) -> None:
        self.router = weakref.ref(router)
        self.fit_data: tuple[F32, I64, list[str]] | None = None
        self.lock = threading.Lock()
        self.pending = False
        self.thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def request(self) -> None:
        with self.lock:
            self.pending = True
            if self.thread is None:
                self.idle.clear()
                self.thread = threading.Thread(target=self._run, name="fingerpost-retrain", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    self.thread = None
                    self.idle.set()
                    return
                self.pending = False
            router = self.router()
            if router is None:
                continue
            try:
                _retrain(router, self)
            except Exception:  # a background thread has no caller to raise to
                log.exception("fingerpost: retraining the route head failed")
            del router


_sessions: weakref.WeakKeyDictionary[SemanticRouter, _Session] = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()


def _session(router: SemanticRouter) -> _Session:
    with _sessions_lock:
        session = _sessions.get(router)
        if session is None:
            session = _sessions[router] = _Session(router)
        return session


def on_routes_changed(router: SemanticRouter) -> None:
    """Schedule a background retrain of a stale head; returns at once."""
    _session(router).request()


def wait_for_retrain(router: SemanticRouter, timeout: float | None = None) -> bool:
    """Block until no retrain is pending or running; ``False`` on timeout."""
    return _session(router).idle.wait(timeout)


def _retrain(router: SemanticRouter, session: _Session) -> None:
    """Retrain the head on the routes as they are now (plus the last fit's X, if this process
    still has it), with the L2 strength, weight and temperature chosen at fit time."""
    snap = router._local.snapshot()
    old = snap.extras.get("head")
    if not isinstance(old, SoftmaxHead):
        return
    table = _Table.of(snap)
    index = {name: i for i, name in enumerate(table.names)}
    xs, ys = [table.vectors], [table.row_route]
    if session.fit_data is not None:
        q, lab, names = session.fit_data
        mapped = np.array([index.get(names[i], -1) if i >= 0 else -1 for i in lab], dtype=np.int64)
        xs.append(q[mapped >= 0])
        ys.append(mapped[mapped >= 0])
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int64)
    head = None
    if len(table.names) >= 2:
        mean, proj = _fit.whitening(x, y)
        params, _ = _fit.train_softmax(
            ((x - mean) @ proj).astype(np.float32), y, len(table.names), l2=old.l2,
            sample_weight=_balanced_weights(y, len(table.names)),
        )
        head = SoftmaxHead.from_params(
            table.names, params, mean, proj, weight=old.weight, temperature=old.temperature,
            l2=old.l2, threshold=old.threshold,
        )
    joined = {n: old.threshold for n in table.names if n not in old.classes and old.threshold is not None}
    try:
        _publish(router, head, joined, only_unset=True, expect_head=old, check_head=True)
    except FingerpostError:
        log.warning("fingerpost: could not publish the retrained head", exc_info=True)
