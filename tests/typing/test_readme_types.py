"""The README's calls, as users write them: checked by ``mypy --strict`` (``make lint``) and
run by pytest, so the types the overloads promise are also the values returned.

``assert_type`` fails mypy when a call's static type drifts (e.g. ``router(text)`` typing as
``RouteChoice | list[RouteChoice]`` again); the ``assert`` lines check the runtime values.
No model is loaded: ``HashEncoder`` stands in for ``OnnxEncoder``.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_type

import pytest

import fingerpost
from fingerpost import (
    FitReport,
    InvalidInputError,
    MigrationReport,
    Route,
    RouteChoice,
    SemanticRouter,
    SyncMode,
)
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex
from fingerpost.sync import SYNC_MODES

POLITICS = Route(
    name="politics",
    utterances=["isn't politics the best thing ever", "don't you just love the president"],
    metadata={"action": "refuse"},
)
CHITCHAT = Route(name="chitchat", utterances=["how's the weather today?", "how are things going?"])


def make_router() -> SemanticRouter:
    return SemanticRouter(routes=[POLITICS, CHITCHAT], encoder=HashEncoder(), score_threshold=0.3)


def test_call_types() -> None:
    router = make_router()
    choice = assert_type(router("don't you just love the president"), RouteChoice)
    assert isinstance(choice, RouteChoice)
    name: str | None = router("don't you just love the president").name
    assert name == "politics"
    score: float | None = router("how's the weather today?").similarity_score
    assert score is not None and score > 0.3
    assert assert_type(router("the president", limit=1), RouteChoice).name == "politics"
    choices: list[RouteChoice] = router("how's the weather today?", limit=None)
    assert choices and all(isinstance(c, RouteChoice) for c in choices)
    filtered = assert_type(router("lovely day", route_filter=["chitchat"]), RouteChoice)
    assert filtered.name in (None, "chitchat")
    n = 2
    some = assert_type(router("lovely day", limit=n), "RouteChoice | list[RouteChoice]")
    assert isinstance(some, list)


def test_batch_types() -> None:
    router = make_router()
    ones = assert_type(router.batch(["how are things going?", "the president"]), list[RouteChoice])
    assert [c.name for c in ones] == ["chitchat", "politics"]
    alls = assert_type(router.batch(["how are things going?"], limit=None), list[list[RouteChoice]])
    assert alls[0][0].name == "chitchat"


async def test_async_types() -> None:
    router = make_router()
    async with router:
        one = assert_type(await router.acall("don't you just love the president"), RouteChoice)
        assert one.name == "politics"
        many = assert_type(await router.acall("the president", limit=None), list[RouteChoice])
        assert many[0].name == "politics"
        batch = assert_type(await router.abatch(["the president"]), list[RouteChoice])
        assert batch[0].name == "politics"
        nested = assert_type(
            await router.abatch(["the president"], limit=None), list[list[RouteChoice]]
        )
        assert nested[0][0].name == "politics"


def test_management_and_config_types(tmp_path: Path) -> None:
    router = make_router()
    router.add(Route(name="billing", utterances=["I need a refund"]))
    updated: Route = router.update("politics", score_threshold=0.6)
    assert updated.score_threshold == 0.6
    router.update("politics", score_threshold=None)  # None clears; omitted keeps
    router.delete("billing")
    thresholds: dict[str, float] = router.get_thresholds()
    assert set(thresholds) == {"politics", "chitchat"}
    path = tmp_path / "routes.yaml"
    router.to_yaml(path)
    again = SemanticRouter.from_yaml(path, encoder=HashEncoder())
    assert sorted(again.list_route_names()) == ["chitchat", "politics"]
    with SemanticRouter(
        routes=[POLITICS], encoder=HashEncoder(), index=LocalIndex(path=tmp_path / "r.db")
    ) as stored:
        assert stored("don't you just love the president").name == "politics"


def test_fit_report_types() -> None:
    router = make_router()
    X = ["the president", "vote for me", "lovely weather", "how are you", "what is 2+2?"]
    y: list[str | None] = ["politics", "politics", "chitchat", "chitchat", None]
    report = assert_type(router.fit(X, y, head=False), FitReport)
    fitted: dict[str, float] = report.thresholds
    assert set(fitted) == {"politics", "chitchat"}
    before: float = report.before
    after: float = report.after
    assert 0.0 <= before <= 1.0 and 0.0 <= after <= 1.0
    accuracy: float = router.evaluate(X, y)
    assert 0.0 <= accuracy <= 1.0


async def test_sync_takes_the_sync_mode_literal() -> None:
    """``sync``/``async_sync`` take ``SyncMode`` like ``auto_sync``: a misspelt mode fails
    mypy (the ignores below would be unused, an error under --strict, if they took ``str``)
    and raises ``InvalidInputError`` at run time."""
    router = make_router()
    mode: SyncMode = "merge"
    with pytest.raises(InvalidInputError):  # no remote index to sync with
        router.sync(mode)
    with pytest.raises(InvalidInputError):
        router.sync("sideways")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await router.async_sync("sideways")  # type: ignore[arg-type]


def test_exported_names_type() -> None:
    mode: SyncMode = "merge"
    assert mode in SYNC_MODES
    assert MigrationReport.__name__ == "MigrationReport"
    version: str = fingerpost.__version__
    assert version
