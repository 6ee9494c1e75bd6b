"""SemanticRouterSelector over a real router with the deterministic HashEncoder."""

from __future__ import annotations

import warnings

import pytest
from _llamaindex_support import CHOICES, THRESHOLD, CountingRouter, make_router
from llama_index.core.base.base_selector import BaseSelector
from llama_index.core.schema import QueryBundle
from llama_index.core.tools import ToolMetadata
from llama_index.selectors.fingerpost import (
    ChoiceNameWarning,
    FingerpostSelection,
    NoSelectionError,
    SemanticRouterSelector,
)

from fingerpost import FingerpostError, InvalidInputError, SemanticRouter
from fingerpost.encoders.testing import HashEncoder

QUERIES = {
    "will it rain tomorrow": 1,
    "refund my payment": 0,
    "where is the product documentation": 2,  # "docs" is described, not a router route
}


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder(dim=128)


@pytest.fixture
def router(encoder: HashEncoder) -> SemanticRouter:
    return make_router(encoder)


def test_is_a_llamaindex_selector(router: SemanticRouter) -> None:
    assert isinstance(SemanticRouterSelector(router), BaseSelector)
    assert SemanticRouterSelector(router).get_prompts() == {}


@pytest.mark.parametrize(("query", "index"), QUERIES.items())
def test_selects_the_choice_whose_route_matches(
    router: SemanticRouter, query: str, index: int
) -> None:
    result = SemanticRouterSelector(router, default="docs").select(CHOICES, query)
    assert result.ind == index
    selection = result.selections[0]
    assert isinstance(selection, FingerpostSelection)
    assert selection.route == CHOICES[index].name
    assert selection.score is not None and selection.score >= THRESHOLD
    assert result.reason == f"fingerpost route {CHOICES[index].name!r} scored {selection.score:.3f}"


def test_index_follows_the_choice_order(router: SemanticRouter) -> None:
    selector = SemanticRouterSelector(router)
    assert selector.select(list(reversed(CHOICES)), "will it rain tomorrow").ind == 1
    assert selector.select(CHOICES[:2], QueryBundle("refund my payment")).ind == 0


def test_score_matches_a_bare_router_call(router: SemanticRouter) -> None:
    result = SemanticRouterSelector(router).select(CHOICES, "will it rain tomorrow")
    bare = router("will it rain tomorrow", route_filter=["weather", "billing"])
    assert result.selections[0].score == pytest.approx(bare.similarity_score)


def test_router_routes_outside_the_choices_are_never_selected(router: SemanticRouter) -> None:
    # "unrelated" is the router's best route for this query, but no choice is named so.
    assert router("weather in paris").name == "unrelated"
    result = SemanticRouterSelector(router, default="docs").select(CHOICES, "weather in paris")
    assert result.inds == [2]
    assert result.selections[0].fallback is True
    assert "fell back to default 'docs'" in result.reason


def test_top_k_returns_several_selections_best_first(router: SemanticRouter) -> None:
    query = "is the weather sunny, and where is my invoice"
    result = SemanticRouterSelector(router, top_k=3).select(CHOICES, query)
    assert result.inds == [0, 1]  # docs does not pass: only passing routes are returned
    scores = [s.score for s in result.selections]
    assert scores == sorted(scores, reverse=True)
    assert [r.name for r in router(query, limit=None, route_filter=["billing", "weather"])] == [
        "billing",
        "weather",
    ]
    assert SemanticRouterSelector(router, top_k=1).select(CHOICES, query).inds == [0]


def test_fallback_by_default_index(router: SemanticRouter) -> None:
    result = SemanticRouterSelector(router, default_index=1).select(CHOICES, "xyzzy plugh")
    assert result.inds == [1]
    assert (
        result.reason == "no fingerpost route passed its threshold; fell back to default 'weather'"
    )


def test_no_default_raises_instead_of_selecting_nothing(router: SemanticRouter) -> None:
    with pytest.raises(NoSelectionError) as info:
        SemanticRouterSelector(router).select(CHOICES, "xyzzy plugh")
    assert isinstance(info.value, FingerpostError)


