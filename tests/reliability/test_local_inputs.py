"""Issue 10: wrong input is refused with typed errors, and shared objects are not shared.

Defects 4 (one bad turn fails its micro-batch), 7 (YAML alias bombs, unbounded nesting),
8 (the router kept the caller's Route objects), 9 (wrong input accepted) and the input half
of 10 (untyped errors).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from fingerpost import (
    EncoderError,
    FingerpostError,
    InvalidInputError,
    Route,
    RouterConfig,
    SemanticRouter,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex
from fingerpost.schema import MAX_JSON_BYTES, MAX_JSON_DEPTH

from ._local_helpers import ROUTES, router, state

pytestmark = pytest.mark.timeout(60)

GOOD = [f"will it rain today in town {i}" for i in range(30)]


# ---- defect 4: one bad turn, one failure ----------------------------------------------------


async def test_lone_surrogate_turn_fails_alone_among_concurrent_turns() -> None:
    r = router(routes=ROUTES)
    async with r:
        results = await asyncio.gather(
            *(r.acall(t) for t in GOOD[:15]),
            r.acall("bad \ud800"),
            *(r.acall(t) for t in GOOD[15:]),
            return_exceptions=True,
        )
    bad = results.pop(15)
    assert isinstance(bad, InvalidInputError)
    assert [c.name for c in results] == ["weather"] * 30  # type: ignore[union-attr]


def test_lone_surrogate_is_refused_everywhere_a_text_goes() -> None:
    r = router(routes=ROUTES)
    for call in (
        lambda: r("bad \ud800"),
        lambda: r.batch(["fine", "bad \ud800"]),
        lambda: r.add(Route(name="x\ud800", utterances=["ok"])),
        lambda: r.add(Route(name="x", utterances=["bad \ud800"])),
        lambda: r.add_utterances("food", ["bad \ud800"]),
        lambda: r.update("food", metadata={"k": "\ud800"}),
        lambda: r.update("food", description="\udfff"),
    ):
        with pytest.raises(InvalidInputError):
            call()


class PoisonEncoder(HashEncoder):
    """Fails any call whose texts include "poison", like a tokenizer that rejects one text."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:  # type: ignore[type-arg]
        self.batches.append(list(texts))
        if any("poison" in t for t in texts):
            raise EncoderError("tokenizer rejected a text")
        return super().encode(texts)


async def test_encoder_failure_is_isolated_to_the_turn_that_caused_it() -> None:
    enc = PoisonEncoder()
    r = SemanticRouter(routes=ROUTES, encoder=enc, score_threshold=0.3)
    async with r:
        results = await asyncio.gather(
            *(r.acall(t) for t in GOOD[:10]),
            r.acall("poison pill"),
            *(r.acall(t) for t in GOOD[10:]),
            return_exceptions=True,
        )
    bad = results.pop(10)
    assert isinstance(bad, EncoderError)
    assert [c.name for c in results] == ["weather"] * 30  # type: ignore[union-attr]
    # the poison really shared a micro-batch with good turns (else this proves nothing)
    assert any("poison pill" in b and len(b) > 1 for b in enc.batches)


# ---- defect 7: hostile configs ---------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    + ["routes: []"]
)


def test_yaml_alias_bomb_is_refused_at_once() -> None:
    assert len(ALIAS_BOMB) < 1024
    with pytest.raises(InvalidInputError, match="aliases"):
        RouterConfig.from_yaml(ALIAS_BOMB)
    with pytest.raises(InvalidInputError, match="aliases"):
        SemanticRouter.from_yaml(ALIAS_BOMB, encoder=HashEncoder())
    one_alias = "routes:\n- name: a\n  utterances: &u [hello there]\n- name: b\n  utterances: *u\n"
    with pytest.raises(InvalidInputError, match="aliases"):
        RouterConfig.from_yaml(one_alias)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_a_typed_error_not_recursion(depth: int) -> None:
    deep: object = "leaf"
    for _ in range(depth):
        deep = {"k": deep}
    with pytest.raises(InvalidInputError, match="deeper"):
        Route(name="a", utterances=["x"], metadata=deep)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="deeper"):
        Route(name="a", utterances=["x"], function_schemas=[deep])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        RouterConfig.from_json("{" + '"a": [' * depth + "1" + "]" * depth + "}")
    with pytest.raises(InvalidInputError):
        RouterConfig.from_yaml("a: " + "[" * depth + "1" + "]" * depth + "\n")


