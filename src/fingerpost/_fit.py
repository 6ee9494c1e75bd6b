"""Pure numpy fitting: a softmax route head on frozen embeddings, and threshold search.

No router, no I/O, no threads: arrays in, arrays out, equal inputs give equal outputs.

Why these choices should carry over to datasets nobody here has seen (nothing below is a constant
fitted to one benchmark):

* The head is multinomial logistic regression on *whitened* embeddings. Whitening with the
  within-route covariance, shrunk by the Ledoit-Wolf formula (analytic, from the data itself),
  makes the problem well conditioned, so L-BFGS converges in tens of iterations, and gives one
  L2 strength the same meaning for every encoder and dimension.
* The head joins similarity as a product of experts: ``score = similarity + a * log p``. Its
  log-probabilities keep the head's whole ranking of routes at any weight (a probability
  blend flattens it: a small weight, which out-of-scope rejection wants, threw the ranking
  away), while similarity stays the distance an out-of-scope turn is far by, and a passing
  score is never above its similarity.
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BlendChoice",
    "SoftmaxHead",
    "best_threshold",
    "blend_scores",
    "decide",
    "decision_gains",
    "head_terms",
    "lbfgs",
    "ledoit_wolf_shrinkage",
    "log_softmax",
    "objective_weights",
    "per_route_thresholds",
    "select_blend",
    "select_route_shrinkage",
    "softmax",
    "softmax_objective",
    "stratified_folds",
    "train_softmax",
    "whitening",
]

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

HEAD_FORMAT = 2  # 1: probability blend (still read); 2: log-probability blend
BLENDS = ("logprob", "prob")
# log p is floored here: far-off routes stay finite and only ever lose.
LOG_FLOOR = float(np.log(1e-9))


# ---- optimisation ----------------------------------------------------------------------------
def lbfgs(
    fun: Callable[[F64], tuple[float, F64]],
    x0: F64,
    *,
    max_iter: int = 300,
    gtol: float = 1e-5,
    ftol: float = 1e-10,
    memory: int = 10,
) -> tuple[F64, int]:
    """Minimise a smooth function with L-BFGS and a backtracking (Armijo) line search.

    Returns:
        ``(x, iterations)``. Deterministic: no randomness, a fixed iteration budget.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    s_hist: list[F64] = []
    y_hist: list[F64] = []
    it = 0
    for it in range(1, max_iter + 1):
        if float(np.abs(g).max()) <= gtol:
            return x, it - 1
        d = _two_loop(g, s_hist, y_hist)
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0 if s_hist else 1.0 / max(1.0, float(np.abs(g).max()))
        for _ in range(40):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            return x, it
        s, y = x_new - x, g_new - g
        if float(s @ y) > 1e-12:
            s_hist.append(s)
            y_hist.append(y)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        done = f - f_new <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x, it


def _two_loop(g: F64, s_hist: Sequence[F64], y_hist: Sequence[F64]) -> F64:
    q = -g
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
        rho = 1.0 / float(y @ s)
        a = rho * float(s @ q)
        q = q - a * y
        alphas.append((rho, a, s, y))
    if s_hist:
        q = q * (float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1]))
    for rho, a, s, y in reversed(alphas):
        q = q + s * (a - rho * float(y @ q))
    return q


# ---- features --------------------------------------------------------------------------------
def ledoit_wolf_shrinkage(centered: F64) -> float:
    """Ledoit-Wolf (2004) optimal shrinkage of a covariance towards a scaled identity.

    ``centered`` holds rows with their mean removed. 0 keeps the sample covariance, 1 replaces
    it by ``trace / dim * I``.
    """
    n, d = centered.shape
    if n < 2:
        return 1.0
    sq = centered**2
    cov = centered.T @ centered / n
    mu = float(np.trace(cov)) / d
    delta = (float((cov**2).sum()) - 2 * mu * float(np.trace(cov)) + d * mu**2) / d
    beta = (float((sq.T @ sq).sum()) / n - float((cov**2).sum())) / (d * n)
    if delta <= 0:
        return 1.0
    return float(min(max(beta, 0.0), delta) / delta)


def whitening(vectors: F32, labels: I64, weights: F64 | None = None) -> tuple[F64, F64]:
    """Mean and projection that whiten the within-class covariance (Ledoit-Wolf shrunk).

    Returns:
        ``(mean (d,), proj (d, d))``: ``(x - mean) @ proj`` has identity within-class
        covariance, up to shrinkage.
    """
    x = vectors.astype(np.float64)
    n, d = x.shape
    w = np.ones(n) if weights is None else weights
    n_cls = int(labels.max()) + 1 if n else 0
    sums = np.zeros((n_cls, d))
    np.add.at(sums, labels, x * w[:, None])
    mass = np.bincount(labels, weights=w, minlength=n_cls)
    means = sums / np.maximum(mass, 1e-12)[:, None]
    resid = x - means[labels]
    shrink = ledoit_wolf_shrinkage(resid)
    cov = resid.T @ resid / max(n, 1)
    target = max(float(np.trace(cov)) / d, 1e-12)
    evals, evecs = np.linalg.eigh((1 - shrink) * cov + shrink * target * np.eye(d))
    proj = evecs / np.sqrt(np.maximum(evals, 1e-6 * target))
    mean = (x * w[:, None]).sum(0) / max(float(w.sum()), 1e-12)
    return mean, proj


