"""fingerpost.compat.semantic_router: semantic-router 0.1.x code runs unchanged but for the
import (regressions from issue 15: its quickstart raised "auto_sync and refresh_interval need
a remote index", ``Route(llm=None)`` and the ``threshold=`` spellings were refused)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from fingerpost import SemanticRouterConfigWarning
from fingerpost.compat import semantic_router as sr
from fingerpost.encoders.testing import HashEncoder
from tests.conftest import CHITCHAT, POLITICS

FIXTURES = Path(__file__).with_name("fixtures")
_HASH = HashEncoder(dim=16)


class ListEncoder(sr.DenseEncoder):
    """A semantic-router-style encoder: pydantic, lists out, no width attribute."""

    name: str = "list-hash"
    score_threshold: float | None = 0.3
    texts: int = 0
    calls: int = 0

    def __call__(self, docs: list[Any]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(docs)
        return _HASH(list(docs)).tolist()


def _routes() -> list[sr.Route]:
    return [
        sr.Route(name="politics", utterances=POLITICS, llm=None, metadata=None),
        sr.Route(name="chitchat", utterances=CHITCHAT),
    ]


def test_quickstart_runs_with_auto_sync_on_a_local_index() -> None:
    enc = ListEncoder()
    with sr.SemanticRouter(encoder=enc, routes=_routes(), auto_sync="local") as rl:
        assert enc.texts == len(POLITICS) + len(CHITCHAT)  # the width probe was reused
        choice = rl("don't you love politics?")
        assert isinstance(choice, sr.RouteChoice) and choice.name == "politics"
        assert rl("how's the weather today?").name == "chitchat"
        assert rl("") == sr.RouteChoice() and rl("   ", limit=None) == sr.RouteChoice()
        assert rl.score_threshold == 0.3 and rl.is_synced() and rl.sync("local") == []
        vec = _HASH(["don't you love politics?"])[0].tolist()
        assert rl(vector=vec) == choice
        assert asyncio.run(rl.acall("don't you just love the president")).name == "politics"
        assert asyncio.run(rl.acall("")) == sr.RouteChoice()


def test_none_threshold_lets_every_route_pass_as_in_semantic_router() -> None:
    with sr.SemanticRouter(encoder=ListEncoder(score_threshold=None), routes=_routes()) as rl:
        assert rl.score_threshold == -1.0
        assert rl("quantum chromodynamics lecture notes").name is not None


def test_threshold_spellings_and_update() -> None:
    with sr.SemanticRouter(encoder=ListEncoder(), routes=_routes()) as rl:
        rl.update("politics", threshold=0.9)
        rl.set_threshold(threshold=0.2, route_name="chitchat")
        assert rl.get_thresholds() == {"politics": 0.9, "chitchat": 0.2}
        rl.set_threshold(threshold=0.1)
        assert rl.get_thresholds() == {"politics": 0.1, "chitchat": 0.1}
        rl.update("chitchat", utterances=[*CHITCHAT, "nice day out"])
        assert "nice day out" in rl.get("chitchat").utterances
        with pytest.raises(ValueError, match="not found"):
            rl.update("nope", threshold=0.5)
        with pytest.raises(ValueError, match="At least one"):
            rl.update("politics")


def test_delete_of_a_missing_route_warns_and_async_twins(caplog: pytest.LogCaptureFixture) -> None:
    with sr.SemanticRouter(encoder=ListEncoder(), routes=_routes()) as rl:
        with caplog.at_level(logging.WARNING, logger="fingerpost.compat"):
            rl.delete("nope")
        assert "Route `nope` not found" in caplog.text
        asyncio.run(rl.aadd(sr.Route(name="food", utterances=["pizza tonight", "sushi for lunch"])))
        assert rl.list_route_names() == ["politics", "chitchat", "food"]
        asyncio.run(rl.adelete("politics"))
        assert [r.name for r in rl.routes] == ["chitchat", "food"]


def test_configs_from_semantic_router_files() -> None:
    with pytest.warns(SemanticRouterConfigWarning):
        config = sr.RouterConfig.from_file(FIXTURES / "sr_config.yaml")
    assert [r.name for r in config.routes] == ["get_time", "chitchat"]
    with pytest.warns(SemanticRouterConfigWarning):
        rl = sr.SemanticRouter.from_json(str(FIXTURES / "sr_config.json"), encoder=ListEncoder())
    with rl:
        assert rl("what time is it in rome").name == "get_time"
        assert rl.get_thresholds()["get_time"] == 0.3


def test_install_substitutes_the_semantic_router_imports() -> None:
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "semantic_router"}
    try:
        for k in saved:
            del sys.modules[k]
        names = sr.install()
        routers = importlib.import_module("semantic_router.routers")
        schema = importlib.import_module("semantic_router.schema")
        assert routers.SemanticRouter is sr.SemanticRouter and schema.RouteChoice is sr.RouteChoice
        assert "semantic_router.encoders.base" in names
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            from semantic_router import Route  # type: ignore[import-not-found]

        assert Route is sr.Route
    finally:
        for k in [k for k in sys.modules if k.split(".")[0] == "semantic_router"]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_sr_decide_is_semantic_router_global_top_k() -> None:
    import numpy as np

    from fingerpost.compat._sr_scoring import sr_decide

    sims = np.array([0.9, 0.5, 0.85, 0.84, 0.83, 0.1], dtype=np.float32)
    rows = ["a", "a", "b", "b", "b", "c"]
    # top 5 over ALL rows: a .9 .5, b .85 .84 .83 -> mean a .70, b .84 (per-route top-5 would differ)
    got = sr_decide(sims, rows, {"a": 0.3, "b": 0.3, "c": 0.3}, 5, "mean", None)
    assert [r for r, _ in got] == ["b", "a"] and got[0][1] == pytest.approx(0.84)
    assert [r for r, _ in sr_decide(sims, rows, {"a": 0.3, "b": 0.9}, 5, "mean", 1)] == ["a"]
    assert sr_decide(sims, rows, {"a": 0.95, "b": 0.95}, 5, "max", None) == []
    # 0.0 and a missing (None) threshold both let a route pass, whatever its score
    assert [r for r, _ in sr_decide(sims, rows, {"b": 0.0}, 5, "mean", None)] == ["b", "a"]
    assert [r for r, _ in sr_decide(sims, rows, {"a": 0.95, "b": 0.95}, 5, "mean", None)] == []
    assert [r for r, _ in sr_decide(sims, rows, {}, 2, "sum", None, ["b", "c"])] == ["b"]
    assert sr_decide(sims, rows, {}, 5, "mean", None, []) == []


def test_fingerpost_scoring_is_available() -> None:
    with sr.SemanticRouter(encoder=ListEncoder(), routes=_routes(), scoring="fingerpost") as rl:
        assert rl("don't you love politics?") == rl.router("don't you love politics?")
    with pytest.raises(ValueError, match="scoring"):
        sr.SemanticRouter(encoder=ListEncoder(), routes=_routes(), scoring="other")  # type: ignore[arg-type]


def test_a_calibrating_fingerpost_encoder_decides_on_similarity_thresholds() -> None:
    """Regression: with a fingerpost encoder the router underneath calibrates, and this layer
    decided on its ``get_thresholds()``, which shows a calibrated route's gate level (another
    scale): ordinary turns with similarities far below the threshold were routed. It
    decides on similarity thresholds, semantic-router's meaning, as before."""
    from tests.test_calibration import ORDINARY

    with sr.SemanticRouter(encoder=HashEncoder(dim=64), routes=_routes()) as rl:
        default = rl.score_threshold
        choices = [rl(turn) for turn in [*ORDINARY, "lovely weather today"]]
        assert all(c.name is None or c.similarity_score >= default for c in choices)
        assert choices[-1].name == "chitchat"
        assert rl.get_thresholds() == {"politics": default, "chitchat": default}
        assert rl.router.get_thresholds() != rl.get_thresholds()  # calibrated underneath
