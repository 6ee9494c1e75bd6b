"""What a runnable routes on: one turn's text, read from whatever LangChain hands over.

Pure: no router, no model. A string is the turn; a dict holds it under a key; a list of chat
messages or a ``PromptValue`` is a conversation whose last human message is the turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fingerpost import InvalidInputError
from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

__all__ = ["Turn", "message_text", "parse_turn"]


@dataclass(frozen=True)
class Turn:
    """One turn: the text to route and the conversation it came from (for tool calling)."""

    text: str
    messages: tuple[BaseMessage, ...]


def message_text(message: BaseMessage) -> str:
    """The plain text of a message (string content or its text blocks), in any langchain-core."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def parse_turn(value: Any, input_key: str = "input") -> Turn:
    """Read the turn from a runnable's input.

    Args:
        value: A ``str``; a ``dict`` holding the turn under ``input_key``; a sequence of chat
            messages (``BaseMessage``, ``("human", "...")`` tuples or role dicts); one message;
            or a ``PromptValue``.
        input_key: Key of the turn in dict inputs.

    Raises:
        InvalidInputError: The input holds no routable text.
    """
    if isinstance(value, Mapping):
        if input_key not in value:
            raise InvalidInputError(
                f"input dict has no {input_key!r} key (keys: {sorted(map(str, value))})"
            )
        value = value[input_key]
        if isinstance(value, Mapping):
            raise InvalidInputError(f"input[{input_key!r}] must be a str or messages, not a dict")
    if isinstance(value, str):
        return Turn(_check(value), (HumanMessage(content=value),))
    messages = _messages(value)
    human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    if human is None:
        raise InvalidInputError("the conversation has no human message to route on")
    return Turn(_check(message_text(human)), tuple(messages))


def _messages(value: Any) -> list[BaseMessage]:
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        try:
            return convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise InvalidInputError(f"cannot read chat messages from the input: {exc}") from exc
    raise InvalidInputError(
        f"cannot route a {type(value).__name__}: expected a str, a dict, chat messages or a "
        "PromptValue"
    )


def _check(text: str) -> str:
    if not text.strip():
        raise InvalidInputError("the turn to route is empty or blank")
    return text
