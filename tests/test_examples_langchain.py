"""The LangChain examples run offline with the real model: political turns never reach the
agent's model, and cheap routes go to cheap chains."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip(
    "langchain_fingerpost",
    reason="needs the integration: pip install -e 'integrations/langchain[test]'",
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guardrail_agent_never_sends_politics_to_the_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load_example("langchain_guardrail_agent")
    rows, model_calls = example.main()
    assert rows == [
        (example.TURNS[0], "guardrail"),
        (example.TURNS[1], "model"),
        (example.TURNS[2], "guardrail"),
        (example.TURNS[3], "guardrail"),
        (example.TURNS[4], "model"),
    ]
    assert model_calls == 2
    out = capsys.readouterr().out
    lines = out.splitlines()[1:-1]
    for (turn, handler), line in zip(rows, lines, strict=True):
        assert line.startswith(turn)
        if handler == "guardrail":
            assert "guardrail (" in line and "I keep out of politics" in line
        else:
            assert f"(model) you asked: {turn}" in line
    assert out.splitlines()[-1] == "model calls: 2 of 5 turns; blocked before the model: 3"


def test_router_chain_sends_cheap_turns_to_cheap_chains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = load_example("langchain_router_chain")
    answers = example.main()
    labels = [answer.split("]")[0] + "]" for answer in answers]
    assert labels == [
        "[small-talk model]",
        "[billing model]",
        "[main model]",
        "[small-talk model]",
        "[billing model]",
        "[main model]",
    ]
    assert all(turn in answer for turn, answer in zip(example.TURNS, answers, strict=True))
    out = capsys.readouterr().out
    for turn, answer in zip(example.TURNS, answers, strict=True):
        assert f"{turn:<38} {answer}" in out
    assert "4 turns on cheap chains, 2 on the main chain" in out
