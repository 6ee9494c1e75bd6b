"""The LlamaIndex example runs offline with the real model and routes every question right."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip(
    "llama_index.selectors.fingerpost",
    reason="needs the integration: pip install -e integrations/llama-index",
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "llamaindex_router_query_engine.py"
EXPECTED = ["sales", "hr", "it", "sales", "it", "it"]  # the last one by fallback to the default


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llamaindex_router_query_engine", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_selects_the_right_engine_and_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    picks = example.main()
    assert [engine for _, engine, _ in picks] == EXPECTED
    assert [q for q, _, _ in picks] == example.QUESTIONS
    scores = [score for _, _, score in picks]
    assert all(s is not None and s >= 0.45 for s in scores[:-1])
    assert scores[-1] is None  # nothing passed: the default engine, with no score
    out = capsys.readouterr().out
    for (question, engine, score), line in zip(picks, out.split("Q: ")[1:], strict=True):
        assert line.startswith(question)
        assert f"-> {engine} ({'default' if score is None else f'{score:.3f}'}" in line
    assert "I have no data on that." in out
    assert "async: Q3 revenue" in out
