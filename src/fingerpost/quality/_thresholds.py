"""Pure numpy decisions: thresholds, objectives, and choosing how much of the head to use.

No router, no I/O, no threads: arrays in, arrays out, equal inputs give equal outputs.

Why these choices should carry over to datasets nobody here has seen (nothing below is a constant
fitted to one benchmark):

* The L2 strength, the head's blend weight against similarity and its temperature are chosen on
  held-out rows by the objective the router is judged by. The weight stays 0 unless the head
  beats plain similarity by more than a paired standard error, so small routers keep plain
  similarity.
* Thresholds maximise a kernel-smoothed objective (balanced by default: in-scope accuracy and
  out-of-scope recall count equally, whatever their proportions in the fit data), so they sit
  inside the gap between what should pass and what should not instead of on its last example.
  Per-route thresholds are shrunk towards the global one by an amount chosen by
  cross-validation; with little data that amount is "all the way".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._types import F32
from ._fit import head_terms

__all__ = [
    "BlendChoice",
    "best_threshold",
    "blend_scores",
    "decide",
    "decision_gains",
    "objective_weights",
    "paired_se",
    "per_route_thresholds",
    "select_blend",
    "select_route_shrinkage",
    "stratified_folds",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


# ---- decisions and objectives ----------------------------------------------------------------
def blend_scores(similarity: F32, terms: F32 | None, weight: float, blend: str = "logprob") -> F32:
    """``similarity + a * log p`` (or ``(1 - a) * similarity + a * p``), as the router computes
    it; ``terms`` come from :func:`head_terms`."""
    if terms is None or weight == 0:
        return similarity
    a = np.float32(weight)
    keep = (1 - a) if blend == "prob" else np.float32(1)
    blended: F32 = (keep * similarity + a * terms).astype(np.float32)
    return blended


def decide(scores: F32, thresholds: F32 | np.float32 | float) -> I64:
    """The router's decision per row: the best route whose score reaches its threshold, ties to
    the lower index, ``-1`` when none passes."""
    passing = scores >= thresholds
    best = np.where(passing, scores, -np.inf).argmax(axis=1)
    return np.where(passing.any(axis=1), best, -1).astype(np.int64)


def objective_weights(labels: I64, objective: str = "balanced") -> F64:
    """Row weights summing to 1. ``"balanced"``: in-scope rows and out-of-scope rows (label -1)
    share the weight equally, so the result does not depend on how many negatives were
    collected; ``"accuracy"``: every row counts the same."""
    n = labels.shape[0]
    if n == 0:
        return np.zeros(0)
    oos = labels < 0
    n_oos = int(oos.sum())
    if objective == "balanced" and 0 < n_oos < n:
        return np.where(oos, 0.5 / n_oos, 0.5 / (n - n_oos))
    if objective not in ("balanced", "accuracy"):
        raise ValueError(f"objective must be 'balanced' or 'accuracy', got {objective!r}")
    return np.full(n, 1.0 / n)


def decision_gains(pred: I64, labels: I64, weights: F64) -> F64:
    """Per-row weighted correctness of decisions (``pred == label``; -1 means no route)."""
    return np.where(pred == labels, weights, 0.0)


def best_threshold(
    top: F32 | F64,
    gain_pass: F64,
    gain_reject: F64,
    prior: float,
    bandwidth: tuple[float, float] | None = None,
) -> float:
    """The threshold ``t`` maximising ``sum(gain_pass[top >= t]) + sum(gain_reject[top < t])``.

    The step objective is smoothed with a logistic kernel, with one bandwidth for the rows that
    gain from passing and one for the rows that gain from rejecting (Silverman's rule within
    each group unless ``bandwidth`` gives them): the two smoothed curves are estimates of the
    score distributions the threshold separates, so ``t`` lands where they cross on new data
    rather than on the last example of a small group. Without evidence for rejecting (no row
    gains from it), ``t`` only moves down from ``prior``, to keep every row that gains from
    passing; without rows that gain from passing, it only moves up.
    """
    s = np.asarray(top, dtype=np.float64)
    net = gain_pass - gain_reject
    want_pass, want_reject = net > 0, net < 0
    if not (want_pass.any() or want_reject.any()):
        return float(prior)
    h_pass, h_reject = (
        (_bandwidth(s[want_pass]), _bandwidth(s[want_reject])) if bandwidth is None else bandwidth
    )
    if not want_reject.any():
        return float(min(prior, s[want_pass].min() - h_pass))
    if not want_pass.any():
        return float(max(prior, s[want_reject].max() + h_reject))
    h_min = max(min(h_pass, h_reject), 1e-6)
    relevant = want_pass | want_reject
    lo = float(s[relevant].min()) - 3 * max(h_pass, h_reject)
    hi = float(s[relevant].max()) + 3 * max(h_pass, h_reject)
    grid = np.append(np.linspace(lo, hi, int(min(2000, max(50, 10 * (hi - lo) / h_min)))), prior)
    value = np.zeros(grid.shape[0])
    for rows, h in ((want_pass, h_pass), (want_reject, h_reject)):
        sr, nr = s[rows], net[rows]
        for i in range(0, grid.shape[0], 256):  # (grid, rows) blocks: bounded memory
            z = (sr[None, :] - grid[i : i + 256, None]) * (1.7 / max(h, 1e-6))
            value[i : i + 256] += (1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))) @ nr
    best = value.max()
    ties = np.flatnonzero(value >= best - 1e-12 * max(1.0, abs(best)))
    return float(grid[ties[np.argmin(np.abs(grid[ties] - prior))]])


def _bandwidth(values: F64) -> float:
    """Silverman's rule of thumb (0.01 for fewer than two values)."""
    n = values.shape[0]
    if n < 2:
        return 0.01
    q75, q25 = np.percentile(values, [75, 25])
    spread = min(float(values.std()), float(q75 - q25) / 1.34) or float(values.std())
    return float(max(1.06 * spread * float(n) ** -0.2, 1e-4))


