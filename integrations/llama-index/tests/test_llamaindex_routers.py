"""The selector inside LlamaIndex's RouterQueryEngine and RouterRetriever, sync and async.

``llm=MockLLM()`` is passed explicitly: without it the routers ask ``Settings.llm``, which
resolves to OpenAI. No network, no key.
"""

from __future__ import annotations

import pytest
from _llamaindex_support import ANSWERS, CHOICES, CannedEngine, CannedRetriever, make_router
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.retrievers import RouterRetriever
from llama_index.core.tools import QueryEngineTool, RetrieverTool
from llama_index.selectors.fingerpost import NoSelectionError, SemanticRouterSelector

from fingerpost.encoders.testing import HashEncoder

CASES = [
    ("will it rain tomorrow", "weather"),
    ("refund my payment", "billing"),
    ("where is the product documentation", "docs"),
    ("xyzzy plugh", "docs"),  # nothing passes: the default
]


def engines() -> tuple[list[QueryEngineTool], dict[str, CannedEngine]]:
    by_name = {c.name: CannedEngine(answer=ANSWERS[c.name]) for c in CHOICES if c.name}
    tools = [QueryEngineTool(query_engine=by_name[c.name], metadata=c) for c in CHOICES if c.name]
    return tools, by_name


def query_engine(
    top_k: int = 1, default: str | None = "docs"
) -> tuple[RouterQueryEngine, dict[str, CannedEngine]]:
    tools, by_name = engines()
    selector = SemanticRouterSelector(make_router(HashEncoder()), default=default, top_k=top_k)
    return RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=MockLLM()), by_name


def retriever(top_k: int = 1) -> RouterRetriever:
    tools = [
        RetrieverTool(retriever=CannedRetriever(ANSWERS[c.name]), metadata=c)
        for c in CHOICES
        if c.name
    ]
    selector = SemanticRouterSelector(make_router(HashEncoder()), default="docs", top_k=top_k)
    return RouterRetriever(selector=selector, retriever_tools=tools, llm=MockLLM())


@pytest.mark.parametrize(("query", "engine"), CASES)
def test_router_query_engine_queries_the_selected_engine(query: str, engine: str) -> None:
    router_engine, by_name = query_engine()
    response = router_engine.query(query)
    assert str(response) == ANSWERS[engine]
    assert [n for n, e in by_name.items() if e.asked] == [engine]
    selection = response.metadata["selector_result"].selections[0]
    assert selection.route == (None if query == "xyzzy plugh" else engine)


@pytest.mark.parametrize(("query", "engine"), CASES)
async def test_router_query_engine_aquery(query: str, engine: str) -> None:
    router_engine, by_name = query_engine()
    response = await router_engine.aquery(query)
    assert str(response) == ANSWERS[engine]
    assert [n for n, e in by_name.items() if e.asked] == [engine]


@pytest.mark.parametrize("run", ["sync", "async"])
async def test_router_query_engine_combines_several_selections(run: str) -> None:
    router_engine, by_name = query_engine(top_k=3)
    query = "is the weather sunny, and where is my invoice"
    response = router_engine.query(query) if run == "sync" else await router_engine.aquery(query)
    assert response.metadata["selector_result"].inds == [0, 1]
    # MockLLM echoes its prompt: the summary holds both engines' answers, best first.
    text = str(response)
    assert ANSWERS["billing"] in text and ANSWERS["weather"] in text
    assert text.index(ANSWERS["billing"]) < text.index(ANSWERS["weather"])
    assert not by_name["docs"].asked


def test_router_query_engine_without_default_raises_a_clear_error() -> None:
    router_engine, by_name = query_engine(default=None)
    with pytest.raises(NoSelectionError, match="no default"):
        router_engine.query("xyzzy plugh")
    assert not any(e.asked for e in by_name.values())


@pytest.mark.parametrize(("query", "engine"), CASES)
def test_router_retriever_retrieves_from_the_selected_retriever(query: str, engine: str) -> None:
    nodes = retriever().retrieve(query)
    assert [n.node.get_content() for n in nodes] == [ANSWERS[engine]]


@pytest.mark.parametrize(("query", "engine"), CASES)
async def test_router_retriever_aretrieve(query: str, engine: str) -> None:
    nodes = await retriever().aretrieve(query)
    assert [n.node.get_content() for n in nodes] == [ANSWERS[engine]]


async def test_router_retriever_merges_several_selections() -> None:
    query = "is the weather sunny, and where is my invoice"
    expected = {ANSWERS["billing"], ANSWERS["weather"]}
    assert {n.node.get_content() for n in retriever(top_k=2).retrieve(query)} == expected
    assert {n.node.get_content() for n in await retriever(top_k=2).aretrieve(query)} == expected
