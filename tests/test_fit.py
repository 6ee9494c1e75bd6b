"""The pure fitting math: no router, no model, no threads."""

from __future__ import annotations

import numpy as np
import pytest

from fingerpost.engine._scoring import passing_routes
from fingerpost.quality import _fit as F
from fingerpost.quality import _thresholds as T
from fingerpost.schema import Aggregation


def blobs(
    n_per: int, n_cls: int, dim: int, spread: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``n_cls`` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_cls, dim))
    y = np.repeat(np.arange(n_cls), n_per)
    x = centres[y] + spread * rng.standard_normal((y.size, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


# ---- optimisation ----------------------------------------------------------------------------
def test_lbfgs_solves_an_ill_conditioned_quadratic() -> None:
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    a = q @ np.diag(np.logspace(0, 3, 20)) @ q.T
    b = rng.standard_normal(20)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(0.5 * x @ a @ x - b @ x), a @ x - b

    x, iters = F.lbfgs(fun, np.zeros(20), max_iter=500, gtol=1e-9, ftol=0.0)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-5, atol=1e-6)
    assert 0 < iters < 500


def test_softmax_objective_gradient_matches_finite_differences() -> None:
    x, y = blobs(4, 3, 5, 0.5)
    w = np.linspace(0.5, 2.0, y.size)
    fun = F.softmax_objective(x, y, 3, l2=0.1, sample_weight=w)
    theta = np.random.default_rng(2).standard_normal(6 * 3) * 0.3
    _, grad = fun(theta)
    eps = 1e-3
    numeric = np.array(
        [
            (fun(theta + eps * e)[0] - fun(theta - eps * e)[0]) / (2 * eps)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(grad, numeric, atol=2e-4)


def test_train_softmax_learns_and_is_deterministic() -> None:
    x, y = blobs(30, 4, 16, 0.6)
    p1, it1 = F.train_softmax(x, y, 4, l2=1e-3)
    p2, it2 = F.train_softmax(x, y, 4, l2=1e-3)
    assert it1 == it2
    np.testing.assert_array_equal(p1, p2)
    acc = ((x @ p1[:-1] + p1[-1]).argmax(1) == y).mean()
    assert acc > 0.95
    # stronger L2 gives smaller weights; a warm start converges in fewer iterations
    strong, _ = F.train_softmax(x, y, 4, l2=1.0)
    assert np.linalg.norm(strong[:-1]) < np.linalg.norm(p1[:-1])
    _, warm_iters = F.train_softmax(x, y, 4, l2=1e-3, init=p1)
    assert warm_iters < it1


# ---- features --------------------------------------------------------------------------------
def test_ledoit_wolf_shrinks_more_when_data_are_scarce() -> None:
    rng = np.random.default_rng(3)
    scales = np.logspace(0, 1.5, 30)
    many = rng.standard_normal((5000, 30)) * scales
    few = rng.standard_normal((10, 30)) * scales
    s_many = F.ledoit_wolf_shrinkage(many - many.mean(0))
    s_few = F.ledoit_wolf_shrinkage(few - few.mean(0))
    assert 0.0 <= s_many < 0.05 < s_few <= 1.0
    iso = rng.standard_normal((40, 30))
    assert F.ledoit_wolf_shrinkage(iso - iso.mean(0)) > 0.5  # truly spherical: shrink a lot
    assert F.ledoit_wolf_shrinkage(np.zeros((1, 3))) == 1.0


def test_whitening_makes_within_class_covariance_nearly_the_identity() -> None:
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(3), 4000)
    means = rng.standard_normal((3, 6)) * 5
    x = (means[y] + rng.standard_normal((y.size, 6)) * np.array([0.1, 0.5, 1, 2, 4, 8])).astype(
        np.float32
    )
    mean, proj = F.whitening(x, y)
    z = (x - mean) @ proj
    resid = z - np.stack([z[y == c].mean(0) for c in range(3)])[y]
    cov = resid.T @ resid / y.size
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-6)
    # the raw condition number is 6400; shrinkage keeps a little of the isotropic target
    assert np.linalg.cond(cov) < 2 and np.diag(cov).max() < 1.01


# ---- the head --------------------------------------------------------------------------------
def make_head(seed: int = 0) -> tuple[F.SoftmaxHead, np.ndarray, np.ndarray]:
    x, y = blobs(20, 3, 12, 0.7, seed)
    mean, proj = F.whitening(x, y)
    params, _ = F.train_softmax(((x - mean) @ proj).astype(np.float32), y, 3, l2=1e-2)
    head = F.SoftmaxHead.from_params(
        ("a", "b", "c"), params, mean, proj, weight=0.4, temperature=0.5, l2=1e-2, threshold=0.3
    )
    return head, x, y


def test_head_folds_whitening_and_temperature_into_raw_weights() -> None:
    x, y = blobs(20, 3, 12, 0.7)
    mean, proj = F.whitening(x, y)
    params, _ = F.train_softmax(((x - mean) @ proj).astype(np.float32), y, 3, l2=1e-2)
    head = F.SoftmaxHead.from_params(
        ("a", "b", "c"), params, mean, proj, weight=0.4, temperature=0.5, l2=1e-2
    )
    logits = ((x - mean) @ proj) @ params[:-1] + params[-1]
    expected = F.softmax((0.5 * logits).astype(np.float32))
    proba = head.predict_proba(x)
    assert proba.dtype == np.float32 and proba.shape == (x.shape[0], 3)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)


