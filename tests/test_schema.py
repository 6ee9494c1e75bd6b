from __future__ import annotations

import json
import math
from typing import Any

import pydantic
import pytest

from fingerpost import FingerpostError, InvalidInputError, Route, RouteChoice, RouterConfig
from fingerpost.schema import Utterance, UtteranceDiff


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "utterances": ["hi"]},
        {"name": "   ", "utterances": ["hi"]},
        {"name": "a", "utterances": []},
        {"name": "a", "utterances": ["  "]},
        {"name": "a", "utterances": ["ok", ""]},
        {"name": "a", "utterances": ["ok"], "score_threshold": 1.5},
        {"name": "a", "utterances": ["ok"], "score_threshold": math.nan},
        {"name": "a", "utterances": ["ok"], "metadata": {"x": object()}},
        {"name": "a", "utterances": ["ok"], "metadata": {"x": math.inf}},
        {"name": "a", "utterances": "not a list"},
        {"name": "a", "utterances": ["ok"], "unknown_field": 1},
    ],
)
def test_route_rejects_bad_input_with_typed_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        Route(**kwargs)  # type: ignore[arg-type]


def test_invalid_input_is_a_fingerpost_error_and_a_value_error() -> None:
    with pytest.raises(FingerpostError):
        Route(name="", utterances=["x"])
    with pytest.raises(ValueError):
        Route(name="", utterances=["x"])


def test_route_drops_duplicate_utterances_in_order() -> None:
    assert Route(name="a", utterances=["b", "a", "b"]).utterances == ["b", "a"]


def test_assignment_is_validated() -> None:
    r = Route(name="a", utterances=["x"])
    with pytest.raises(InvalidInputError):
        r.score_threshold = 2.0


def test_empty_choice_is_falsy() -> None:
    assert not RouteChoice()
    assert RouteChoice(name="x", similarity_score=0.7)


def test_config_round_trips_json_and_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = RouterConfig(
        routes=[
            Route(
                name='pol: "itics" #1 ünï',
                utterances=["a", "b"],
                description="d",
                function_schemas=[{"name": "f", "parameters": {}}],
                score_threshold=0.4,
                metadata={"k": [1, 2]},
            )
        ],
        encoder_name="e",
        encoder_dim=8,
        aggregation="mean",
    )
    assert RouterConfig.from_json(cfg.to_json()) == cfg
    assert RouterConfig.from_yaml(cfg.to_yaml()) == cfg
    cfg.to_json(tmp_path / "c.json")
    cfg.to_yaml(tmp_path / "c.yaml")
    assert RouterConfig.from_json(tmp_path / "c.json") == cfg
    assert RouterConfig.from_yaml(str(tmp_path / "c.yaml")) == cfg


def test_config_rejects_duplicates_and_garbage() -> None:
    r = Route(name="a", utterances=["x"])
    with pytest.raises(InvalidInputError):
        RouterConfig(routes=[r, r])
    with pytest.raises(InvalidInputError):
        RouterConfig.from_json("{not json")
    with pytest.raises(InvalidInputError):
        RouterConfig.from_yaml("- just\n- a list\n")


def test_to_utterances_carries_route_fields() -> None:
    cfg = RouterConfig(routes=[Route(name="a", utterances=["x", "y"], metadata={"m": 1})])
    utts = cfg.to_utterances()
    assert [u.key for u in utts] == [("a", "x"), ("a", "y")]
    assert all(u.metadata == {"m": 1} for u in utts)


def test_utterance_diff_tags_and_strings() -> None:
    local = [Utterance(route="a", utterance="x"), Utterance(route="a", utterance="y")]
    remote = [Utterance(route="a", utterance="y"), Utterance(route="b", utterance="z")]
    diff = UtteranceDiff.from_utterances(local_utterances=local, remote_utterances=remote)
    assert [u.key for u in diff.get_tag("-")] == [("a", "x")]
    assert [u.key for u in diff.get_tag("+")] == [("b", "z")]
    assert [u.key for u in diff.get_tag(" ")] == [("a", "y")]
    assert diff.to_utterance_str() == ["- a: x", "+ b: z"]
    with pytest.raises(InvalidInputError):
        diff.get_tag("?")


@pytest.mark.parametrize(
    ("model", "bad"),
    [
        (Route, {"name": 3, "utterances": ["hi"]}),
        (Route, {"name": "a", "utterances": []}),
        (RouteChoice, {"name": "a", "similarity_score": "not a number"}),
        (Utterance, {"route": "a"}),
        (RouterConfig, {"top_k": 0}),
        (RouterConfig, {"routes": [{"name": "a", "utterances": ["x"]}] * 2}),
    ],
)
def test_pydantic_constructors_raise_fingerpost_errors(
    model: type[Any], bad: dict[str, Any]
) -> None:
    """``model_validate`` and friends bypass ``__init__``: they too map pydantic's
    ValidationError to InvalidInputError (issue 12), so ``except FingerpostError`` is enough."""
    for build in (
        lambda: model.model_validate(bad),
        lambda: model.model_validate_json(json.dumps(bad)),
        lambda: model.model_validate_strings({k: str(v) for k, v in bad.items()}),
    ):
        with pytest.raises(InvalidInputError) as info:
            build()
        assert not isinstance(info.value, pydantic.ValidationError)
        assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_model_validate_json_rejects_malformed_json_with_a_typed_error() -> None:
    with pytest.raises(InvalidInputError):
        Route.model_validate_json("{not json")


def test_pydantic_constructors_still_build_valid_models() -> None:
    route = Route.model_validate({"name": "a", "utterances": ["hi"]})
    assert Route.model_validate_json(route.model_dump_json()) == route
    config = RouterConfig.model_validate({"routes": [route.model_dump()]})
    assert config.routes == [route]