def _global_gains(scores: F32, labels: I64, weights: F64) -> tuple[F64, F64, F64]:
    """Top-1 score of each row and what passing / rejecting it would gain."""
    top1 = scores.argmax(axis=1)
    top = scores[np.arange(scores.shape[0]), top1].astype(np.float64)
    gain_pass = np.where(top1 == labels, weights, 0.0)
    gain_reject = np.where(labels < 0, weights, 0.0)
    return top, gain_pass, gain_reject


def per_route_thresholds(
    scores: F32,
    labels: I64,
    weights: F64,
    global_threshold: float,
    shrinkage: float,
) -> F64:
    """Route thresholds pulled towards ``global_threshold``.

    Route r's own optimum ``t_r`` uses the rows whose best route is r; the result is
    ``t + n_r / (n_r + shrinkage) * (t_r - t)``. ``shrinkage = inf`` gives the global threshold
    to every route.
    """
    n_routes = scores.shape[1]
    out = np.full(n_routes, float(global_threshold))
    if not np.isfinite(shrinkage) or scores.shape[0] == 0:
        return out
    top, gain_pass, gain_reject = _global_gains(scores, labels, weights)
    top1 = scores.argmax(axis=1)
    net = gain_pass - gain_reject
    rel = net != 0
    h = (_bandwidth(top[net > 0]), _bandwidth(top[net < 0]))
    for r in np.unique(top1):
        rows = top1 == r
        n_r = int((rows & rel).sum())
        if n_r == 0:
            continue
        t_r = best_threshold(top[rows], gain_pass[rows], gain_reject[rows], global_threshold, h)
        out[r] = global_threshold + n_r / (n_r + shrinkage) * (t_r - global_threshold)
    return out