def test_head_dict_round_trip_is_exact_and_json_able() -> None:
    import json

    head, x, _ = make_head()
    data = json.loads(json.dumps(head.to_dict()))
    again = F.SoftmaxHead.from_dict(data)
    assert again.classes == head.classes and again.weight == head.weight
    assert again.threshold == head.threshold and again.l2 == head.l2
    np.testing.assert_array_equal(again.predict_proba(x), head.predict_proba(x))
    assert again.to_dict() == data


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "tree"},
        {"format": 99},
        {"coef": [[0.0, 1.0]]},
        {"intercept": [0.0]},
        {"weight": 1.5},
        {"coef": [[float("nan")] * 12] * 3},
    ],
)
def test_head_from_dict_refuses_what_it_cannot_read(change: dict[str, object]) -> None:
    head, _, _ = make_head()
    with pytest.raises(ValueError):
        F.SoftmaxHead.from_dict({**head.to_dict(), **change})


# ---- decisions, objectives, thresholds -------------------------------------------------------
def test_decide_matches_the_routers_passing_rule() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(-0.2, 1, size=(300, 6)).astype(np.float32)
    scores[::7, 2] = scores[::7, 4]  # ties go to the lower slot
    thr = rng.uniform(0.3, 0.9, size=6).astype(np.float32)
    got = T.decide(scores, thr)
    starts = np.arange(6, dtype=np.int64)
    for row, g in zip(scores, got, strict=True):
        slots, _ = passing_routes(row, starts, np.ones(6, bool), thr, 1, Aggregation.MAX)
        assert g == (slots[0] if slots.size else -1)


def test_objective_weights() -> None:
    labels = np.array([0, 1, 1, -1])
    w = T.objective_weights(labels, "balanced")
    assert w.sum() == pytest.approx(1.0) and w[3] == pytest.approx(0.5)
    assert T.objective_weights(labels, "accuracy").tolist() == [0.25] * 4
    assert T.objective_weights(np.array([0, 1]), "balanced").tolist() == [0.5, 0.5]
    with pytest.raises(ValueError):
        T.objective_weights(labels, "f1")


def test_best_threshold_sits_inside_the_gap() -> None:
    pass_scores = np.linspace(0.6, 0.9, 30)
    reject_scores = np.linspace(0.1, 0.4, 30)
    top = np.concatenate([pass_scores, reject_scores])
    gp = np.concatenate([np.ones(30), np.zeros(30)])
    gr = 1 - gp
    t = T.best_threshold(top, gp, gr, prior=0.0)
    assert 0.4 < t < 0.6
    assert abs(t - 0.5) < 0.05  # symmetric groups: the middle
    assert T.best_threshold(top, gp, gr, prior=0.0) == t  # deterministic


def test_best_threshold_moves_only_as_far_as_the_evidence() -> None:
    top = np.array([0.5, 0.7, 0.8])
    ones, zeros = np.ones(3), np.zeros(3)
    # nothing to reject: never raise the threshold; lower it just enough to keep every pass
    assert T.best_threshold(top, ones, zeros, prior=0.3) == 0.3
    lowered = T.best_threshold(top, ones, zeros, prior=0.6)
    assert lowered < 0.5
    # nothing to pass: never lower it
    assert T.best_threshold(top, zeros, ones, prior=0.9) == 0.9
    assert T.best_threshold(top, zeros, ones, prior=0.2) > 0.8
    # rows that gain nothing either way change nothing
    assert T.best_threshold(top, zeros, zeros, prior=0.42) == 0.42


