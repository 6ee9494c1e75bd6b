"""The integrations' README calls, typed: checked by ``mypy --strict`` and run by pytest."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_fingerpost", reason="needs integrations/langchain installed")
pytest.importorskip(
    "llama_index.selectors.fingerpost", reason="needs integrations/llama-index installed"
)

from typing import assert_type

from langchain_fingerpost import SemanticRouterRunnable
from llama_index.core.schema import QueryBundle
from llama_index.core.tools import ToolMetadata
from llama_index.selectors.fingerpost import FingerpostEmbedding, SemanticRouterSelector

from fingerpost import Route, RouteChoice, SemanticRouter
from fingerpost.encoders.testing import HashEncoder


def make_router() -> SemanticRouter:
    return SemanticRouter(
        routes=[
            Route(name="politics", utterances=["don't you just love the president"]),
            Route(name="billing", utterances=["I need a refund", "why was I charged twice?"]),
        ],
        encoder=HashEncoder(),
        score_threshold=0.3,
    )


async def test_langchain_runnable_types() -> None:
    route = SemanticRouterRunnable(make_router())
    choice = assert_type(route.invoke("I need a refund"), RouteChoice)
    assert choice.name == "billing"
    assert route.invoke({"input": "I need a refund"}).name == "billing"
    choices: list[RouteChoice] = route.batch(
        ["I need a refund", "don't you just love the president"]
    )
    assert [c.name for c in choices] == ["billing", "politics"]
    assert (await route.ainvoke("I need a refund")).name == "billing"
    assert [c.name for c in await route.abatch(["I need a refund"])] == ["billing"]


def test_llamaindex_selector_types() -> None:
    selector = SemanticRouterSelector(make_router())
    choices = [
        ToolMetadata(name="politics", description="Politics"),
        ToolMetadata(name="billing", description="Billing"),
    ]
    result = selector.select(choices, QueryBundle("I need a refund"))
    assert [s.index for s in result.selections] == [1]
    embedding = FingerpostEmbedding.from_router(make_router())
    vector: list[float] = embedding.get_query_embedding("I need a refund")
    assert len(vector) == HashEncoder().dim
