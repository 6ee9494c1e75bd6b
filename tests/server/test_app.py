"""The HTTP service under uvicorn on loopback: answers equal the library's, one error shape,
limits that answer 413/422 (never 500), bearer auth on writes, metrics."""

from __future__ import annotations

import httpx
import pytest

from fingerpost import SemanticRouter

from ..conftest import CHITCHAT
from .conftest import AUTH, LIMITS, TOKEN

TURNS = [
    "don't you love the president",
    "how's the weather today?",
    "tell me about quantum chromodynamics",
]


def _error(response: httpx.Response, status: int, type_name: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == type_name and body["error"]["status"] == status
    message: str = body["error"]["message"]
    return message


def test_route_equals_the_library(client: httpx.Client, router: SemanticRouter) -> None:
    for text in TURNS:
        got = client.post("/v1/route", json={"text": text}).json()
        want = router(text)
        assert got == {"choices": [] if want.name is None else [want.model_dump(mode="json")]}
        got_all = client.post("/v1/route", json={"text": text, "limit": None}).json()
        assert got_all == {"choices": [c.model_dump(mode="json") for c in router(text, limit=None)]}
    assert any(client.post("/v1/route", json={"text": t}).json()["choices"] for t in TURNS)
    filtered = client.post(
        "/v1/route", json={"text": TURNS[0], "route_filter": ["chitchat"], "limit": None}
    )
    assert all(c["name"] == "chitchat" for c in filtered.json()["choices"])


def test_batch_equals_the_library(client: httpx.Client, router: SemanticRouter) -> None:
    got = client.post("/v1/route/batch", json={"texts": TURNS, "limit": 2}).json()
    want = router.batch(TURNS, limit=2)
    assert got == {"results": [{"choices": [c.model_dump(mode="json") for c in w]} for w in want]}


def test_routes_crud_with_a_token(client: httpx.Client) -> None:
    listed = client.get("/v1/routes").json()["routes"]
    assert sorted(r["name"] for r in listed) == ["chitchat", "politics"]
    assert client.get("/v1/routes/chitchat").json()["utterances"] == CHITCHAT

    new = {"name": "music/jazz", "utterances": ["play some jazz", "put on miles davis"]}
    created = client.post("/v1/routes", json=new, headers=AUTH)
    assert created.status_code == 201 and created.json()["name"] == "music/jazz"
    assert (
        client.post("/v1/route", json={"text": "play some jazz"}).json()["choices"][0]["name"]
        == "music/jazz"
    )
    _error(client.post("/v1/routes", json=new, headers=AUTH), 409, "DuplicateRouteError")

    patched = client.patch(
        "/v1/routes/music/jazz", json={"score_threshold": 0.9, "metadata": {"k": 1}}, headers=AUTH
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["score_threshold"] == 0.9 and patched.json()["metadata"] == {"k": 1}
    assert patched.json()["utterances"] == new["utterances"]  # fields left out are kept
    assert client.get("/v1/routes/music/jazz").json()["score_threshold"] == 0.9
    # a calibrated route's own target (refused by the service before: unknown field)
    targeted = client.patch("/v1/routes/music/jazz", json={"target_fpr": 0.002}, headers=AUTH)
    assert targeted.status_code == 200, targeted.text
    assert client.get("/v1/routes/music/jazz").json()["target_fpr"] == 0.002
    _error(
        client.patch("/v1/routes/music/jazz", json={"target_fpr": 0.9}, headers=AUTH),
        422,
        "InvalidInputError",
    )

    assert client.delete("/v1/routes/music/jazz", headers=AUTH).status_code == 204
    _error(client.get("/v1/routes/music/jazz"), 404, "RouteNotFoundError")
    _error(client.delete("/v1/routes/music/jazz", headers=AUTH), 404, "RouteNotFoundError")
    _error(
        client.patch("/v1/routes/nope", json={"description": "x"}, headers=AUTH),
        404,
        "RouteNotFoundError",
    )


def test_thresholds_show_the_librarys_effective_values(
    client: httpx.Client, router: SemanticRouter
) -> None:
    """``GET /v1/thresholds``: what ``get_thresholds()`` shows (a calibrated route's own
    value, a route's explicit one), the router's similarity threshold and the calibration."""
    got = client.get("/v1/thresholds").json()
    state = router.to_config().calibration
    assert state is not None
    assert got == {
        "thresholds": router.get_thresholds(),
        "kinds": {"politics": "calibrated", "chitchat": "calibrated"},
        "score_threshold": router.score_threshold,
        "calibration": state.model_dump(mode="json"),
    }
    patched = client.patch("/v1/routes/chitchat", json={"score_threshold": 0.7}, headers=AUTH)
    assert patched.status_code == 200
    got = client.get("/v1/thresholds").json()
    assert got["thresholds"]["chitchat"] == 0.7  # its own threshold wins: no gate
    assert got["kinds"]["chitchat"] == "own"
    assert set(got["calibration"]["thresholds"]) == {"politics"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_writes_need_the_token(client: httpx.Client, headers: dict[str, str]) -> None:
    route = {"name": "x", "utterances": ["y"]}
    response = client.post("/v1/routes", json=route, headers=headers)
    _error(response, 401, "UnauthorizedError")
    assert response.headers["www-authenticate"] == "Bearer"
    _error(client.delete("/v1/routes/chitchat", headers=headers), 401, "UnauthorizedError")
    _error(
        client.patch("/v1/routes/chitchat", json={"description": "d"}, headers=headers),
        401,
        "UnauthorizedError",
    )
    _error(
        client.post("/v1/sync", json={"mode": "merge"}, headers=headers), 401, "UnauthorizedError"
    )
    assert client.get("/v1/routes/chitchat").status_code == 200  # reads need no token
    assert client.post("/v1/route", json={"text": "hi"}).status_code == 200


def test_limits_answer_413_or_422(client: httpx.Client) -> None:
    _error(
        client.post("/v1/route", json={"text": "x" * (LIMITS.max_text_chars + 1)}),
        422,
        "InvalidInputError",
    )
    texts = ["hello"] * (LIMITS.max_batch + 1)
    _error(client.post("/v1/route/batch", json={"texts": texts}), 422, "InvalidInputError")
    big = b'{"text": "' + b"a" * LIMITS.max_body_bytes + b'"}'
    _error(
        client.post("/v1/route", content=big, headers={"content-type": "application/json"}),
        413,
        "PayloadTooLargeError",
    )

    def chunks() -> object:  # no content-length: the limit holds while streaming
        for _ in range(8):
            yield b"a" * (LIMITS.max_body_bytes // 4)

    streamed = client.post(
        "/v1/route", content=chunks(), headers={"content-type": "application/json"}
    )  # type: ignore[arg-type]
    _error(streamed, 413, "PayloadTooLargeError")
    many = {"name": "big", "utterances": [f"u{i}" for i in range(LIMITS.max_utterances + 1)]}
    _error(client.post("/v1/routes", json=many, headers=AUTH), 422, "InvalidInputError")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "type_name"),
    [
        ("post", "/v1/route", {"text": "   "}, 422, "InvalidInputError"),
        ("post", "/v1/route", {"text": "hi", "limit": 0}, 422, "InvalidInputError"),
        ("post", "/v1/route", {"text": "hi", "extra": 1}, 422, "InvalidInputError"),
        ("post", "/v1/route", {"text": "hi", "route_filter": ["nope"]}, 404, "RouteNotFoundError"),
        ("post", "/v1/route/batch", {"texts": ["ok", " "]}, 422, "InvalidInputError"),
        ("post", "/v1/routes", {"name": " ", "utterances": ["a"]}, 422, "InvalidInputError"),
        ("post", "/v1/routes", {"name": "n", "utterances": []}, 422, "InvalidInputError"),
        ("post", "/v1/sync", {"mode": "merge"}, 422, "InvalidInputError"),  # no remote index
        ("post", "/v1/sync", {"mode": "sideways"}, 422, "InvalidInputError"),
        ("get", "/v1/nothing-here", None, 404, "EndpointNotFoundError"),
        ("put", "/v1/route", None, 405, "MethodNotAllowedError"),
    ],
)
def test_errors_have_one_shape(
    client: httpx.Client, method: str, path: str, body: object, status: int, type_name: str
) -> None:
    response = client.request(method.upper(), path, json=body, headers=AUTH)
    _error(response, status, type_name)


def test_invalid_json_is_a_422(client: httpx.Client) -> None:
    response = client.post(
        "/v1/route", content=b"{not json", headers={"content-type": "application/json"}
    )
    _error(response, 422, "InvalidInputError")


def test_health_ready_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "routes": None}
    assert client.get("/readyz").json() == {"status": "ready", "routes": 2}
    schema = client.get("/openapi.json").json()
    assert {
        "/v1/route",
        "/v1/route/batch",
        "/v1/routes",
        "/v1/routes/{name}",
        "/v1/thresholds",
        "/v1/diff",
        "/v1/sync",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(schema["paths"])
    assert (
        schema["components"]["schemas"]["RouteRequest"]["properties"]["text"]["maxLength"]
        == LIMITS.max_text_chars
    )


def test_metrics_count_turns_batches_and_requests(
    client: httpx.Client, router: SemanticRouter
) -> None:
    for text in TURNS:
        client.post("/v1/route", json={"text": text})
    client.post("/v1/route/batch", json={"texts": TURNS})
    text = client.get("/metrics").text
    names = [router(t).name or "none" for t in TURNS]
    for name in set(names):
        assert f'fingerpost_turns_total{{route="{name}"}} {2.0 * names.count(name)}' in text
    assert "none" in names  # the out-of-scope turn is counted under route="none"
    assert "fingerpost_micro_batch_size_count 4.0" in text  # three single turns, one batch
    assert "fingerpost_micro_batch_size_sum 6.0" in text
    for stage in ("encode", "score"):
        assert f'fingerpost_latency_seconds_count{{stage="{stage}"}} 4.0' in text
    assert 'fingerpost_latency_seconds_count{stage="total"} 4.0' in text
    assert "fingerpost_queue_depth 0.0" in text
    assert (
        'fingerpost_http_requests_total{endpoint="/v1/route",method="POST",status="200"} 3.0'
        in text
    )


def test_a_bug_is_a_500_in_the_same_shape(
    router: SemanticRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fingerpost.server import create_app

    from ._serve import serving

    def broken() -> list[object]:
        raise RuntimeError("a bug")

    app = create_app(router)
    monkeypatch.setattr(router, "get_utterance_diff", broken)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/v1/diff")
    assert _error(response, 500, "FingerpostError") == "internal error: RuntimeError"
