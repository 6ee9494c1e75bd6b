"""Shared test data for the LlamaIndex integration: routes, canned engines and retrievers.

Not a conftest.py: test folders of several integrations sit side by side without packages,
and a second top-level ``conftest`` module would clash. Test modules import this by name.
"""

from __future__ import annotations

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.bridge.pydantic import Field
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.tools import ToolMetadata

from fingerpost import Route, RouteChoice, SemanticRouter
from fingerpost.encoders.testing import HashEncoder

THRESHOLD = 0.3  # HashEncoder scores sit lower than a real model's

ROUTES = [
    Route(
        name="weather",
        utterances=["what's the weather today", "will it rain tomorrow", "is it sunny outside"],
    ),
    Route(
        name="billing",
        utterances=["refund my last payment", "I was charged twice", "where is my invoice"],
    ),
    Route(
        name="unrelated",  # in the router, never among the choices: must never be selected
        utterances=["will it rain tomorrow in paris", "weather in paris"],
    ),
]

CHOICES = [
    ToolMetadata(name="billing", description="Invoices, refunds and payments."),
    ToolMetadata(name="weather", description="Forecasts: rain, sun and temperature."),
    ToolMetadata(name="docs", description="Product documentation manuals and guides"),
]
ANSWERS = {
    "billing": "Your last invoice was paid on 3 May.",
    "weather": "Rain is expected tomorrow.",
    "docs": "See chapter 2 of the manual.",
}


def make_router(encoder: HashEncoder) -> SemanticRouter:
    return SemanticRouter(routes=ROUTES, encoder=encoder, score_threshold=THRESHOLD)


class CountingRouter(SemanticRouter):
    """A router that counts its async calls, to show ``aselect`` goes through ``acall``."""

    acalls = 0

    async def acall(self, *args: object, **kwargs: object) -> RouteChoice | list[RouteChoice]:
        self.acalls += 1
        return await super().acall(*args, **kwargs)  # type: ignore[arg-type]


class CannedEngine(CustomQueryEngine):
    """Answers every query with one fixed string, and remembers what it was asked."""

    answer: str
    asked: list[str] = Field(default_factory=list)

    def custom_query(self, query_str: str) -> str:
        self.asked.append(query_str)
        return self.answer

    async def acustom_query(self, query_str: str) -> str:
        self.asked.append(query_str)
        return self.answer


class CannedRetriever(BaseRetriever):
    """Returns one fixed node for every query."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._node = TextNode(text=text, id_=f"node-{text}")

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=self._node, score=1.0)]