# ---- the head --------------------------------------------------------------------------------
def softmax(logits: F32) -> F32:
    """Row-wise softmax (a new array; float32 in, float32 out)."""
    z: F32 = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def log_softmax(logits: F32) -> F32:
    """Row-wise log-softmax (a new array; float32 in, float32 out)."""
    z: F32 = logits - logits.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


def head_terms(logits: F32, blend: str = "logprob") -> F32:
    """What a head adds to similarity: ``log p`` (floored at :data:`LOG_FLOOR`) or ``p``."""
    if blend == "prob":
        return softmax(logits)
    out: F32 = np.maximum(log_softmax(logits), np.float32(LOG_FLOOR))
    return out


def softmax_objective(
    features: F32,
    labels: I64,
    n_classes: int,
    l2: float,
    sample_weight: F64 | None = None,
) -> Callable[[F64], tuple[float, F64]]:
    """``theta -> (loss, gradient)`` of ``weighted mean log-loss + l2 / 2 * ||W||^2``.

    ``theta`` is the raveled ``(d + 1, C)`` parameter matrix: weights, then the intercept row
    (not penalised). Matrix products run in float32 (the features' precision), sums in float64.
    """
    n, d = features.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    w32 = (w / w.sum()).astype(np.float32)
    rows = np.arange(n)

    def fun(theta: F64) -> tuple[float, F64]:
        params = theta.reshape(d + 1, n_classes)
        logits = features @ params[:d].astype(np.float32) + params[d].astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        norm = logits.sum(axis=1)
        p_true = logits[rows, labels] / norm
        loss = -float(w32 @ np.log(np.maximum(p_true, 1e-30), dtype=np.float64))
        loss += 0.5 * l2 * float((params[:d] ** 2).sum())
        logits /= norm[:, None]
        logits[rows, labels] -= 1.0
        logits *= w32[:, None]
        grad = np.empty((d + 1, n_classes))
        grad[:d] = features.T @ logits
        grad[:d] += l2 * params[:d]
        grad[d] = logits.sum(axis=0)
        return loss, grad.ravel()

    return fun


def train_softmax(
    features: F32,
    labels: I64,
    n_classes: int,
    *,
    l2: float,
    sample_weight: F64 | None = None,
    init: F64 | None = None,
    max_iter: int = 300,
    gtol: float = 1e-4,
) -> tuple[F64, int]:
    """Multinomial logistic regression (see :func:`softmax_objective`), L-BFGS from ``init``.

    ``gtol`` bounds the largest gradient entry at convergence; on whitened features 1e-4 is
    past the point where held-out accuracy changes.

    Returns:
        ``(params (d + 1, C), iterations)``.
    """
    d = features.shape[1]
    fun = softmax_objective(features, labels, n_classes, l2, sample_weight)
    x0 = np.zeros((d + 1) * n_classes) if init is None else init.ravel()
    theta, iters = lbfgs(fun, x0, max_iter=max_iter, gtol=gtol)
    return theta.reshape(d + 1, n_classes), iters


