from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server extra: pip install 'fingerpost[server]'")

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.server import ServerLimits, create_app

from ..conftest import CHITCHAT, POLITICS
from ._serve import serving

TOKEN = "s3cret-token"
LIMITS = ServerLimits(max_text_chars=200, max_batch=16, max_body_bytes=16_384, max_utterances=50)


def make_router(encoder: HashEncoder | None = None, **kwargs: object) -> SemanticRouter:
    return SemanticRouter(
        routes=[
            Route(name="politics", utterances=POLITICS),
            Route(name="chitchat", utterances=CHITCHAT),
        ],
        encoder=encoder or HashEncoder(dim=128),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def router() -> Iterator[SemanticRouter]:
    r = make_router()
    yield r
    r.close()


@pytest.fixture
def client(router: SemanticRouter) -> Iterator[httpx.Client]:
    """A client of the app over ``router``, served by uvicorn on loopback, with a token."""
    with (
        serving(create_app(router, token=TOKEN, limits=LIMITS)) as url,
        httpx.Client(base_url=url, timeout=30) as c,
    ):
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}