def test_per_route_thresholds_shrink_towards_the_global_one() -> None:
    rng = np.random.default_rng(6)
    n = 400
    labels = rng.integers(0, 2, n)
    labels[rng.random(n) < 0.3] = -1
    scores = rng.uniform(0, 0.3, (n, 2)).astype(np.float32)
    # route 0's in-scope turns score ~0.8 and its out-of-scope look-alikes ~0.6;
    # route 1's in-scope ~0.5 and look-alikes ~0.3
    for r, hi in enumerate([0.8, 0.5]):
        scores[labels == r, r] = hi + rng.normal(0, 0.03, (labels == r).sum())
    oos = np.flatnonzero(labels < 0)
    scores[oos[::2], 0] = 0.6 + rng.normal(0, 0.03, oos[::2].size)
    scores[oos[1::2], 1] = 0.3 + rng.normal(0, 0.03, oos[1::2].size)
    w = T.objective_weights(labels)
    glob = T.per_route_thresholds(scores, labels, w, 0.45, float("inf"))
    assert glob.tolist() == [0.45, 0.45]
    own = T.per_route_thresholds(scores, labels, w, 0.45, 0.0)
    assert 0.6 < own[0] < 0.8 and 0.3 < own[1] < 0.5
    half = T.per_route_thresholds(scores, labels, w, 0.45, float((labels >= -1).sum() / 4))
    assert 0.45 < half[0] < own[0] and own[1] < half[1] < 0.45
    # cross-validation prefers route thresholds here, and refuses them without negatives
    assert np.isfinite(T.select_route_shrinkage(scores, labels, w, 0.45))
    ins = labels >= 0
    assert T.select_route_shrinkage(scores[ins], labels[ins], w[ins], 0.45) == float("inf")


def test_route_thresholds_are_not_bought_by_noise() -> None:
    """Every route alike: one threshold fits all, and per-route ones only fit noise. The
    one-standard-error rule keeps the global threshold on most draws (picking the best CV
    total did so on 6 of these 20)."""
    finite = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 6, 300)
        labels[rng.random(300) < 0.2] = -1
        scores = rng.uniform(0, 0.6, (300, 6)).astype(np.float32)
        for r in range(6):
            scores[labels == r, r] += 0.25
        w = T.objective_weights(labels)
        top, gain_pass, gain_reject = T._global_gains(scores, labels, w)
        t = T.best_threshold(top, gain_pass, gain_reject, 0.45)
        finite += bool(np.isfinite(T.select_route_shrinkage(scores, labels, w, t)))
    assert finite <= 5


def test_stratified_folds_are_balanced_and_deterministic() -> None:
    labels = np.array([0] * 10 + [1] * 7 + [-1] * 3)
    folds = T.stratified_folds(labels, 3)
    assert folds.tolist() == T.stratified_folds(labels, 3).tolist()
    for lab in (0, 1, -1):
        counts = np.bincount(folds[labels == lab], minlength=3)
        assert counts.max() - counts.min() <= 1


