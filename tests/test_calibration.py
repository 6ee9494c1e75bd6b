"""Calibration by default (issue 11): thresholds from how ordinary turns score against a route."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from fingerpost import (
    InvalidInputError,
    Route,
    RouterConfig,
    SemanticRouter,
    _background,
    _calibrator,
)
from fingerpost._calibration import calibrated_threshold, leave_one_out, route_score
from fingerpost._table import ScoringSettings
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

SUBJECTS = ["my alarm", "the weather", "a pasta recipe", "my flight", "the music", "my calendar",
            "the thermostat", "a taxi", "my shopping list", "the news", "a restaurant", "my car"]
VERBS = ["check", "change", "tell me about", "cancel", "find", "set up", "show me", "remind me about"]
ORDINARY = [f"{v} {s}" for v, s in itertools.product(VERBS, SUBJECTS)]  # 96 ordinary turns

CARD = [
    "when will my new card arrive",
    "my card still has not arrived",
    "how long until my card arrives in the mail",
    "has my card been shipped yet",
]
# the card topic is in the background too: turns much like the route's own
CARD_IN_BACKGROUND = [
    f"{a} my {b} card {c}"
    for a, b, c in itertools.product(
        ["when will", "why has", "how long until"], ["new", "replacement", "debit"],
        ["arrive", "not arrived yet", "arrive in the mail", "be shipped"],
    )
]  # 36 turns: more than 1 % of the background


def fresh(texts: list[str], tag: str) -> list[str]:
    """A background no other test uses (the vector cache is keyed by content)."""
    return [*texts, f"calibration test background {tag}"]


def settings() -> ScoringSettings:
    return ScoringSettings()


# ---- the pure function -----------------------------------------------------------------------
def test_the_threshold_lets_through_at_most_the_target_share_of_the_background(encoder: HashEncoder) -> None:
    """Of the background turns outside the route's neighbourhood (scoring below its own
    utterances' leave-one-out median), at most the target share pass."""
    route = encoder(["book a table for two", "reserve a restaurant table", "a table for two please"])
    bg = encoder(ORDINARY)
    scores = route_score(route, bg, settings())
    outside = scores < float(np.median(leave_one_out(route, settings())))
    assert outside.sum() > 50
    uncapped = ScoringSettings(score_threshold=1.0)  # the router's default caps it otherwise
    for fpr in (0.01, 0.05, 0.2):
        t = calibrated_threshold(route, bg, uncapped, fpr)
        assert float((scores[outside] >= t).mean()) <= fpr
        assert calibrated_threshold(route, bg, settings(), fpr) == min(t, settings().score_threshold)
    assert calibrated_threshold(route, bg, settings(), 0.01) >= calibrated_threshold(route, bg, settings(), 0.2)


def test_the_threshold_never_exceeds_the_default_and_a_loose_route_keeps_the_target(encoder: HashEncoder) -> None:
    route = encoder(CARD)
    t = calibrated_threshold(route, encoder(ORDINARY + CARD_IN_BACKGROUND), settings(), 0.01)
    assert t <= settings().score_threshold
    # examples unrelated to each other: the whole background is "inside" the neighbourhood,
    # yet at most twice the target of it passes
    loose = encoder(["order a pizza", "the stock market crashed", "my knee hurts"])
    bg = encoder(ORDINARY * 10)
    uncapped = ScoringSettings(score_threshold=1.0)
    t = calibrated_threshold(loose, bg, uncapped, 0.05)
    assert float((route_score(loose, bg, uncapped) >= t).mean()) <= 2 * 0.05


def test_card_arrival_stays_reachable_when_its_topic_is_in_the_background(encoder: HashEncoder) -> None:
    """The background holds 36 card-arrival turns (over 1 % of it): counted as ordinary,
    they would lift the threshold above the route's own turns. They sit inside the route's
    neighbourhood, so they are left out, and new card-arrival turns still reach the route."""
    background = fresh(ORDINARY * 30 + CARD_IN_BACKGROUND, "card")  # 2,917 turns
    route = encoder(CARD)
    bg = encoder(background)
    t = calibrated_threshold(route, bg, settings(), 0.01)
    unguarded = float(np.quantile(route_score(route, bg, settings()), 0.99, method="higher"))
    held_out = ["when will my card arrive", "my new card has not arrived", "has the card been shipped",
                "my replacement card has not arrived"]
    scores = route_score(route, encoder(held_out), settings())
    assert t < unguarded
    assert (scores >= t).all()
    assert (scores < unguarded).any()  # without the exclusion, the route would lose some
    router = SemanticRouter(routes=[Route(name="card_arrival", utterances=CARD)], encoder=encoder,
                            background=background)
    assert [c.name for c in router.batch(held_out)] == ["card_arrival"] * len(held_out)
    assert router.get_thresholds()["card_arrival"] == pytest.approx(t, abs=1e-6)


