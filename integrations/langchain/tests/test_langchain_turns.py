"""parse_turn: which text a runnable routes on (pure, no router)."""

from __future__ import annotations

import pytest
from fingerpost import InvalidInputError
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

from langchain_fingerpost import parse_turn


def test_a_string_is_the_turn() -> None:
    turn = parse_turn("hello there")
    assert turn.text == "hello there"
    assert [m.content for m in turn.messages] == ["hello there"]


def test_a_dict_holds_the_turn_under_its_key() -> None:
    assert parse_turn({"input": "hi", "other": 1}).text == "hi"
    assert parse_turn({"question": "why"}, input_key="question").text == "why"


def test_the_last_human_message_of_a_conversation_is_routed() -> None:
    messages = [
        SystemMessage(content="be nice"),
        HumanMessage(content="first"),
        AIMessage(content="answer"),
        HumanMessage(content="second"),
        AIMessage(content="trailing ai"),
    ]
    turn = parse_turn(messages)
    assert turn.text == "second"
    assert turn.messages == tuple(messages)
    assert parse_turn({"input": messages}).text == "second"


def test_tuples_role_dicts_and_one_message_are_messages() -> None:
    assert parse_turn([("system", "s"), ("human", "from tuple")]).text == "from tuple"
    assert parse_turn([{"role": "user", "content": "from dict"}]).text == "from dict"
    assert parse_turn(HumanMessage(content="alone")).text == "alone"


def test_a_prompt_value_is_routed_on_its_human_message() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "sys"), ("human", "{q}")])
    assert parse_turn(prompt.invoke({"q": "templated"})).text == "templated"


def test_content_blocks_keep_only_text() -> None:
    message = HumanMessage(
        content=[
            {"type": "text", "text": "look "},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "here"},
        ]
    )
    assert parse_turn([message]).text == "look here"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"query": "hi"}, "no 'input' key"),
        ({"input": {"nested": "x"}}, "not a dict"),
        ([AIMessage(content="only ai")], "no human message"),
        ("   ", "blank"),
        ([HumanMessage(content="")], "blank"),
        (42, "cannot route a int"),
        ([42], "cannot read chat messages"),
    ],
)
def test_unroutable_inputs_raise_invalid_input(value: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_turn(value)
