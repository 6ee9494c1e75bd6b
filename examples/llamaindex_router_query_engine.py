"""LlamaIndex RouterQueryEngine that picks its engine with fingerpost: no LLM call to route.

Three query engines answer from canned company data (sales, HR, IT). fingerpost's offline
model chooses the engine in milliseconds; a question no route recognises falls back to the
default engine instead of failing. ``MockLLM`` stands in for an LLM, which this example never
needs: selection is local and each engine answers from its own data.

Needs the integration: ``pip install -e integrations/llama-index``. Run with
``.venv/bin/python examples/llamaindex_router_query_engine.py``.
"""

from __future__ import annotations

import asyncio
import re
import time

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import CustomQueryEngine, RouterQueryEngine
from llama_index.core.tools import QueryEngineTool, ToolMetadata
from llama_index.selectors.fingerpost import SemanticRouterSelector

from fingerpost import Route, SemanticRouter

ROUTES = [
    Route(
        name="sales",
        utterances=[
            "what were our sales last quarter",
            "show revenue by region",
            "how many units did we sell",
            "which product is our best seller",
            "how did sales grow year over year",
        ],
    ),
    Route(
        name="hr",
        utterances=[
            "how many vacation days do I get",
            "what is the parental leave policy",
            "how do I report a sick day",
            "when is payday",
            "can I work from home",
        ],
    ),
    Route(
        name="it",
        utterances=[
            "my laptop won't turn on",
            "I need to reset my password",
            "the vpn is not connecting",
            "my vpn connection keeps dropping",
            "the printer is jammed",
            "how do I install software on my computer",
        ],
    ),
]

# Canned data each engine answers from: (keywords, answer).
DATA = {
    "sales": [
        ("revenue europe quarter region", "Q3 revenue: Europe 4.1M EUR, Americas 6.3M, Asia 2.2M."),
        ("product units sold seller", "Best seller: the Model T kettle, 18,400 units in Q3."),
    ],
    "hr": [
        (
            "vacation holiday days leave",
            "Employees get 25 vacation days a year, 27 after five years.",
        ),
        ("payday salary paid", "Salaries are paid on the 25th of each month."),
    ],
    "it": [
        ("password login log forgot", "Reset your password at https://id.example.com/reset."),
        ("vpn connecting disconnecting home", "Update the VPN client to 5.2 and reconnect."),
        ("laptop computer", "Hold the power button for 15 seconds, then plug in the charger."),
    ],
}
DESCRIPTIONS = {
    "sales": "Sales figures: revenue, units sold, best sellers.",
    "hr": "HR policies: vacation, leave, pay.",
    "it": "IT support: passwords, VPN, laptops, printers.",
}
QUESTIONS = [
    "How much revenue did we make in Europe last quarter?",
    "How many days of holiday do new employees get?",
    "I forgot my password and can't log in",
    "Which product sold the most units?",
    "The VPN keeps disconnecting when I work from home",
    "What's the capital of Australia?",  # no route passes: the default engine answers
]
DEFAULT = "it"


class CannedDataEngine(CustomQueryEngine):
    """Answers from a few canned (keywords, answer) rows: the row sharing most words wins."""

    rows: list[tuple[str, str]]

    def custom_query(self, query_str: str) -> str:
        words = set(re.findall(r"[a-z]+", query_str.lower()))
        keywords, answer = max(self.rows, key=lambda row: len(words & set(row[0].split())))
        return answer if words & set(keywords.split()) else "I have no data on that."

    async def acustom_query(self, query_str: str) -> str:
        return self.custom_query(query_str)


def build_engine(router: SemanticRouter) -> RouterQueryEngine:
    tools = [
        QueryEngineTool(
            query_engine=CannedDataEngine(rows=DATA[name]),
            metadata=ToolMetadata(name=name, description=DESCRIPTIONS[name]),
        )
        for name in DATA
    ]
    selector = SemanticRouterSelector(router, default=DEFAULT)
    # llm= explicitly: otherwise LlamaIndex reaches for Settings.llm (OpenAI). MockLLM is
    # never called here, as each turn selects exactly one engine.
    return RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=MockLLM())


def main() -> list[tuple[str, str, float | None]]:
    """Route every question; print and return (question, engine, score) for each."""
    t0 = time.perf_counter()
    router = SemanticRouter(routes=ROUTES)  # the default offline ONNX encoder
    engine = build_engine(router)
    print(f"router ready in {time.perf_counter() - t0:.2f} s")
    names = list(DATA)
    picks: list[tuple[str, str, float | None]] = []
    for question in QUESTIONS:
        t = time.perf_counter()
        response = engine.query(question)
        ms = (time.perf_counter() - t) * 1000
        assert response.metadata is not None  # RouterQueryEngine records its selection there
        selection = response.metadata["selector_result"].selections[0]
        name = names[selection.index]
        score = "default" if selection.fallback else f"{selection.score:.3f}"
        print(f"Q: {question}\n   -> {name} ({score}, {ms:.1f} ms): {response}")
        picks.append((question, name, selection.score))

    response = asyncio.run(engine.aquery(QUESTIONS[0]))  # the same, from async code
    print(f"async: {response}")
    return picks


if __name__ == "__main__":
    main()
