"""router.fit / router.evaluate and the fitted state's life: saving, restoring, going stale."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fingerpost import (
    EncoderMismatchError,
    InvalidInputError,
    Route,
    RouteNotFoundError,
    RouterConfig,
    SemanticRouter,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex
from fingerpost.quality import FitTarget
from fingerpost.quality import _evaluate as E
from fingerpost.quality import _fit_state as S
from fingerpost.quality import _quality as Q
from fingerpost.quality._fit import SoftmaxHead
from fingerpost.schema import FitState

from .conftest import CHITCHAT, POLITICS

ROUTES = {
    "weather": [
        "what's the weather like today",
        "will it rain tomorrow",
        "is it sunny outside",
        "weather forecast for the weekend",
        "how cold is it going to be",
        "do i need an umbrella",
        "is there a storm coming",
        "how hot will it get this afternoon",
    ],
    "music": [
        "play some music",
        "put on my favourite playlist",
        "play the latest song by adele",
        "skip this track",
        "turn the music up",
        "play some jazz for me",
        "what song is this",
        "shuffle my playlist",
    ],
    "cooking": [
        "how do i cook rice",
        "give me a recipe for pancakes",
        "what can i cook for dinner",
        "how long do i boil an egg",
        "easy pasta recipe",
        "how to bake bread at home",
        "what temperature to roast a chicken",
        "vegetarian dinner recipe ideas",
    ],
    "travel": [
        "book a flight to paris",
        "find me a hotel in rome",
        "how much is a train ticket to berlin",
        "cheap flights next month",
        "book a hotel room for two nights",
        "i need a rental car",
        "what's the best time to travel to japan",
        "cancel my flight booking",
    ],
}
FIT = [
    ("is it going to rain today", "weather"),
    ("what's the forecast for tomorrow", "weather"),
    ("will it be sunny this weekend", "weather"),
    ("how windy is it outside", "weather"),
    ("play a song i like", "music"),
    ("put on some rock music", "music"),
    ("next track please", "music"),
    ("play my workout playlist", "music"),
    ("recipe for chocolate cake", "cooking"),
    ("how do i cook pasta", "cooking"),
    ("what should i make for dinner tonight", "cooking"),
    ("how to roast vegetables", "cooking"),
    ("book me a flight to london", "travel"),
    ("find a cheap hotel in madrid", "travel"),
    ("train tickets to vienna", "travel"),
    ("rent a car for the weekend", "travel"),
    ("what is the capital of peru", None),
    ("tell me a joke", None),
    ("how many legs does a spider have", None),
    ("what's my bank balance", None),
    ("set an alarm for 7am", None),
    ("who won the football game", None),
]
TEST = [
    ("is it raining in london", "weather"),
    ("weather tomorrow morning", "weather"),
    ("will it snow this week", "weather"),
    ("play something relaxing", "music"),
    ("play the new taylor swift song", "music"),
    ("turn up the playlist", "music"),
    ("how to cook salmon", "cooking"),
    ("pancake recipe please", "cooking"),
    ("dinner ideas with chicken", "cooking"),
    ("flights to new york", "travel"),
    ("book a hotel near the beach", "travel"),
    ("car rental at the airport", "travel"),
    ("what is the square root of nine", None),
    ("call my mother", None),
    ("how tall is mount everest", None),
    ("translate hello into french", None),
]

# These tests are about fit and its state: a fixed router-wide threshold, no calibration.
FIXED = 0.45


def routes() -> list[Route]:
    return [Route(name=n, utterances=u) for n, u in ROUTES.items()]


def xy(rows: list[tuple[str, str | None]]) -> tuple[list[str], list[str | None]]:
    return [t for t, _ in rows], [g for _, g in rows]


@pytest.fixture
def router(encoder: HashEncoder) -> SemanticRouter:
    return SemanticRouter(score_threshold=FIXED, routes=routes(), encoder=encoder)


def assert_same_answers(got: list[Any], want: list[Any]) -> None:
    """Same routes, same scores up to float32 rounding (BLAS kernels may differ in the last bit
    between a table built by writes and one rebuilt from a config or a store)."""
    assert [c.name for c in got] == [c.name for c in want]
    assert [c.similarity_score for c in got] == pytest.approx(
        [c.similarity_score for c in want], abs=1e-6
    )


def head_of(router: SemanticRouter) -> SoftmaxHead | None:
    head = router._local.snapshot().extras.get("head")
    assert head is None or isinstance(head, SoftmaxHead)
    return head


# ---- evaluate ----------------------------------------------------------------------------------
def test_evaluate_counts_none_labels_as_correct_when_nothing_routes(router: SemanticRouter) -> None:
    X, y = xy(TEST)
    choices = router.batch(X)
    expected = sum(c.name == g for c, g in zip(choices, y, strict=True)) / len(X)
    assert router.evaluate(X, y) == pytest.approx(expected)
    report = E.evaluation_report(router, X, y)
    assert report.n == 16 and report.n_in_scope == 12 and report.n_out_of_scope == 4
    assert report.accuracy == pytest.approx(expected)
    assert report.predicted == [c.name for c in choices]
    assert sum(n for n, _, _ in report.per_route.values()) == 12
    worst = report.worst_routes(2)
    assert len(worst) == 2 and worst[0][2] / worst[0][1] <= worst[1][2] / worst[1][1]


def test_evaluate_and_fit_refuse_bad_labelled_data(router: SemanticRouter) -> None:
    with pytest.raises(InvalidInputError):
        router.evaluate(["a", "b"], ["weather"])
    with pytest.raises(RouteNotFoundError):
        router.evaluate(["hello"], ["no such route"])
    with pytest.raises(InvalidInputError):
        router.evaluate([], [])
    with pytest.raises(InvalidInputError):
        router.fit(["hello"], "weather")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        router.fit(["hello"], ["weather"], objective="f1")
    with pytest.raises(InvalidInputError):
        router.fit(["hello"], ["weather"], head_weight=0.0)
    with pytest.raises(RouteNotFoundError):
        router.fit(["hello"], ["nope"])
    assert (
        S.fit_state_of(router._fit_target, router._local.snapshot()) is None
    )  # nothing was fitted


def test_fit_on_an_empty_router_is_refused(encoder: HashEncoder) -> None:
    with pytest.raises(InvalidInputError):
        SemanticRouter(score_threshold=FIXED, encoder=encoder).fit([], [])


def test_fit_over_a_remote_index_shares_thresholds_with_every_agent(encoder: HashEncoder) -> None:
    from .sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    router = SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=remote, auto_sync="local"
    )
    other = SemanticRouter(score_threshold=FIXED, encoder=encoder, index=remote, auto_sync="remote")
    local = SemanticRouter(score_threshold=FIXED, routes=routes(), encoder=encoder)
    want = local.fit(*xy(FIT), head=False).thresholds  # the same fit on a LocalIndex

    report = router.fit(*xy(FIT))
    assert report.head_weight == 0 and head_of(router) is None  # a head would not be shared
    assert report.thresholds == want and router.get_thresholds() == want
    stored = {p.utterance.route: p.utterance.score_threshold for p in remote.points.values()}
    assert stored == want  # every utterance of every route carries its route's threshold
    assert router.is_synced()
    assert other.refresh() and other.get_thresholds() == want
    X = xy(TEST)[0]
    assert [c.name for c in other.batch(X)] == [c.name for c in local.batch(X)]
    writes = len(remote.writes)
    router.fit(*xy(FIT))  # a refit that changes nothing writes nothing to the remote
    assert len(remote.writes) == writes


def test_a_remote_fit_does_not_undo_what_another_agent_wrote_meanwhile(
    encoder: HashEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fingerpost import SyncConflictError

    from .sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    router = SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=remote, auto_sync="local"
    )
    other = SemanticRouter(score_threshold=FIXED, encoder=encoder, index=remote, auto_sync="remote")
    real = Q._fit_arrays

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        if other.get("music") is not None and "play a podcast" not in other.get("music").utterances:  # type: ignore[union-attr]
            other.add_utterances("music", ["play a podcast"])
        return real(*args, **kwargs)

    monkeypatch.setattr(Q, "_fit_arrays", meanwhile)
    with pytest.raises(SyncConflictError):
        router.fit(*xy(FIT))
    assert all(
        t == router.score_threshold for t in router.get_thresholds().values()
    )  # nothing written
    report = router.fit(*xy(FIT))  # re-run: it reads the other agent's change and keeps it
    music = router.get("music")
    assert music is not None and "play a podcast" in music.utterances
    assert router.is_synced() and router.get_thresholds() == report.thresholds


def test_a_remote_fit_drops_a_head_that_came_with_a_config(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    from .sync.memory_remote import MemoryRemote

    router.fit(*xy(FIT), head_weight=0.5)
    shared = SemanticRouter.from_config(
        router.to_config(), encoder=encoder, index=MemoryRemote(), auto_sync="local"
    )  # type: ignore[arg-type]
    assert head_of(shared) is not None  # restored into the mirror, but never shared
    shared.fit(*xy(FIT))
    assert head_of(shared) is None  # thresholds now fit plain similarity: no head may blend in
    state = shared.to_config().fit_state
    assert state is not None and state.head is None and state.examples == {}


def test_fit_over_a_remote_refuses_what_it_cannot_share(encoder: HashEncoder) -> None:
    from .sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    router = SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=remote, auto_sync="local"
    )
    with pytest.raises(InvalidInputError, match="head"):
        router.fit(*xy(FIT), head_weight=0.5)
    thin = SemanticRouter(score_threshold=FIXED, encoder=encoder, index=remote, mirror=False)
    with pytest.raises(InvalidInputError, match="mirror"):
        thin.fit(*xy(FIT))
    assert router.is_synced() and all(
        t == router.score_threshold for t in router.get_thresholds().values()
    )


def test_a_remote_fit_that_fails_mid_write_can_be_rerun(encoder: HashEncoder) -> None:
    from fingerpost import RemoteUnavailableError

    from .sync.memory_remote import MemoryRemote

    remote = MemoryRemote()
    router = SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=remote, auto_sync="local"
    )
    before = router.get_thresholds()
    remote.fail_at = 1
    with pytest.raises(RemoteUnavailableError):
        router.fit(*xy(FIT))
    assert router.get_thresholds() == before  # the mirror took nothing from the failed write
    report = router.fit(*xy(FIT))
    assert router.is_synced() and router.get_thresholds() == report.thresholds
    assert {p.utterance.score_threshold for p in remote.points.values()} == set(
        report.thresholds.values()
    )


# ---- fit ---------------------------------------------------------------------------------------
def test_fit_improves_held_out_routing(router: SemanticRouter) -> None:
    X, y = xy(FIT)
    before = router.evaluate(*xy(TEST))
    report = router.fit(X, y)
    assert isinstance(report, Q.FitReport)
    assert report.objective == "balanced" and "cross-fitting" in report.validation
    assert report.after >= report.before
    assert set(report.thresholds) == set(ROUTES)
    assert router.get_thresholds() == report.thresholds
    after = router.evaluate(*xy(TEST))
    assert after > before


def test_fit_with_no_labelled_turns_is_refused(router: SemanticRouter) -> None:
    """Issue 10 defect 9: ``fit([], [])`` moved every threshold on no evidence at all."""
    before = router.get_thresholds()
    with pytest.raises(InvalidInputError):
        router.fit([], [])
    assert router.get_thresholds() == before


def test_fit_is_deterministic(encoder: HashEncoder) -> None:
    X, y = xy(FIT)
    a = SemanticRouter(score_threshold=FIXED, routes=routes(), encoder=encoder)
    b = SemanticRouter(score_threshold=FIXED, routes=routes(), encoder=encoder)
    ra, rb = a.fit(X, y, head_weight=0.5), b.fit(X, y, head_weight=0.5)
    assert ra.thresholds == rb.thresholds and ra.l2 == rb.l2 and ra.temperature == rb.temperature
    assert a.get_thresholds() == b.get_thresholds()
    ha, hb = head_of(a), head_of(b)
    assert ha is not None and hb is not None
    assert ha.to_dict() == hb.to_dict()
    assert a.fit(X, y, head_weight=0.5).thresholds == ra.thresholds  # a refit changes nothing


def test_fit_does_not_depend_on_the_order_routes_and_utterances_are_held_in(
    encoder: HashEncoder,
) -> None:
    # mirrors of one remote may hold routes and utterances in any order
    X, y = xy(FIT)
    a = SemanticRouter(score_threshold=FIXED, routes=routes(), encoder=encoder)
    shuffled = [Route(name=r.name, utterances=r.utterances[::-1]) for r in reversed(routes())]
    b = SemanticRouter(score_threshold=FIXED, routes=shuffled, encoder=encoder)
    ra, rb = a.fit(X, y), b.fit(X, y)
    assert ra.thresholds == rb.thresholds and (ra.l2, ra.head_weight) == (rb.l2, rb.head_weight)
    assert [c.name for c in a.batch(xy(TEST)[0])] == [c.name for c in b.batch(xy(TEST)[0])]


def test_forced_head_is_used_and_thresholds_only_fit_drops_it(router: SemanticRouter) -> None:
    X, y = xy(FIT)
    report = router.fit(X, y, head_weight=0.5)
    head = head_of(router)
    assert report.head_weight == 0.5 and head is not None and head.weight == 0.5
    assert set(head.classes) == set(ROUTES)
    # the routed score is the blend the head hook computes
    choice = router("will it rain on saturday")
    names, scores, _ = E.route_scores(
        router._fit_target, router._encode(["will it rain on saturday"])
    )
    assert choice.name == names[int(scores[0].argmax())]
    assert choice.similarity_score == pytest.approx(float(scores[0].max()), abs=1e-6)
    report = router.fit(X, y, head=False)
    assert report.head_weight == 0 and head_of(router) is None
    state = S.fit_state_of(router._fit_target, router._local.snapshot())
    assert state is not None and state.head is None and state.thresholds == report.thresholds


def test_few_shot_router_is_not_made_worse(seed_routes: list[Route], encoder: HashEncoder) -> None:
    router = SemanticRouter(score_threshold=FIXED, routes=seed_routes, encoder=encoder)
    fit = [
        ("do you like the president", "politics"),
        ("what are your political views", "politics"),
        ("how is the weather", "chitchat"),
        ("how are you doing today", "chitchat"),
        ("what is 2 plus 2", None),
        ("book a table for two", None),
    ]
    held_out = [
        ("the president is terrible", "politics"),
        ("tell me about your political opinions", "politics"),
        ("they will destroy the country", "politics"),
        ("lovely day today", "chitchat"),
        ("how's it going", "chitchat"),
        ("the weather is awful", "chitchat"),
        ("convert 10 miles to km", None),
        ("order a pizza", None),
        ("what time is it in tokyo", None),
    ]
    before = router.evaluate(*xy(held_out))
    report = router.fit(*xy(fit))
    assert "cross-fitting" in report.validation
    assert router.evaluate(*xy(held_out)) >= before
    assert router.evaluate(*xy(fit)) >= SemanticRouter(
        score_threshold=FIXED, routes=seed_routes, encoder=encoder
    ).evaluate(*xy(fit))


# ---- saving and restoring ------------------------------------------------------------------------
def test_config_round_trip_keeps_the_fit(router: SemanticRouter, encoder: HashEncoder) -> None:
    X, y = xy(FIT)
    router.fit(X, y, head_weight=0.5)
    config = router.to_config()
    assert config.fit_state is not None and config.fit_state.encoder_name == encoder.name
    assert config.fit_state.head is not None and config.fit_state.head["weight"] == 0.5
    for text in (config.to_yaml(), config.to_json()):
        loaded = (
            RouterConfig.from_yaml(text)
            if not text.startswith("{")
            else RouterConfig.from_json(text)
        )
        again = SemanticRouter.from_config(loaded, encoder=encoder)
        assert again.get_thresholds() == router.get_thresholds()
        h1, h2 = head_of(router), head_of(again)
        assert h1 is not None and h2 is not None and h2.to_dict() == h1.to_dict()
        tx = xy(TEST)[0]
        assert_same_answers(again.batch(tx), router.batch(tx))
        assert again.to_config() == config


def test_user_thresholds_set_after_a_fit_survive_a_round_trip(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    router.fit(*xy(FIT))
    router.set_threshold(0.9, "music")
    again = SemanticRouter.from_config(router.to_config(), encoder=encoder)
    assert again.get_thresholds()["music"] == 0.9


def test_store_reboot_keeps_the_fit(tmp_path: Path, encoder: HashEncoder) -> None:
    path = tmp_path / "routes.db"
    with SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=LocalIndex(path)
    ) as router:
        router.fit(*xy(FIT), head_weight=0.5)
        thresholds = router.get_thresholds()
        head = head_of(router)
        answers = router.batch(xy(TEST)[0])
    assert head is not None
    with SemanticRouter(score_threshold=FIXED, encoder=encoder, index=LocalIndex(path)) as rebooted:
        assert rebooted.get_thresholds() == thresholds
        again = head_of(rebooted)
        assert again is not None and again.to_dict() == head.to_dict()
        assert_same_answers(rebooted.batch(xy(TEST)[0]), answers)
        assert rebooted.wait_for_retrain(30)  # nothing was stale: nothing to wait for


def test_the_fit_examples_are_saved_in_scope_only_and_follow_the_routes(
    router: SemanticRouter,
) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    state = router.to_config().fit_state
    assert state is not None
    want: dict[str, list[str]] = {}
    for text, label in FIT:
        if label is not None:
            want.setdefault(label, []).append(text)
    assert state.examples == want
    router.delete("travel")
    assert router.wait_for_retrain(30)
    state = router.to_config().fit_state
    assert state is not None and set(state.examples) == set(want) - {"travel"}
    router.fit(*xy([r for r in FIT if r[1] != "travel"]), head=False)  # thresholds only: no head
    state = router.to_config().fit_state
    assert state is not None and state.head is None and state.examples == {}


def test_a_retrain_after_a_reboot_trains_on_the_fit_examples(
    tmp_path: Path, encoder: HashEncoder
) -> None:
    path = tmp_path / "routes.db"
    with SemanticRouter(
        score_threshold=FIXED, routes=routes(), encoder=encoder, index=LocalIndex(path)
    ) as router:
        router.fit(*xy(FIT), head_weight=0.5)
        config = router.to_config()
        router.add(NEW)  # retrained in this process: X's vectors are still in memory
        assert router.wait_for_retrain(30)
        in_process = head_of(router)
    assert in_process is not None and "sport" in in_process.classes
    assert config.fit_state is not None and config.fit_state.examples
    with SemanticRouter(
        score_threshold=FIXED, encoder=encoder, index=LocalIndex(path)
    ) as rebooted:  # the store keeps them
        state = rebooted.to_config().fit_state
        assert state is not None and state.examples == config.fit_state.examples

    def retrained_after_boot(cfg: RouterConfig) -> SoftmaxHead:
        again = SemanticRouter.from_config(cfg, encoder=encoder)
        again.add(NEW)
        assert again.wait_for_retrain(30)
        head = head_of(again)
        assert head is not None and head.classes == in_process.classes
        return head

    # a new process (config, or a store at the fit's state) retrains on exactly the same rows
    np.testing.assert_array_equal(retrained_after_boot(config).coef, in_process.coef)
    forgotten = RouterConfig(
        **{**config.model_dump(), "fit_state": {**config.fit_state.model_dump(), "examples": {}}}
    )
    assert not np.array_equal(retrained_after_boot(forgotten).coef, in_process.coef)


def test_a_head_saved_by_0_1_0_keeps_its_blend_through_a_retrain(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    config = router.to_config()
    assert config.fit_state is not None and config.fit_state.head is not None
    old_head = {k: v for k, v in config.fit_state.head.items() if k != "blend"}
    old_state = {**config.fit_state.model_dump(), "head": {**old_head, "format": 1}, "examples": {}}
    again = SemanticRouter.from_config(
        RouterConfig(**{**config.model_dump(), "fit_state": old_state}), encoder=encoder
    )
    head = head_of(again)
    assert head is not None and head.blend == "prob"
    again.add(NEW)
    assert again.wait_for_retrain(30)
    head = head_of(again)
    assert head is not None and "sport" in head.classes
    assert (
        head.blend == "prob" and head.weight == 0.5
    )  # its weight and thresholds were tuned for it


def test_fit_state_from_another_encoder_is_refused(router: SemanticRouter) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    state = router.to_config().fit_state
    assert state is not None
    with pytest.raises(EncoderMismatchError):
        S.restore_fit_state(
            router._fit_target, FitState(**{**state.model_dump(), "encoder_name": "other-model"})
        )
    other = SemanticRouter(
        score_threshold=FIXED,
        routes=routes(),
        encoder=HashEncoder(dim=64, name=router.encoder.name),
    )
    with pytest.raises(EncoderMismatchError):  # same name, other dimension
        S.restore_fit_state(other._fit_target, state)
    with pytest.raises(InvalidInputError):
        S.restore_fit_state(
            router._fit_target, FitState(encoder_name=router.encoder.name, head={"kind": "?"})
        )


# ---- a stale head ------------------------------------------------------------------------------
class Gate:
    """Holds background retrains until released, and counts them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.calls = 0
        real = S._retrain

        def gated(target: FitTarget, session: Any) -> None:
            self.entered.set()
            assert self.open.wait(30)
            self.calls += 1
            real(target, session)

        monkeypatch.setattr(S, "_retrain", gated)


