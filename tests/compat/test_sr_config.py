"""semantic-router 0.1.16 config files (committed fixtures it wrote, see fixtures/README.md)
load into fingerpost with ONE warning naming what is ignored (regression: they were refused
with a raw pydantic error dump)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from fingerpost import Aggregation, RouterConfig, SemanticRouter, SemanticRouterConfigWarning
from fingerpost.encoders.testing import HashEncoder

FIXTURES = Path(__file__).with_name("fixtures")


def _load(path: Path) -> tuple[RouterConfig, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = RouterConfig.from_semantic_router(path)
    return config, caught


@pytest.mark.parametrize("name", ["sr_config.json", "sr_config.yaml"])
def test_semantic_router_config_maps_routes_and_warns_once(name: str) -> None:
    config, caught = _load(FIXTURES / name)
    assert [type(w.message) for w in caught] == [SemanticRouterConfigWarning]
    text = str(caught[0].message)
    assert "encoder_type='fingerpost'" in text and "encoder=" in text
    assert "llm of routes ['get_time', 'chitchat']" in text
    raw = json.loads((FIXTURES / "sr_config.json").read_text())
    assert [r.name for r in config.routes] == [r["name"] for r in raw["routes"]]
    get_time = config.routes[0]
    assert get_time.utterances == raw["routes"][0]["utterances"]
    assert get_time.function_schemas == raw["routes"][0]["function_schemas"]
    assert get_time.metadata == {"team": "tools", "tier": 2}
    assert get_time.score_threshold == 0.3
    assert (config.aggregation, config.top_k, config.centroid_weight) == (Aggregation.MEAN, 5, 0.0)
    assert issubclass(SemanticRouterConfigWarning, UserWarning)


def test_router_from_json_and_yaml_accept_semantic_router_files() -> None:
    enc = HashEncoder(dim=16)
    for loader, name in (
        (SemanticRouter.from_json, "sr_config.json"),
        (SemanticRouter.from_yaml, "sr_config.yaml"),
    ):
        with pytest.warns(SemanticRouterConfigWarning, match="llm"):
            router = loader(FIXTURES / name, encoder=enc)
        with router:
            assert router("what time is it in rome").name == "get_time"
            assert sorted(r.name for r in router.routes) == ["chitchat", "get_time"]


def test_fingerpost_configs_load_without_a_warning() -> None:
    text = RouterConfig(routes=[]).to_json()
    assert RouterConfig.from_json(text).aggregation == Aggregation.MAX  # filterwarnings=error
