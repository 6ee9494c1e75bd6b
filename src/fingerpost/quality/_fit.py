"""Pure numpy: the route head, a softmax on frozen embeddings, and how it joins similarity.

No router, no I/O, no threads: arrays in, arrays out, equal inputs give equal outputs. What the
head is chosen by (held-out objective, thresholds, blend weight) lives in ``_thresholds``.

Why these choices should carry over to datasets nobody here has seen (nothing below is a constant
fitted to one benchmark):

* The head is multinomial logistic regression on *whitened* embeddings. Whitening with the
  within-route covariance, shrunk by the Ledoit-Wolf formula (analytic, from the data itself),
  makes the problem well conditioned, so L-BFGS converges in tens of iterations, and gives one
  L2 strength the same meaning for every encoder and dimension.
* Every route carries the same total training weight: how many utterances an author wrote for
  a route says nothing about how often users ask for it.
* The head joins similarity as a product of experts: ``score = similarity + a * log p``. Its
  log-probabilities keep the head's whole ranking of routes at any weight (a probability
  blend flattens it: a small weight, which out-of-scope rejection wants, threw the ranking
  away), while similarity stays the distance an out-of-scope turn is far by, and a passing
  score is never above its similarity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._types import F32

__all__ = [
    "BLENDS",
    "HEAD_FORMAT",
    "LOG_FLOOR",
    "SoftmaxHead",
    "class_balanced_weights",
    "head_terms",
    "lbfgs",
    "ledoit_wolf_shrinkage",
    "log_softmax",
    "softmax",
    "softmax_objective",
    "train_head",
    "train_softmax",
    "whitening",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

HEAD_FORMAT = 2  # 1: probability blend (still read); 2: log-probability blend
BLENDS = ("logprob", "prob")
# log p is floored here: far-off routes stay finite and only ever lose.
LOG_FLOOR = float(np.log(1e-9))
MAX_HEAD_WEIGHT = 1e6  # far above any trained head; far below float32 overflow in a score


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
    """A fitted route head: ``terms`` is what it adds to each route's similarity for a turn
    (``predict_proba``: the route probabilities themselves).

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
        return head_terms(
            (queries @ self.coef + self.intercept).astype(np.float32, copy=False), self.blend
        )

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
        blend: str = "logprob",
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
                "blend": blend,
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
        # A trained head's weights are O(10); huge ones overflow every score to NaN.
        if (
            max(float(np.abs(coef).max(initial=0)), float(np.abs(intercept).max(initial=0)))
            > MAX_HEAD_WEIGHT
        ):
            raise ValueError(f"head weights must be within +-{MAX_HEAD_WEIGHT:g}")
        weight = float(data["weight"])
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"head weight must be within [0, 1], got {weight}")
        thr = data.get("threshold")
        return cls(
            classes=classes,
            coef=np.ascontiguousarray(coef.T),
            intercept=intercept,
            weight=weight,
            temperature=_positive_finite(data.get("temperature", 1.0), "temperature"),
            l2=float(data.get("l2", 1e-3)),
            threshold=None if thr is None else float(thr),
            blend=str(blend),
        )


def _f32_list(arr: F64 | F32) -> list[Any]:
    """The shortest decimals that read back as the same float32 values (compact JSON/YAML)."""
    out: list[Any] = np.asarray(arr, dtype=np.float32).astype(str).astype(np.float64).tolist()
    return out


def class_balanced_weights(labels: I64, n_classes: int) -> F64:
    """Row weights under which every class present carries the same total (summing to 1)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return 1.0 / (counts[labels] * np.count_nonzero(counts))


def train_head(
    vectors: F32,
    labels: I64,
    classes: Sequence[str],
    *,
    l2: float,
    weight: float,
    temperature: float,
    threshold: float | None = None,
    init: F64 | None = None,
    blend: str = "logprob",
) -> SoftmaxHead:
    """Whiten, train class-balanced (:func:`train_softmax`), fold: a head ready to publish
    (``blend``: how it joins similarity; a retrain keeps the blend its weight was tuned for)."""
    n_classes = len(classes)
    mean, proj = whitening(vectors, labels)
    params, _ = train_softmax(
        ((vectors - mean) @ proj).astype(np.float32),
        labels,
        n_classes,
        l2=l2,
        init=init,
        sample_weight=class_balanced_weights(labels, n_classes),
    )
    return SoftmaxHead.from_params(
        classes,
        params,
        mean,
        proj,
        weight=weight,
        temperature=temperature,
        l2=l2,
        threshold=threshold,
        blend=blend,
    )


def _positive_finite(value: object, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")
    ):
        raise ValueError(f"head {what} must be a positive finite number, got {value!r}")
    return float(value)