@dataclass(frozen=True, eq=False)
class SoftmaxHead:
    """A fitted route head: ``predict_proba`` gives each route's probability for a turn.

    ``coef``/``intercept`` act on the router's unit vectors directly (whitening and temperature
    are folded in), so scoring a turn is one small matrix product.

    Attributes:
        classes: Route names, one per column.
        coef: ``(d, C)`` float32.
        intercept: ``(C,)`` float32.
        weight: ``a`` in ``score = similarity + a * log p`` (``blend="logprob"``), or in
            ``(1 - a) * similarity + a * p`` (``"prob"``, heads saved by fingerpost 0.1.0).
        temperature: Logit scale chosen on held-out data (already folded into coef/intercept).
        l2: The L2 strength it was trained with (a retrain reuses it).
        threshold: The fitted global threshold, for routes that join the head in a retrain.
    """

    classes: tuple[str, ...]
    coef: F32 = field(repr=False)
    intercept: F32 = field(repr=False)
    weight: float
    temperature: float = 1.0
    l2: float = 1e-3
    threshold: float | None = None
    blend: str = "logprob"

    def predict_proba(self, queries: F32) -> F32:
        return softmax(queries @ self.coef + self.intercept).astype(np.float32, copy=False)

    def terms(self, queries: F32) -> F32:
        """``(b, C)``: what this head adds to each route's similarity (see :func:`head_terms`)."""
        return head_terms((queries @ self.coef + self.intercept).astype(np.float32, copy=False), self.blend)

    def scale(self) -> float:
        """The factor on similarity where this head applies: ``1 - a`` (prob) or 1 (logprob)."""
        return 1.0 - self.weight if self.blend == "prob" else 1.0

    @classmethod
    def from_params(
        cls,
        classes: Sequence[str],
        params: F64,
        mean: F64,
        proj: F64,
        *,
        weight: float,
        temperature: float,
        l2: float,
        threshold: float | None = None,
    ) -> SoftmaxHead:
        """Fold whitening and temperature into raw-space weights, rounded to float32 once so
        that a head rebuilt from its dict scores exactly like this one."""
        d = proj.shape[0]
        coef = temperature * (proj @ params[:d])
        intercept = temperature * (params[d] - mean @ proj @ params[:d])
        return cls.from_dict(
            {
                "format": HEAD_FORMAT,
                "kind": "softmax",
                "classes": list(classes),
                "coef": _f32_list(coef.T),
                "intercept": _f32_list(intercept),
                "weight": float(weight),
                "temperature": float(temperature),
                "l2": float(l2),
                "threshold": threshold,
                "blend": "logprob",
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``coef`` is one list per class (``C x d``), float32-exact decimals."""
        return {
            "format": HEAD_FORMAT,
            "kind": "softmax",
            "classes": list(self.classes),
            "coef": _f32_list(self.coef.T),
            "intercept": _f32_list(self.intercept),
            "weight": self.weight,
            "temperature": self.temperature,
            "l2": self.l2,
            "threshold": self.threshold,
            "blend": self.blend,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SoftmaxHead:
        """Rebuild a head; ``ValueError`` if the dict is not a head this version can read."""
        fmt = data.get("format")
        if data.get("kind") != "softmax" or fmt not in (1, HEAD_FORMAT):
            raise ValueError(f"unknown head kind/format {data.get('kind')!r}/{fmt!r}")
        blend = "prob" if fmt == 1 else data.get("blend")
        if blend not in BLENDS:
            raise ValueError(f"unknown head blend {blend!r}")
        classes = tuple(str(c) for c in data["classes"])
        coef = np.asarray(data["coef"], dtype=np.float32)
        intercept = np.asarray(data["intercept"], dtype=np.float32)
        if coef.ndim != 2 or coef.shape[0] != len(classes) or intercept.shape != (len(classes),):
            raise ValueError("head weights do not match its classes")
        if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ValueError("head weights must be finite")
        weight = float(data["weight"])
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"head weight must be within [0, 1], got {weight}")
        thr = data.get("threshold")
        return cls(
            classes=classes,
            coef=np.ascontiguousarray(coef.T),
            intercept=intercept,
            weight=weight,
            temperature=float(data.get("temperature", 1.0)),
            l2=float(data.get("l2", 1e-3)),
            threshold=None if thr is None else float(thr),
            blend=str(blend),
        )


def _f32_list(arr: F64 | F32) -> list[Any]:
    """The shortest decimals that read back as the same float32 values (compact JSON/YAML)."""
    out: list[Any] = np.asarray(arr, dtype=np.float32).astype(str).astype(np.float64).tolist()
    return out


# ---- decisions and objectives ----------------------------------------------------------------
def blend_scores(similarity: F32, terms: F32 | None, weight: float, blend: str = "logprob") -> F32:
    """``similarity + a * log p`` (or ``(1 - a) * similarity + a * p``), as the router computes
    it; ``terms`` come from :func:`head_terms`."""
    if terms is None or weight == 0:
        return similarity
    a = np.float32(weight)
    keep = (1 - a) if blend == "prob" else np.float32(1)
    return (keep * similarity + a * terms).astype(np.float32)


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
    "mostly their own"; the global threshold wins ties, so noise never buys per-route ones.
    """
    n, n_routes = scores.shape
    if n < 2 * k or n_routes < 2 or not (labels < 0).any():
        return float("inf")
    per_route = n / n_routes
    candidates = [float("inf"), 4 * per_route, per_route, per_route / 4]
    folds = stratified_folds(np.where(labels < 0, -1, 0), k)
    totals = np.zeros(len(candidates))
    for f in range(k):
        tr, te = folds != f, folds == f
        w_tr = weights[tr] / max(float(weights[tr].sum()), 1e-12)
        for i, m in enumerate(candidates):
            thr = per_route_thresholds(scores[tr], labels[tr], w_tr, global_threshold, m)
            totals[i] += decision_gains(decide(scores[te], thr.astype(np.float32)), labels[te], weights[te]).sum()
    return float(candidates[int(np.argmax(totals))])


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
    """Pick the head weight, temperature and global threshold maximising the objective.

    With ``guard`` the head must beat similarity alone by more than one paired standard error
    of the difference (per-row gains of both, same rows), else the weight is 0: a head that
    does not clearly help is not used. Without it, the best non-zero weight is returned.
    """

    def run(scores: F32, prior_t: float) -> tuple[float, F64]:
        top, gp, gr = _global_gains(scores, labels, weights)
        t = best_threshold(top, gp, gr, prior_t)
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
    diff = best_gains - g0
    if best.weight > 0 and diff.sum() <= np.sqrt(float((diff**2).sum())):
        return base
    return best