# ---- choosing the blend ----------------------------------------------------------------------
def blend_problem(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Similarity right 70 % of the time; logits of a head that is right 95 % of the time."""
    rng = np.random.default_rng(seed)
    n, c = 600, 5
    labels = rng.integers(0, c, n)
    labels[:100] = -1
    sim = rng.uniform(0.1, 0.4, (n, c)).astype(np.float32)
    ins = np.flatnonzero(labels >= 0)
    good_sim = ins[rng.random(ins.size) < 0.7]
    sim[good_sim, labels[good_sim]] = 0.6
    bad_sim = np.setdiff1d(ins, good_sim)
    sim[bad_sim, (labels[bad_sim] + 1) % c] = 0.55
    logits = rng.normal(0, 1, (n, c)).astype(np.float32)
    good = ins[rng.random(ins.size) < 0.95]
    logits[good, labels[good]] += 6
    return sim, logits, labels, T.objective_weights(labels)


def test_select_blend_uses_a_head_that_helps() -> None:
    sim, logits, labels, w = blend_problem()
    choice = T.select_blend(sim, logits, labels, w, prior=0.45)
    assert choice.weight > 0
    assert choice.score > choice.similarity_score + 0.05


def test_select_blend_keeps_weight_zero_for_a_head_that_does_not_help() -> None:
    sim, _, labels, w = blend_problem()
    noise = np.random.default_rng(8).normal(0, 1, sim.shape).astype(np.float32)
    choice = T.select_blend(sim, noise, labels, w, prior=0.45)
    assert choice.weight == 0 and choice.score == choice.similarity_score
    forced = T.select_blend(sim, noise, labels, w, prior=0.45, blend_weights=(0.5,), guard=False)
    assert forced.weight == 0.5


def test_select_blend_keeps_the_threshold_within_a_route_thresholds_range() -> None:
    # a diffident head over 20 routes: with a = 1 in-scope turns score about -2.2 and
    # out-of-scope ones -3, so the best threshold, unconstrained, sits near -2.6: below -1,
    # where no route threshold can be
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 20, 200)
    labels[:40] = -1
    sim = rng.uniform(-0.05, 0.05, (200, 20)).astype(np.float32)
    logits = np.zeros((200, 20), dtype=np.float32)
    ins = np.flatnonzero(labels >= 0)
    logits[ins, labels[ins]] = 1.0
    w = T.objective_weights(labels)
    choice = T.select_blend(sim, logits, labels, w, prior=0.45, blend_weights=(1.0,), guard=False)
    assert choice.weight == 1.0 and -1.0 <= choice.threshold <= 1.0
    scores = T.blend_scores(sim, F.head_terms(logits * np.float32(choice.temperature)), 1.0)
    judged = T.decision_gains(T.decide(scores, np.float32(choice.threshold)), labels, w).sum()
    assert choice.score == pytest.approx(judged)  # judged at the threshold it will use


def test_blend_scores() -> None:
    sim = np.array([[0.2, 0.8]], dtype=np.float32)
    assert T.blend_scores(sim, None, 0.5) is sim
    # product of experts: similarity + a * log p (the default)
    log_p = np.log(np.array([[0.5, 0.25]], dtype=np.float32))
    np.testing.assert_allclose(
        T.blend_scores(sim, log_p, 0.25),
        [[0.2 + 0.25 * np.log(0.5), 0.8 + 0.25 * np.log(0.25)]],
        atol=1e-6,
    )
    # the probability blend of heads saved by fingerpost 0.1.0
    proba = np.array([[1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(T.blend_scores(sim, proba, 0.25, "prob"), [[0.4, 0.6]], atol=1e-7)


def test_head_terms_are_floored_log_probabilities_that_keep_the_ranking() -> None:
    logits = np.array([[3.0, 1.0, -200.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    terms = F.head_terms(logits)
    np.testing.assert_allclose(np.exp(terms[:, :2]), F.softmax(logits)[:, :2], rtol=1e-5)
    assert terms[0, 2] == np.float32(F.LOG_FLOOR) and (terms <= 0).all()
    # a small weight flattens a probability blend, never the log-probability one
    sim = np.array([[0.50, 0.52, 0.0]], dtype=np.float32)
    assert T.blend_scores(sim, terms[:1], 0.05).argmax() == 0
    assert T.blend_scores(sim, F.head_terms(logits[:1], "prob"), 0.005, "prob").argmax() == 1
    np.testing.assert_array_equal(F.head_terms(logits, "prob"), F.softmax(logits))


def test_a_head_saved_by_0_1_0_still_scores_as_it_did() -> None:
    head, x, _ = make_head()
    old = {k: v for k, v in head.to_dict().items() if k != "blend"}
    old["format"] = 1
    again = F.SoftmaxHead.from_dict(old)
    assert again.blend == "prob" and again.scale() == pytest.approx(1 - head.weight)
    np.testing.assert_array_equal(again.terms(x), head.predict_proba(x))
    assert head.blend == "logprob" and head.scale() == 1.0
    np.testing.assert_allclose(np.exp(head.terms(x)), head.predict_proba(x), rtol=1e-4)
    with pytest.raises(ValueError, match="blend"):
        F.SoftmaxHead.from_dict({**head.to_dict(), "blend": "sum"})
