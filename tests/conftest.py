from __future__ import annotations

import os
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def _background_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cache directory (background vectors, gates, route vectors) is a temporary one of
    each test's own, never ~: what one test leaves there must not change what another
    reads from a remote or fits (the in-process memos still span tests)."""
    old = os.environ.get("FINGERPOST_CACHE_DIR")
    os.environ["FINGERPOST_CACHE_DIR"] = str(tmp_path_factory.mktemp("fingerpost-cache"))
    yield
    if old is None:
        os.environ.pop("FINGERPOST_CACHE_DIR", None)
    else:
        os.environ["FINGERPOST_CACHE_DIR"] = old


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder(dim=128)


@pytest.fixture
def seed_routes() -> list[Route]:
    return [
        Route(name="politics", utterances=POLITICS),
        Route(name="chitchat", utterances=CHITCHAT),
    ]
