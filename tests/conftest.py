from __future__ import annotations

import pytest

from fingerpost import Route
from fingerpost.encoders.testing import HashEncoder

POLITICS = [
    "isn't politics the best thing ever",
    "why don't you tell me about your political opinions",
    "don't you just love the president",
    "don't you just hate the president",
    "they're going to destroy this country!",
    "they will save the country!",
]
CHITCHAT = [
    "how's the weather today?",
    "how are things going?",
    "lovely weather today",
    "the weather is horrendous",
    "let's go to the chippy",
]


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder(dim=128)


@pytest.fixture
def seed_routes() -> list[Route]:
    return [Route(name="politics", utterances=POLITICS), Route(name="chitchat", utterances=CHITCHAT)]
