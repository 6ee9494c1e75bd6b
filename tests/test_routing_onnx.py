"""The router with the real default encoder (all-MiniLM-L6-v2 int8 from PyPI, offline)."""

from __future__ import annotations

import pytest

from fingerpost import Route, SemanticRouter
from fingerpost.encoders import OnnxEncoder

from .conftest import CHITCHAT, POLITICS


@pytest.fixture(scope="module")
def onnx() -> OnnxEncoder:
    return OnnxEncoder()


@pytest.fixture(scope="module")
def seed_router(onnx: OnnxEncoder) -> SemanticRouter:
    return SemanticRouter(
        routes=[
            Route(name="politics", utterances=POLITICS),
            Route(name="chitchat", utterances=CHITCHAT),
        ],
        encoder=onnx,
    )


def test_default_router_needs_no_arguments_beyond_routes() -> None:
    router = SemanticRouter(routes=[Route(name="politics", utterances=POLITICS)])
    assert isinstance(router.encoder, OnnxEncoder)
    assert router("don't you just love the president?").name == "politics"


def test_guardrail_catches_dont_you_love_politics(
    seed_router: SemanticRouter, onnx: OnnxEncoder
) -> None:
    choice = seed_router("don't you love politics?")
    assert choice.name == "politics"
    assert (
        choice.similarity_score is not None
        and choice.similarity_score >= seed_router.score_threshold
    )
    # averaging over the route's utterances (what a mean over top-5 does with this seed
    # route) falls under 0.5 and misses it; the best single match does not.
    sims = onnx(["don't you love politics?"]) @ onnx(POLITICS).T
    assert sims.mean() < 0.5 < sims.max()


def test_off_topic_turns_route_nowhere(seed_router: SemanticRouter) -> None:
    for turn in ["what is 2+2?", "write a haiku about databases", "explain how a compiler works"]:
        assert seed_router(turn).name is None, turn


def test_chitchat_routes(seed_router: SemanticRouter) -> None:
    assert seed_router("how are you doing today?").name == "chitchat"
    assert seed_router("isn't the weather lovely").name == "chitchat"


def test_passing_route_is_not_hidden_by_a_strict_routes_near_misses(onnx: OnnxEncoder) -> None:
    """Five near misses of a strict route must not hide a lenient route that passes."""
    strict = Route(
        name="forecast",
        utterances=[
            "weather forecast for today",
            "what will the weather be today",
            "today's weather forecast please",
            "forecast for today's weather",
            "is it going to rain today",
            "weather report for today",
        ],
        score_threshold=0.99,
    )
    lenient = Route(
        name="smalltalk", utterances=["lovely weather we're having"], score_threshold=0.3
    )
    router = SemanticRouter(routes=[strict, lenient], encoder=onnx, centroid_weight=0.0)
    turn = "what is the weather forecast for today"
    sims = onnx([turn]) @ onnx(strict.utterances + lenient.utterances).T
    assert (sims[0, :6] > sims[0, 6]).sum() >= 5  # the strict route fills the global top-5
    assert router(turn).name == "smalltalk"


def test_batch_equals_singles_with_the_real_encoder(seed_router: SemanticRouter) -> None:
    turns = [
        "don't you just hate the president",
        "lovely day",
        "what is 2+2?",
        "tell me your politics",
        "how's it going mate",
        "the government will ruin us all",
    ]
    singles = [seed_router(t) for t in turns]
    batched = seed_router.batch(turns)
    assert [c.name for c in batched] == [c.name for c in singles]
    for b, s in zip(batched, singles, strict=True):
        if s.name:
            assert b.similarity_score == pytest.approx(s.similarity_score, abs=1e-4)
