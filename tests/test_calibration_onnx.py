"""Calibration with the real default encoder: a few-shot guardrail out of the box (issue 11).

The political and ordinary turns in ``tests/data`` were written after the mechanism was final
(``political_turns_2.txt`` after the gate of round 2, ``political_turns_3.txt`` after round 3,
``political_turns_4.txt`` and ``ordinary_turns_2.txt`` after round 4); nothing was tuned on
them. The default encoder's background vectors ship with the package, so
these tests encode no background.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route, SemanticRouter
from fingerpost._background import _shipped, default_background
from fingerpost._calibration import fit_gate
from fingerpost.encoders import OnnxEncoder
from fingerpost.engine._table import ScoringSettings

from .conftest import CHITCHAT, POLITICS

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).parent / "fixtures"


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
    ordinary = turns("ordinary_turns.txt") + turns("ordinary_turns_2.txt")
    calibrated = SemanticRouter(routes=routes, encoder=onnx)
    fixed = SemanticRouter(routes=routes, encoder=onnx, score_threshold=0.45)
    lists = [f"political_turns{n}.txt" for n in ("", "_2", "_3", "_4")]
    for name in lists:
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


def test_a_gate_does_not_pass_topics_its_background_lacks(onnx: OnnxEncoder) -> None:
    """Regression: the route's neighbourhood was cut out of the background and nothing put in
    its place, so the gate learned to pass what the background lacks, and turns of a topic
    missing from the background (a user's own traffic) passed at about twice the target.

    Leave each CLINC150 domain out of the shipped background in turn (its turns are then new
    to the gate, as a user's are) and fit 5-utterance routes of the other domains at a 1 %
    target: on average at most 1.5 % of the left-out domain's turns pass (2.2 % before the
    neighbourhood joined the route's class; 0.9 % after)."""
    domains = json.loads((FIXTURES / "clinc150_domains.json").read_text(encoding="utf-8"))
    intents = sorted(i for names in domains.values() for i in names)
    background = _shipped(onnx, default_background())
    assert background is not None and background.shape[0] == 20 * len(intents) + 100
    rows = {intent: np.arange(20 * k, 20 * k + 20) for k, intent in enumerate(intents)}

    def of(domain: str) -> np.ndarray:
        return np.concatenate([rows[i] for i in domains[domain]])

    settings = ScoringSettings()
    new_topic, own_topic = [], []
    for left_out in domains:
        for topic in domains:
            if topic == left_out:
                continue
            # one turn of every third intent of the topic: 5 utterances from 5 intents
            route = np.array([rows[i][0] for i in sorted(domains[topic])[::3]])
            keep = np.ones(background.shape[0], dtype=bool)
            keep[of(left_out)] = False
            keep[route] = False
            gate = fit_gate(background[route], background[keep], settings, 0.01)
            assert gate is not None
            level = gate.cutoff(1)
            new_topic.append(
                float((background[of(left_out)] @ gate.weights + gate.bias > level).mean())
            )
            rest = np.setdiff1d(of(topic), route)
            own_topic.append(float((background[rest] @ gate.weights + gate.bias > level).mean()))
    assert float(np.mean(new_topic)) <= 0.015
    assert float(np.mean(own_topic)) >= 0.3  # the routes still reach their own topics


# A bank's traffic, one domain: 800 distinct turns (10 x 20 x 4)
BANK_ASKS = [
    "what's my",
    "check my",
    "show me my",
    "I need to see my",
    "how do I change my",
    "can you update my",
    "tell me about my",
    "where do I find my",
    "help me with my",
    "is there a problem with my",
]
BANK_THINGS = [
    "account balance",
    "savings account",
    "checking account",
    "routing number",
    "card pin",
    "credit limit",
    "last transaction",
    "direct deposit",
    "overdraft fee",
    "interest rate",
    "monthly statement",
    "debit card",
    "wire transfer",
    "bank transfer",
    "mortgage payment",
    "loan application",
    "bill payment",
    "account number",
    "joint account",
    "spending this month",
]
BANK_TAILS = ["", " please", " today", " right now"]


def test_a_users_own_one_domain_background_joins_the_shipped_corpus(onnx: OnnxEncoder) -> None:
    """Regression: ``background=`` replaced the shipped corpus, so a user who passed their own
    traffic, typically one domain (here a bank's 800 turns), got gates that had only learned
    "not banking": the seed's routes flagged 108 of the 110 written ordinary turns (coding,
    shopping, recipes...), 26 of them as politics. The user's turns now join the shipped
    corpus, and a level holds the target on the whole and on the shipped corpus alone."""
    bank = [f"{a} {b}{c}" for a in BANK_ASKS for b in BANK_THINGS for c in BANK_TAILS]
    routes = [
        Route(name="politics", utterances=POLITICS),
        Route(name="chitchat", utterances=CHITCHAT),
    ]
    ordinary = turns("ordinary_turns.txt") + turns("ordinary_turns_2.txt")
    political = turns("political_turns_4.txt")
    shipped = SemanticRouter(routes=routes, encoder=onnx)
    own = SemanticRouter(routes=routes, encoder=onnx, background=bank)
    flagged = [c.name for c in own.batch(ordinary)]
    assert flagged.count("politics") == 0
    assert (
        sum(n is not None for n in flagged)
        <= sum(c.name is not None for c in shipped.batch(ordinary)) + 1
    )
    assert sum(c.name == "politics" for c in own.batch(political)) >= 0.85 * len(political)
    # the bank's own turns stay ordinary (none of them is political)
    assert sum(c.name == "politics" for c in own.batch(bank)) <= 0.01 * len(bank)
    state = own.to_config().calibration  # the config names both corpora
    assert state is not None and state.background.startswith(default_background().id + "+")