# ---- the router ------------------------------------------------------------------------------
def test_precedence_explicit_then_fit_then_calibrated_then_fixed(seed_routes: list[Route], encoder: HashEncoder) -> None:
    explicit = Route(name="billing", utterances=["I need a refund", "why was I charged twice"], score_threshold=0.8)
    router = SemanticRouter(routes=[*seed_routes, explicit], encoder=encoder)
    thr = router.get_thresholds()
    assert thr["billing"] == 0.8
    assert thr["politics"] != router.score_threshold and thr["chitchat"] != router.score_threshold
    assert all(-1.0 <= thr[n] <= router.score_threshold for n in ("politics", "chitchat"))
    report = router.fit(["who do you vote for", "nice day", "refund me"], ["politics", "chitchat", "billing"])
    assert router.get_thresholds() == report.thresholds  # fit overrides calibration
    fixed = SemanticRouter(routes=seed_routes, encoder=encoder, score_threshold=0.45)
    assert fixed.get_thresholds() == {"politics": 0.45, "chitchat": 0.45}
    router.set_threshold(0.5)  # a fixed router-wide threshold turns calibration off
    router.update("politics", score_threshold=None)
    assert router.get_thresholds()["politics"] == 0.5


def test_a_route_target_fpr_wins_over_the_routers(encoder: HashEncoder) -> None:
    bg = fresh(ORDINARY * 10, "target")
    utts = ["book a table for two", "reserve a restaurant table", "a table at a restaurant"]
    router = SemanticRouter(
        routes=[Route(name="a", utterances=utts), Route(name="b", utterances=utts, target_fpr=0.3)],
        encoder=encoder, background=bg, target_fpr=0.001,
    )
    thr = router.get_thresholds()
    assert thr["b"] < thr["a"]


def test_bad_calibration_arguments_are_refused(encoder: HashEncoder) -> None:
    with pytest.raises(InvalidInputError):
        SemanticRouter(encoder=encoder, score_threshold=0.5, target_fpr=0.01)
    with pytest.raises(InvalidInputError):
        SemanticRouter(encoder=encoder, target_fpr=0.0)
    with pytest.raises(InvalidInputError):
        SemanticRouter(encoder=encoder, background=[])
    with pytest.raises(InvalidInputError):
        Route(name="x", utterances=["y"], target_fpr=0.9)


def test_a_router_that_needs_no_calibration_never_encodes_the_background() -> None:
    enc = HashEncoder(name="lazy-hash")
    routes = [Route(name="a", utterances=["hello there"], score_threshold=0.5)]
    SemanticRouter(routes=routes, encoder=enc, background=fresh(ORDINARY, "lazy"))
    assert enc.encoded == 1
    SemanticRouter(routes=routes, encoder=enc, score_threshold=0.4).add(Route(name="b", utterances=["hi"]))
    assert enc.encoded == 1 + 1 + 1


