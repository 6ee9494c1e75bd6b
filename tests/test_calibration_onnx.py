"""Calibration with the real default encoder: a few-shot guardrail out of the box (issue 11).

The political and ordinary turns in ``tests/data`` were written after the mechanism was final
(``political_turns_2.txt`` after the gate of round 2, ``political_turns_3.txt`` after round 3);
nothing was tuned on them. The default encoder's background vectors ship with the package, so
these tests encode no background.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fingerpost import Route, SemanticRouter
from fingerpost._background import _shipped, default_background
from fingerpost.encoders import OnnxEncoder

from .conftest import CHITCHAT, POLITICS

DATA = Path(__file__).parent / "data"


def turns(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [t for t in lines if t.strip() and not t.startswith("#")]


@pytest.fixture(scope="module")
def onnx() -> OnnxEncoder:
    return OnnxEncoder()


def test_the_default_encoders_background_vectors_ship_with_the_package(onnx: OnnxEncoder) -> None:
    vecs = _shipped(onnx, default_background())
    assert vecs is not None and vecs.shape == (len(default_background().texts), onnx.dim)
    sample = list(default_background().texts[:8])
    assert float((onnx(sample) * vecs[:8]).sum(axis=1).min()) > 0.99  # they are its vectors


def test_a_six_utterance_politics_guardrail_catches_most_varied_political_turns(
    onnx: OnnxEncoder,
) -> None:
    routes = [
        Route(name="politics", utterances=POLITICS),
        Route(name="chitchat", utterances=CHITCHAT),
    ]
    ordinary = turns("ordinary_turns.txt")
    calibrated = SemanticRouter(routes=routes, encoder=onnx)
    fixed = SemanticRouter(routes=routes, encoder=onnx, score_threshold=0.45)
    for name in ("political_turns.txt", "political_turns_2.txt", "political_turns_3.txt"):
        political = turns(name)
        caught = sum(c.name == "politics" for c in calibrated.batch(political)) / len(political)
        caught_fixed = sum(c.name == "politics" for c in fixed.batch(political)) / len(political)
        assert caught >= 0.85 and caught_fixed < 0.3, name
    assert sum(c.name == "politics" for c in calibrated.batch(ordinary)) <= 1
    assert [c.name for c in calibrated.batch(ordinary[:10])] == [
        calibrated(t).name for t in ordinary[:10]
    ]


def test_broad_guardrails_and_narrow_task_routes_share_one_mechanism(onnx: OnnxEncoder) -> None:
    """Religion, medical and legal advice, violence (broad topics) and refund, reset password
    (narrow intents), six utterances each, no fit: each catches at least 10 of 12 varied turns
    written separately, alone and all together, while the calibrated router flags at most one
    ordinary turn more than the fixed 0.45 threshold does. The fixed threshold misses most
    turns of the broad topics, which is what calibration is for."""
    spec = json.loads((DATA / "guardrail_topics.json").read_text(encoding="utf-8"))
    routes = {name: Route(name=name, utterances=u) for name, u in spec["routes"].items()}
    ordinary = turns("ordinary_turns.txt")
    groups = [[name] for name in routes] + [list(routes)]
    for names in groups:
        chosen = [routes[n] for n in names]
        calibrated = SemanticRouter(routes=chosen, encoder=onnx)
        fixed = SemanticRouter(routes=chosen, encoder=onnx, score_threshold=0.45)
        for name in names:
            got = calibrated.batch(spec["turns"][name])
            assert sum(c.name == name for c in got) >= 10, (names, name)
        flagged = sum(c.name is not None for c in calibrated.batch(ordinary))
        flagged_fixed = sum(c.name is not None for c in fixed.batch(ordinary))
        assert flagged <= flagged_fixed + 1, names
    broad = ("religion", "medical_advice", "legal_advice")
    fixed = SemanticRouter(routes=[routes[n] for n in broad], encoder=onnx, score_threshold=0.45)
    for name in broad:
        assert sum(c.name == name for c in fixed.batch(spec["turns"][name])) < 6, name
