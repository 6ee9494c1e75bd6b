"""Schemathesis against the served OpenAPI schema: whatever it sends, no 500, and every
response matches the schema (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from fingerpost.server import create_app  # noqa: E402

from ._serve import serving  # noqa: E402
from .conftest import AUTH, LIMITS, TOKEN, make_router  # noqa: E402

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


OPERATIONS = [
    "POST /v1/route",
    "POST /v1/route/batch",
    "GET /v1/routes",
    "POST /v1/routes",
    "GET /v1/routes/{name}",
    "GET /v1/thresholds",
    "PATCH /v1/routes/{name}",
    "DELETE /v1/routes/{name}",
    "GET /v1/diff",
    "POST /v1/sync",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Any]]:
    router = make_router()
    try:
        with serving(create_app(router, token=TOKEN, limits=LIMITS)) as url:
            yield url, schemathesis.openapi.from_url(f"{url}/openapi.json")
    finally:
        router.close()


def test_every_operation_is_covered(served: tuple[str, Any]) -> None:
    _, api = served
    labels = {op.ok().label for op in api.get_all_operations()}
    assert labels == set(OPERATIONS)


# schemathesis' own pytest loader (``from_fixture``) does not run under pytest 9, so each
# operation's hypothesis strategy is driven here, with a small, fixed budget of examples.
@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_schema(served: tuple[str, Any], label: str) -> None:
    url, api = served
    operation = api.find_operation_by_label(label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=AUTH, checks=CHECKS, timeout=30)

    check()