NEW = Route(
    name="sport",
    utterances=[
        "who won the football match",
        "tennis scores today",
        "basketball results last night",
    ],
)


def test_new_routes_score_by_similarity_until_the_head_is_retrained(
    router: SemanticRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    fitted = router.get_thresholds()
    gate = Gate(monkeypatch)
    router.add(NEW)  # returns at once although the retrain is held
    head = head_of(router)
    assert head is not None and "sport" not in head.classes
    assert router.get_thresholds()["sport"] == router.score_threshold
    # meanwhile: the new route is reachable by similarity, old routes still route as before
    assert router("football match results").name == "sport"
    assert router("will it rain tomorrow").name == "weather"
    assert router("qwerty uiop asdf").name is None
    gate.open.set()
    assert router.wait_for_retrain(30)
    head = head_of(router)
    assert head is not None and "sport" in head.classes and gate.calls == 1
    assert head.weight == 0.5
    thresholds = router.get_thresholds()
    assert thresholds["sport"] == head.threshold
    assert {k: v for k, v in thresholds.items() if k != "sport"} == fitted
    assert router("football match results").name == "sport"
    assert router("will it rain tomorrow").name == "weather"


def test_a_burst_of_writes_coalesces_and_queries_never_wait(
    router: SemanticRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    gate = Gate(monkeypatch)
    router.add(NEW)
    assert gate.entered.wait(30)  # retrain 1 is running (held): what follows must queue
    for i in range(5):
        router.add(
            Route(name=f"extra {i}", utterances=[f"zebra quartz {i}", f"quartz zebra number {i}"])
        )
    router.delete("extra 0")
    router.update("music", utterances=[*ROUTES["music"], "play a podcast"])
    assert router("will it rain tomorrow").name == "weather"  # answered while retrain is held
    gate.open.set()
    assert router.wait_for_retrain(30)
    assert gate.calls == 2  # the held one, then ONE for everything that came meanwhile
    head = head_of(router)
    assert head is not None
    assert set(head.classes) == set(router.list_route_names())
    assert "extra 0" not in head.classes


def test_deleting_a_route_retrains_without_it(router: SemanticRouter) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    router.delete("travel")
    assert router("book a flight to rome").name != "travel"
    assert router.wait_for_retrain(30)
    head = head_of(router)
    assert head is not None and head.classes == tuple(router.list_route_names())
    assert router("will it rain tomorrow").name == "weather"


def test_a_restored_head_that_misses_routes_is_retrained(
    router: SemanticRouter, encoder: HashEncoder
) -> None:
    router.fit(*xy(FIT), head_weight=0.5)
    config = router.to_config()
    config = RouterConfig(**{**config.model_dump(), "routes": [*config.routes, NEW]})
    again = SemanticRouter.from_config(config, encoder=encoder)
    assert again.wait_for_retrain(30)
    head = head_of(again)
    assert head is not None and "sport" in head.classes
    assert again("football match results").name == "sport"


# ---- the real model ----------------------------------------------------------------------------
def test_fit_with_the_real_encoder() -> None:
    from fingerpost.encoders import OnnxEncoder

    encoder = OnnxEncoder()
    seed = [
        Route(name="politics", utterances=POLITICS),
        Route(name="chitchat", utterances=CHITCHAT),
        *routes(),
    ]
    router = SemanticRouter(score_threshold=FIXED, routes=seed, encoder=encoder)
    X, y = xy(FIT)
    tx, ty = xy(TEST)
    before = E.evaluation_report(router, tx, ty)
    report = router.fit(X, y)
    after = E.evaluation_report(router, tx, ty)
    assert after.accuracy >= before.accuracy
    assert after.in_scope_accuracy is not None and after.in_scope_accuracy >= 0.9
    assert report.thresholds == router.get_thresholds()
    again = SemanticRouter.from_config(router.to_config(), encoder=encoder)
    assert [c.name for c in again.batch(tx)] == after.predicted
    assert np.isfinite(list(report.thresholds.values())).all()