def test_metadata_within_bounds_is_kept() -> None:
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH - 2):  # + the outer dict, + the schemas' list
        deep = {"k": deep}
    r = Route(name="a", utterances=["x"], metadata={"d": deep}, function_schemas=[{"d": deep}])
    assert RouterConfig.from_json(RouterConfig(routes=[r]).to_json()).routes[0] == r


def test_metadata_and_schemas_have_a_size_cap() -> None:
    big = {"blob": "x" * MAX_JSON_BYTES}
    with pytest.raises(InvalidInputError, match="bytes"):
        Route(name="a", utterances=["x"], metadata=big)
    with pytest.raises(InvalidInputError, match="bytes"):
        Route(name="a", utterances=["x"], function_schemas=[big])


def test_non_utf8_config_file_is_a_typed_error(tmp_path: Path) -> None:
    for name in ("bad.yaml", "bad.json"):
        path = tmp_path / name
        path.write_bytes(b"routes: []\n\xff\xfe\x80 garbage")
        with pytest.raises(InvalidInputError, match="UTF-8"):
            (RouterConfig.from_yaml if name.endswith("yaml") else RouterConfig.from_json)(path)


# ---- defect 8: copies in, copies out -----------------------------------------------------------


def test_caller_objects_are_not_the_routers() -> None:
    mine = Route(name="food", utterances=["order a pizza"], metadata={"tool": "menu"})
    r = router(routes=[ROUTES[0]])
    r.add(mine)
    before = state(r)
    mine.score_threshold = 0.99
    mine.metadata["tool"] = "hacked"
    mine.utterances.append("changed behind the router's back")
    got = r.get("food")
    assert got is not None
    got.score_threshold = 0.99
    got.metadata["tool"] = "hacked"
    listed = r.routes[0]
    listed.description = "hacked"
    r.to_config().routes[0].metadata["x"] = 1
    choice = r("order a pizza")
    assert choice.name == "food" and choice.metadata == {"tool": "menu"}
    choice.metadata["tool"] = "hacked"  # type: ignore[index]
    assert state(r) == before
    assert r("order a pizza").metadata == {"tool": "menu"}


def test_route_given_at_construction_is_copied(tmp_path: Path) -> None:
    mine = Route(name="food", utterances=["order a pizza"])
    r = router(tmp_path / "s.db", routes=[mine])
    mine.score_threshold = 0.99
    assert r.get_thresholds() == {"food": 0.3}
    r.close()
    assert router(tmp_path / "s.db").get_thresholds() == {"food": 0.3}


# ---- defect 9: wrong input accepted ------------------------------------------------------------


def test_update_with_one_string_of_utterances_is_refused() -> None:
    r = router(routes=ROUTES)
    before = state(r)
    with pytest.raises(InvalidInputError):
        r.update("food", utterances="hey")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        r.add_utterances("food", "hey")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Route(name="x", utterances="hey")  # type: ignore[arg-type]
    assert state(r) == before


def test_fit_on_nothing_is_refused_and_changes_nothing() -> None:
    r = router(routes=ROUTES)
    before = state(r)
    for X, y in (([], []), (["will it rain"], []), ("text", ["food"])):
        with pytest.raises(InvalidInputError):
            r.fit(X, y)  # type: ignore[arg-type]
    assert state(r) == before


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_a_number(value: bool) -> None:
    r = router(routes=ROUTES)
    before = state(r)
    with pytest.raises(InvalidInputError):
        r.set_threshold(value)
    with pytest.raises(InvalidInputError):
        r.set_threshold(value, "food")
    with pytest.raises(InvalidInputError):
        Route(name="x", utterances=["y"], score_threshold=value)
    with pytest.raises(InvalidInputError):
        SemanticRouter(encoder=HashEncoder(), score_threshold=value)
    with pytest.raises(InvalidInputError):
        SemanticRouter(encoder=HashEncoder(), centroid_weight=value)
    with pytest.raises(InvalidInputError):
        RouterConfig(score_threshold=value)
    assert state(r) == before
    r.set_threshold(1, "food")  # an int is still a number
    assert r.get_thresholds()["food"] == 1.0


