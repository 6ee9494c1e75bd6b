"""The pure selection rules, without an encoder: planning, ranking, fallback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from llama_index.core.tools import ToolMetadata
from llama_index.selectors.fingerpost import FingerpostSelection, NoSelectionError
from llama_index.selectors.fingerpost._selection import (
    UNNAMED_PREFIX,
    case_warnings,
    check_examples,
    described_route,
    plan_choices,
    to_selections,
)

from fingerpost import FingerpostError, InvalidInputError, RouteChoice

CHOICES = [
    ToolMetadata(name="a", description="first"),
    ToolMetadata(name="b", description="second"),
    ToolMetadata(description="an unnamed choice"),
]


def known(*names: str) -> Callable[[str], bool]:
    return lambda name: name in names


def test_plan_maps_named_choices_to_router_routes_and_describes_the_rest() -> None:
    plan = plan_choices(CHOICES, known("b", "zzz"), default="a")
    assert plan.routed == {"b": 1}
    assert plan.described == {"a": 0, UNNAMED_PREFIX + "an unnamed choice": 2}
    assert plan.default == 0


def test_plan_default_index_and_no_default() -> None:
    assert plan_choices(CHOICES, known(), default_index=2).default == 2
    assert plan_choices(CHOICES, known()).default is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"default": "nope"}, "names none of the choices"), ({"default_index": 3}, "out of range")],
)
def test_plan_refuses_a_default_outside_the_choices(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        plan_choices(CHOICES, known(), **kwargs)  # type: ignore[arg-type]


def test_plan_refuses_no_choices_and_duplicate_names() -> None:
    with pytest.raises(InvalidInputError, match="at least one choice"):
        plan_choices([], known())
    twice = [ToolMetadata(name="a", description="x"), ToolMetadata(name="a", description="y")]
    with pytest.raises(InvalidInputError, match="same route 'a'"):
        plan_choices(twice, known())


def test_selections_are_ranked_best_first_and_cut_to_top_k() -> None:
    plan = plan_choices(CHOICES, known("b"), default="a")
    routed = [RouteChoice(name="b", similarity_score=0.5)]
    described = [
        RouteChoice(name="a", similarity_score=0.9),
        RouteChoice(name=UNNAMED_PREFIX + "an unnamed choice", similarity_score=0.7),
    ]
    result = to_selections(CHOICES, plan, routed, described, top_k=2)
    assert result.inds == [0, 2]
    first, second = result.selections
    assert isinstance(first, FingerpostSelection)
    assert (first.route, first.score, first.fallback) == ("a", 0.9, False)
    assert first.reason == "fingerpost route 'a' scored 0.900"
    assert second.reason == "fingerpost route 'an unnamed choice' scored 0.700"
    assert to_selections(CHOICES, plan, routed, described, top_k=5).inds == [0, 2, 1]


def test_choices_that_are_not_in_the_plan_are_ignored() -> None:
    plan = plan_choices(CHOICES, known("b"), default_index=1)
    routed = [RouteChoice(name="other", similarity_score=0.99), RouteChoice()]
    result = to_selections(CHOICES, plan, routed, [], top_k=1)
    assert result.ind == 1
    assert result.selections[0].fallback is True


def test_nothing_passing_falls_back_to_the_default_with_a_reason() -> None:
    plan = plan_choices(CHOICES, known(), default="b")
    result = to_selections(CHOICES, plan, [], [], top_k=3)
    assert result.inds == [1]
    assert result.reason == "no fingerpost route passed its threshold; fell back to default 'b'"
    assert result.selections[0].score is None


def test_nothing_passing_without_a_default_raises_a_fingerpost_error() -> None:
    plan = plan_choices(CHOICES, known())
    with pytest.raises(NoSelectionError, match="no default") as info:
        to_selections(CHOICES, plan, [], [], top_k=1)
    assert isinstance(info.value, FingerpostError)
    assert isinstance(info.value, ValueError)


def test_described_route_uses_description_then_examples() -> None:
    route = described_route(CHOICES[0], ("one example", "first"))
    assert route.name == "a"
    assert route.utterances == ["first", "one example"]  # duplicates dropped in order
    assert described_route(ToolMetadata(name="e", description=" "), ("only",)).utterances == [
        "only"
    ]
    with pytest.raises(InvalidInputError, match="no route, no description and no examples"):
        described_route(ToolMetadata(name="e", description=""))


def test_examples_are_validated_and_copied() -> None:
    source = {"a": ["x", "y"]}
    checked = check_examples(source)
    source["a"].append("z")
    assert checked == {"a": ("x", "y")}
    assert check_examples(None) == {}
    for bad in ({"a": "a string"}, {"a": ["ok", " "]}, {"a": [1]}, ["a"]):
        with pytest.raises(InvalidInputError):
            check_examples(bad)  # type: ignore[arg-type]


def test_a_name_equal_ignoring_case_to_one_route_is_routed_and_reported() -> None:
    choices = [ToolMetadata(name="IT", description="IT support"), CHOICES[1]]
    plan = plan_choices(choices, known("it", "b"), route_names=lambda: ("it", "b"))
    assert (plan.routed, plan.described) == ({"it": 0, "b": 1}, {})
    assert plan.case_matched == {"IT": "it"}
    [message] = case_warnings(plan).values()
    assert "'IT'" in message and "'it'" in message and "ignoring case" in message


def test_a_name_equal_ignoring_case_to_several_routes_is_described_and_reported() -> None:
    choices = [ToolMetadata(name="IT", description="IT support")]
    plan = plan_choices(choices, known("it", "It"), route_names=lambda: ("it", "It"))
    assert (plan.routed, plan.described) == ({}, {"IT": 0})
    assert plan.case_ambiguous == {"IT": ("It", "it")}
    [message] = case_warnings(plan).values()
    assert "scored by its description" in message


def test_exact_names_never_read_the_route_list() -> None:
    def unread() -> tuple[str, ...]:
        raise AssertionError("route names read although every name matched exactly")

    plan = plan_choices(CHOICES[:2], known("a", "b"), route_names=unread)
    assert plan.routed == {"a": 0, "b": 1}
    assert case_warnings(plan) == {}
