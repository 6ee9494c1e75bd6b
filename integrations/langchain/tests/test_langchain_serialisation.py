"""dumpd/loads: the runnables serialise the way partner packages do, under the public
``langchain_fingerpost`` namespace, with the router by config and the encoder by name."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from fingerpost import EncoderMismatchError, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from langchain_core._api.beta_decorator import LangChainBetaWarning
from langchain_core.load import dumpd, dumps, loads
from langchain_core.load.serializable import Serializable
from langchain_core.prompts import PromptTemplate

from _langchain_support import CHITCHAT_TURN, OTHER_TURN, POLITICAL_TURN, TIME_TURN, make_router
from langchain_fingerpost import RouteBranch, SemanticRouterRunnable

TURNS = [POLITICAL_TURN, CHITCHAT_TURN, OTHER_TURN, TIME_TURN]


def load(text: str, *allowed: type[Serializable]) -> Any:
    """``loads`` as a user calls it for this package (its beta warning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)
        return loads(
            text,
            valid_namespaces=["langchain_fingerpost"],
            allowed_objects=[SemanticRouterRunnable, *allowed],
        )


class RenamedHashEncoder(HashEncoder):
    """An encoder fingerpost cannot rebuild by name (not one of its own types)."""


def test_dumpd_is_a_constructor_under_the_public_namespace(router: SemanticRouter) -> None:
    data = dumpd(SemanticRouterRunnable(router, score_threshold=0.4))
    assert data["type"] == "constructor"  # was "not_implemented"
    assert data["id"] == ["langchain_fingerpost", "SemanticRouterRunnable"]
    assert "_runnable" not in json.dumps(data)  # no private module names
    spec = data["kwargs"]["router"]
    assert [r["name"] for r in spec["config"]["routes"]] == router.list_route_names()
    assert spec["encoder"] == {"type": "HashEncoder", "name": "fingerpost-hash-v1-128", "dim": 128}
    assert data["kwargs"]["score_threshold"] == 0.4


def test_loads_routes_like_the_original(router: SemanticRouter) -> None:
    runnable = SemanticRouterRunnable(router, score_threshold=0.4, input_key="question")
    loaded = load(dumps(runnable))
    assert isinstance(loaded, SemanticRouterRunnable)
    assert loaded.router is not router
    assert (loaded.score_threshold, loaded.input_key) == (0.4, "question")
    assert loaded.router.get_thresholds() == router.get_thresholds()
    for turn in TURNS:
        mine, theirs = runnable.invoke({"question": turn}), loaded.invoke({"question": turn})
        assert (theirs.name, theirs.similarity_score) == (mine.name, mine.similarity_score)


def test_loads_needs_the_namespace(router: SemanticRouter) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)
        with pytest.raises(ValueError, match="langchain_fingerpost"):
            loads(dumps(SemanticRouterRunnable(router)), allowed_objects=[SemanticRouterRunnable])


def test_an_encoder_unknown_by_name_is_refused_on_load() -> None:
    text = dumps(SemanticRouterRunnable(make_router(RenamedHashEncoder(dim=128, name="mine"))))
    with pytest.raises(EncoderMismatchError, match=r"RenamedHashEncoder 'mine'.*from_config"):
        load(text)


def test_route_branch_round_trips_with_serialisable_targets(router: SemanticRouter) -> None:
    branch = RouteBranch(
        router,
        {"politics": PromptTemplate.from_template("blocked: {input}")},
        PromptTemplate.from_template("answer: {input}"),
    )
    data = dumpd(branch)
    assert data["id"] == ["langchain_fingerpost", "RouteBranch"]
    loaded = load(dumps(branch), RouteBranch, PromptTemplate)
    assert isinstance(loaded, RouteBranch)
    for turn in (POLITICAL_TURN, CHITCHAT_TURN):
        assert loaded.invoke({"input": turn}) == branch.invoke({"input": turn})
    assert loaded.invoke({"input": POLITICAL_TURN}).to_string().startswith("blocked: ")


def test_the_packaged_onnx_encoder_is_rebuilt_by_name_without_loading() -> None:
    from fingerpost.encoders import OnnxEncoder, encoder_from_spec, encoder_spec

    spec = encoder_spec(OnnxEncoder(max_length=128))
    rebuilt = encoder_from_spec(json.loads(json.dumps(spec)), "hint")
    assert isinstance(rebuilt, OnnxEncoder) and not rebuilt.loaded
    assert (rebuilt.name, rebuilt.dim, rebuilt.max_length) == (spec["name"], 384, 128)
    with pytest.raises(EncoderMismatchError, match=r"custom-onnx.*hint"):
        encoder_from_spec({**spec, "name": "custom-onnx"}, "hint")  # another ONNX model