def test_router_threshold_is_saved_in_the_store(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    r = router(db, routes=ROUTES)
    r.set_threshold(0.9)
    r.close()
    cold = SemanticRouter(encoder=HashEncoder(), index=LocalIndex(path=db))
    assert cold.score_threshold == 0.9
    assert cold.get_thresholds() == {"weather": 0.9, "food": 0.9}
    cold.close()
    explicit = router(db)  # an explicit threshold still wins over the stored one
    assert explicit.score_threshold == 0.3


def _head(dim: int, coef: float) -> dict[str, object]:
    return {
        "format": 2,
        "kind": "softmax",
        "classes": ["weather", "food"],
        "coef": [[coef] * dim, [-coef] * dim],
        "intercept": [0.0, 0.0],
        "weight": 0.5,
        "temperature": 1.0,
        "l2": 0.001,
        "threshold": None,
        "blend": "logprob",
    }


@pytest.mark.parametrize("coef", [3e38, -3e38, 1e30])
def test_head_with_absurd_coefficients_is_refused(coef: float) -> None:
    config = router(routes=ROUTES).to_config().model_dump(mode="json")
    enc = HashEncoder()
    config["fit_state"] = {"encoder_name": enc.name, "head": _head(enc.dim, 0.01)}
    sane = SemanticRouter.from_json(json.dumps(config), encoder=enc)  # the control loads
    assert np.isfinite(sane("will it rain today").similarity_score)  # type: ignore[arg-type]
    config["fit_state"]["head"] = _head(enc.dim, coef)
    with pytest.raises(InvalidInputError, match="head"):
        SemanticRouter.from_json(json.dumps(config), encoder=enc)


def test_text_and_vector_together_are_refused() -> None:
    r = router(routes=ROUTES)
    vec = HashEncoder()(["order a pizza"])[0]
    assert r(vector=vec).name == "food"
    with pytest.raises(InvalidInputError):
        r("will it rain today", vector=vec)
    with pytest.raises(InvalidInputError):
        asyncio.run(r.acall("will it rain today", vector=vec))


# ---- defect 10 (inputs): every failure is a FingerpostError ------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.add(None),
        lambda r: r.add(5),
        lambda r: r.add("food"),
        lambda r: r.add([Route(name="z", utterances=["q"]), None]),
        lambda r: r("hello", route_filter=5),
        lambda r: r("hello", route_filter=[5]),
        lambda r: r.batch(None),
        lambda r: r.batch(5),
        lambda r: r.batch([None]),
        lambda r: r(vector=[[0.1, 0.2], [0.3]]),
        lambda r: r(vector=[[0.1] * 128, [0.2] * 128]),
        lambda r: r(vector="abc"),
        lambda r: r(vector={"a": 1}),
        lambda r: r(vector=[float("nan")] * 128),
        lambda r: r(vector=[0.1] * 3),
        lambda r: r.update("food", metadata={1j: 2}),
        lambda r: r.update("food", score_threshold="high"),
        lambda r: r.set_threshold(float("nan")),
        lambda r: r.delete(5),
        lambda r: asyncio.run(r.acall("hello", route_filter=5)),
        lambda r: asyncio.run(r.abatch(None)),
        lambda r: r.add(Route(name="x", utterances=["bad \ud800"])),
        lambda r: r.update("food", metadata={"k": "\ud800"}),
        lambda r: r.update("food", utterances=False),
        lambda r: r.update(["food"], score_threshold=0.5),
        lambda r: r.delete(["food"]),
        lambda r: r.get(["food"]),
    ],
)
def test_bad_arguments_raise_typed_errors_and_change_nothing(call, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = router(tmp_path / "s.db", routes=ROUTES)
    before = state(r)
    with pytest.raises(FingerpostError):
        call(r)
    assert state(r) == before
    r.close()
    assert state(router(tmp_path / "s.db")) == before