def stratified_folds(labels: I64, k: int, seed: int = 0) -> I64:
    """Fold id per row, each label spread round-robin over the folds after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    folds = np.empty(labels.shape[0], dtype=np.int64)
    offset = 0
    for lab in np.unique(labels):
        rows = np.flatnonzero(labels == lab)
        rows = rows[rng.permutation(rows.shape[0])]
        folds[rows] = (np.arange(rows.shape[0]) + offset) % k
        offset += rows.shape[0]
    return folds


def select_route_shrinkage(
    scores: F32,
    labels: I64,
    weights: F64,
    global_threshold: float,
    k: int = 5,
) -> float:
    """Choose how far per-route thresholds may leave the global one, by k-fold CV.

    Candidates are multiples of the mean number of rows per route, from "not at all" (inf) to
    "mostly their own". The most shrunk candidate within one paired standard error of the best
    wins (the one-standard-error rule): a per-route threshold is paid for by few rows, often
    by a handful of out-of-scope turns that outweigh a whole route, so noise must not buy it.
    """
    n, n_routes = scores.shape
    if n < 2 * k or n_routes < 2 or not (labels < 0).any():
        return float("inf")
    per_route = n / n_routes
    candidates = [float("inf"), 4 * per_route, per_route, per_route / 4]
    folds = stratified_folds(np.where(labels < 0, -1, 0), k)
    gains = np.zeros((len(candidates), n))
    for f in range(k):
        tr, te = folds != f, folds == f
        w_tr = weights[tr] / max(float(weights[tr].sum()), 1e-12)
        for i, m in enumerate(candidates):
            thr = per_route_thresholds(scores[tr], labels[tr], w_tr, global_threshold, m)
            gains[i, te] = decision_gains(
                decide(scores[te], thr.astype(np.float32)), labels[te], weights[te]
            )
    best = int(np.argmax(gains.sum(axis=1)))
    diffs = gains[best] - gains[: best + 1]
    close = [i for i, d in enumerate(diffs) if d.sum() <= paired_se(d)]  # best itself always is
    return float(candidates[close[0]])


def paired_se(diff: F64) -> float:
    """A standard error for ``diff.sum()``, ``diff`` being per-row gain differences of two
    choices on the same rows (zero-mean under the null that neither is better)."""
    return float(np.sqrt(float((diff**2).sum())))


# ---- choosing the blend ----------------------------------------------------------------------
@dataclass(frozen=True)
class BlendChoice:
    """What held-out rows say about combining the head with similarity."""

    weight: float
    temperature: float
    threshold: float
    score: float  # objective of this choice on the held-out rows
    similarity_score: float  # objective of similarity alone (weight 0), tuned the same way


def select_blend(
    similarity: F32,
    logits: F32 | None,
    labels: I64,
    weights: F64,
    prior: float,
    *,
    blend_weights: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    temperatures: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    guard: bool = True,
) -> BlendChoice:
    """Pick the head weight, temperature and global threshold (within [-1, 1]) maximising
    the objective.

    With ``guard`` the head must beat similarity alone by more than one paired standard error
    of the difference (per-row gains of both, same rows), else the weight is 0: a head that
    does not clearly help is not used. Without it, the best non-zero weight is returned.
    """

    def run(scores: F32, prior_t: float) -> tuple[float, F64]:
        top, gp, gr = _global_gains(scores, labels, weights)
        # a route threshold lives in [-1, 1]; blended scores may not: judge the one usable
        t = min(max(best_threshold(top, gp, gr, prior_t), -1.0), 1.0)
        return t, decision_gains(decide(scores, np.float32(t)), labels, weights)

    t0, g0 = run(similarity, prior)
    base = BlendChoice(0.0, 1.0, t0, float(g0.sum()), float(g0.sum()))
    if logits is None:
        return base
    best, best_gains = base, g0
    if not guard:
        best_gains = np.full_like(g0, -np.inf)
    for temp in temperatures:
        terms = head_terms(logits.astype(np.float32) * np.float32(temp))
        for a in blend_weights:
            if a == 0:
                continue
            t, gains = run(blend_scores(similarity, terms, a), prior)
            if gains.sum() > best_gains.sum() + 1e-12:
                best, best_gains = BlendChoice(a, temp, t, float(gains.sum()), base.score), gains
    if not guard:
        return best
    if best.weight > 0 and (best_gains - g0).sum() <= paired_se(best_gains - g0):
        return base
    return best