def test_the_background_is_encoded_once_per_encoder_and_cached_on_disk(
    seed_routes: list[Route], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINGERPOST_CACHE_DIR", str(tmp_path))
    bg = fresh(ORDINARY, "cache")
    enc = HashEncoder(name="counting-hash")
    utterances = sum(len(r.utterances) for r in seed_routes)
    a = SemanticRouter(routes=seed_routes, encoder=enc, background=bg)
    b = SemanticRouter(routes=seed_routes, encoder=enc, background=bg)
    assert enc.encoded == 2 * utterances + len(bg)  # the background once, for both routers
    assert a.get_thresholds() == b.get_thresholds()
    assert list(tmp_path.glob("background-*.npy"))
    monkeypatch.setattr(_background, "_memory", {})  # a new process: the disk cache answers
    monkeypatch.setattr(_calibrator, "_memo", {})
    before = enc.encoded
    c = SemanticRouter(routes=seed_routes, encoder=enc, background=bg)
    assert enc.encoded == before + utterances
    assert c.get_thresholds() == a.get_thresholds()


def test_a_custom_background_changes_thresholds_and_is_named_in_the_config(
    seed_routes: list[Route], encoder: HashEncoder
) -> None:
    political = fresh([f"{a} {b}" for a, b in itertools.product(
        ["who will win", "what about", "tell me about", "I hate"],
        ["the election", "the president", "the party", "the vote", "politics"])] + ORDINARY, "politics")
    default = SemanticRouter(routes=seed_routes, encoder=encoder)
    custom = SemanticRouter(routes=seed_routes, encoder=encoder, background=political)
    assert custom.get_thresholds()["politics"] != default.get_thresholds()["politics"]
    cfg = custom.to_config()
    assert cfg.calibration is not None and cfg.calibration.background.startswith("custom:")
    assert default.to_config().calibration.background.startswith("clinc150")  # type: ignore[union-attr]


def test_configs_keep_calibrated_thresholds_and_reuse_them_without_the_background(
    seed_routes: list[Route], monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = HashEncoder(name="config-hash")
    bg = fresh(ORDINARY, "config")
    router = SemanticRouter(routes=seed_routes, encoder=enc, background=bg, target_fpr=0.05)
    text = router.to_yaml()
    cfg = RouterConfig.from_yaml(text)
    assert cfg.score_threshold is None and cfg.target_fpr == 0.05
    assert cfg.calibration is not None and set(cfg.calibration.thresholds) == {"politics", "chitchat"}
    monkeypatch.setattr(_background, "_memory", {})
    monkeypatch.setattr(_calibrator, "_memo", {})
    before = enc.encoded
    again = SemanticRouter.from_yaml(text, encoder=enc, background=bg)
    assert enc.encoded - before == sum(len(r.utterances) for r in seed_routes)  # routes only
    assert again.get_thresholds() == pytest.approx(router.get_thresholds(), abs=1e-6)


def test_a_store_keeps_calibrated_thresholds_and_their_background_across_reopen(
    seed_routes: list[Route], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = HashEncoder(name="store-hash")
    bg = fresh(ORDINARY, "store")
    path = tmp_path / "routes.db"
    with SemanticRouter(routes=seed_routes, encoder=enc, index=LocalIndex(path), background=bg) as router:
        thresholds = router.get_thresholds()
        bg_id = router._local.calibrator.background.id  # type: ignore[union-attr]
    monkeypatch.setattr(_background, "_memory", {})
    monkeypatch.setattr(_calibrator, "_memo", {})
    monkeypatch.setenv("FINGERPOST_CACHE_DIR", str(tmp_path / "empty-cache"))
    enc.encoded = 0
    with SemanticRouter(encoder=enc, index=LocalIndex(path), background=bg) as again:
        assert again.get_thresholds() == pytest.approx(thresholds, abs=1e-6)
        assert enc.encoded == 0  # no route and no background encoded
        record = again._local.get_meta("calibration/politics")
        assert record["background"] == bg_id
        again.add(Route(name="food", utterances=["order a pizza", "i want sushi"]))
        # the background's vectors came from the store, not from an encoding
        assert enc.encoded == 2


def test_hot_writes_recalibrate_only_the_routes_they_touch(
    seed_routes: list[Route], encoder: HashEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = SemanticRouter(routes=seed_routes, encoder=encoder, background=fresh(ORDINARY, "hot"))
    calls: list[int] = []
    real = _calibrator.calibrated_threshold

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_calibrator, "calibrated_threshold", counting)
    before = router.get_thresholds()
    router.add(Route(name="food", utterances=["order a pizza", "i want sushi"]))
    assert len(calls) == 1
    router.update("food", utterances=["order a pizza", "i want sushi", "get me a burger"])
    assert len(calls) == 2
    router.update("chitchat", metadata={"x": 1})  # same utterances: the saved threshold holds
    router.delete("food")
    assert len(calls) == 2
    assert router.get_thresholds() == before


def test_agents_sharing_a_remote_calibrate_alike(seed_routes: list[Route], encoder: HashEncoder) -> None:
    """Each agent calibrates its own mirror from the same background (a remote does not store
    calibrated thresholds): a route one agent adds gets the same threshold in every agent."""
    from .sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    bg = fresh(ORDINARY, "remote")
    writer = SemanticRouter(routes=seed_routes, encoder=encoder, index=remote, auto_sync="local", background=bg)
    reader = SemanticRouter(encoder=encoder, index=remote, auto_sync="remote", background=bg)
    writer.add(Route(name="food", utterances=["order a pizza", "i want sushi"]))
    reader.refresh()
    assert reader.get_thresholds() == writer.get_thresholds()
    assert writer.get_thresholds()["food"] < writer.score_threshold
    assert all(p.utterance.score_threshold is None for p in remote.points.values())