def test_a_default_that_names_no_choice_is_refused_on_every_call(router: SemanticRouter) -> None:
    selector = SemanticRouterSelector(router, default="nope")
    with pytest.raises(InvalidInputError, match="'nope' names none of the choices"):
        selector.select(CHOICES, "will it rain tomorrow")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default": "docs", "default_index": 0},
        {"default": 3},
        {"default_index": -1},
        {"default_index": True},
        {"top_k": 0},
        {"top_k": 1.5},
        {"score_threshold": 2.0},
        {"examples": {"docs": "not a list"}},
        {"encoder": HashEncoder()},
    ],
)
def test_bad_arguments_are_refused(router: SemanticRouter, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        SemanticRouterSelector(router, **kwargs)  # type: ignore[arg-type]


def test_router_must_be_a_semantic_router() -> None:
    with pytest.raises(InvalidInputError, match="SemanticRouter"):
        SemanticRouterSelector(router=object())  # type: ignore[arg-type]


def test_blank_query_is_refused(router: SemanticRouter) -> None:
    with pytest.raises(InvalidInputError):
        SemanticRouterSelector(router).select(CHOICES, "   ")


# ---- described choices: routes built from descriptions, embedded once ----------------------
def test_described_choices_are_embedded_once(encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD, default="docs")
    assert selector.select(CHOICES, "invoices and refunds").ind == 0
    calls, encoded = encoder.calls, encoder.encoded
    assert selector.select(CHOICES, "rain and sun forecasts").ind == 1
    assert (encoder.calls - calls, encoder.encoded - encoded) == (1, 1)  # the query only


def test_first_call_embeds_all_descriptions_in_one_call(encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD)
    selector.select(CHOICES, "invoices and refunds")
    assert (encoder.calls, encoder.encoded) == (2, len(CHOICES) + 1)


def test_a_changed_description_is_re_embedded(encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD, default="a")
    old = [
        ToolMetadata(name="a", description="cats and dogs"),
        ToolMetadata(name="b", description="stocks"),
    ]
    new = [old[0], ToolMetadata(name="b", description="volcanoes and lava")]
    assert selector.select(old, "volcanoes erupting lava").selections[0].fallback is True
    calls, encoded = encoder.calls, encoder.encoded
    assert selector.select(new, "volcanoes erupting lava").ind == 1
    assert (encoder.calls - calls, encoder.encoded - encoded) == (2, 2)  # new description + query
    calls = encoder.calls
    selector.select(new, "volcanoes erupting lava")
    assert encoder.calls - calls == 1


def test_examples_extend_a_described_choice(encoder: HashEncoder) -> None:
    choices = [
        ToolMetadata(name="sql", description="database"),
        ToolMetadata(name="web", description="internet"),
    ]
    plain = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD, default="web")
    assert plain.select(choices, "how many orders shipped last week").selections[0].fallback is True
    taught = SemanticRouterSelector(
        encoder=encoder,
        score_threshold=THRESHOLD,
        default="web",
        examples={"sql": ["how many orders shipped", "count the customers"]},
    )
    result = taught.select(choices, "how many orders shipped last week")
    assert (result.ind, result.selections[0].fallback) == (0, False)


def test_plain_string_choices_are_described(encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD)
    choices = ["questions about invoices and refunds", "questions about rain and sun"]
    result = selector.select(choices, "rain tomorrow and sun")
    assert result.ind == 1
    assert "'questions about rain and sun' scored" in result.reason


def test_mixed_choices_encode_the_query_once(router: SemanticRouter, encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(router, default="docs")
    selector.select(CHOICES, "warm up")  # describes "docs"
    calls = encoder.calls
    for query, index in QUERIES.items():
        assert selector.select(CHOICES, query).ind == index
    assert encoder.calls - calls == len(QUERIES)


def test_a_router_route_wins_over_examples(router: SemanticRouter, encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(
        router, default="billing", examples={"weather": ["stock prices"]}
    )
    calls = encoder.calls
    result = selector.select(CHOICES[:2], "stock prices")
    assert (result.ind, result.selections[0].fallback) == (0, True)
    assert encoder.calls - calls == 1  # the query only: no described route for "weather"


def test_the_users_router_is_not_changed(router: SemanticRouter) -> None:
    before = router.list_route_names()
    SemanticRouterSelector(router, default="docs").select(CHOICES, "product documentation")
    assert router.list_route_names() == before


def test_a_choice_named_like_a_route_but_for_case_uses_the_router(
    router: SemanticRouter,
) -> None:
    # "Weather" vs the router's "weather": used to be scored silently by its description
    choices = [CHOICES[0], ToolMetadata(name="Weather", description="Forecasts.")]
    selector = SemanticRouterSelector(router)
    with pytest.warns(ChoiceNameWarning, match="'Weather'.*'weather'.*ignoring case"):
        result = selector.select(choices, "will it rain tomorrow")
    assert result.ind == 1
    assert result.selections[0].route == "weather"
    assert result.selections[0].score == pytest.approx(
        router("will it rain tomorrow", route_filter=["weather"]).similarity_score
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per selector, not on every query
        assert selector.select(choices, "is it sunny outside").ind == 1


async def test_aselect_warns_about_case_too(router: SemanticRouter) -> None:
    choices = [ToolMetadata(name="BILLING", description="Money.")]
    with pytest.warns(ChoiceNameWarning, match="'BILLING'"):
        result = await SemanticRouterSelector(router).aselect(choices, "refund my payment")
    assert result.selections[0].route == "billing"


# ---- async ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query", [*QUERIES, "xyzzy plugh", "is the weather sunny, and where is my invoice"]
)
async def test_aselect_equals_select(router: SemanticRouter, query: str) -> None:
    selector = SemanticRouterSelector(router, default="docs", top_k=2)
    assert (await selector.aselect(CHOICES, query)) == selector.select(CHOICES, query)


async def test_aselect_goes_through_router_acall(encoder: HashEncoder) -> None:
    router = CountingRouter(
        routes=make_router(encoder).routes, encoder=encoder, score_threshold=THRESHOLD
    )
    selector = SemanticRouterSelector(router)
    result = await selector.aselect(CHOICES[:2], "will it rain tomorrow")
    assert (result.ind, router.acalls) == (1, 1)


async def test_aselect_embeds_described_choices_once(encoder: HashEncoder) -> None:
    selector = SemanticRouterSelector(encoder=encoder, score_threshold=THRESHOLD, default="docs")
    assert (await selector.aselect(CHOICES, "invoices and refunds")).ind == 0
    calls = encoder.calls
    assert (await selector.aselect(CHOICES, "rain and sun forecasts")).ind == 1
    assert encoder.calls - calls == 1


async def test_aselect_without_default_raises(router: SemanticRouter) -> None:
    with pytest.raises(NoSelectionError):
        await SemanticRouterSelector(router).aselect(CHOICES, "xyzzy plugh")
