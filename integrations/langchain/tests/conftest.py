"""Fixtures; the helpers themselves live in _langchain_support.py."""

from __future__ import annotations

import pytest
from fingerpost import SemanticRouter
from fingerpost.encoders.testing import HashEncoder

from _langchain_support import RunCollector, make_router


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder(dim=128)


@pytest.fixture
def router(encoder: HashEncoder) -> SemanticRouter:
    return make_router(encoder)


@pytest.fixture
def collector() -> RunCollector:
    return RunCollector()
