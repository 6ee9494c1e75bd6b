"""BLAS threads: a router caps them only around its own batch scoring (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fingerpost
import fingerpost.router as router_module
from fingerpost import InvalidInputError, Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder

ROUTES = [
    Route(name="politics", utterances=["the president", "vote for me"]),
    Route(name="chitchat", utterances=["lovely weather", "how are you"]),
]


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads() -> Any:
    """BLAS at 2 threads for the test (restored after), so a cap to 1 is visible."""
    if not _blas_threads():
        pytest.fail("numpy has no BLAS threadpool visible to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


@pytest.mark.parametrize("blas_threads", [None, 1, 3])
def test_building_a_router_leaves_the_process_blas_threads_alone(
    two_blas_threads: None, blas_threads: int | None
) -> None:
    before = threadpool_info()
    router = SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3, blas_threads=blas_threads)
    assert threadpool_info() == before
    router.batch(["the president", "lovely weather"])
    router("the president")
    assert threadpool_info() == before
    router.close()


def test_batch_scoring_runs_under_the_cap_and_restores_it(
    two_blas_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[int]] = []
    real = router_module.decide

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(router_module, "decide", recording)
    capped = SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3, blas_threads=1)
    free = SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3, blas_threads=None)
    assert [c.name for c in capped.batch(["the president", "lovely weather"])] == ["politics", "chitchat"]
    assert [c.name for c in free.batch(["the president", "lovely weather"])] == ["politics", "chitchat"]
    assert seen[0] and set(seen[0]) == {1}
    assert set(seen[1]) == {2}
    assert set(_blas_threads()) == {2}


def test_limit_blas_threads_is_the_explicit_process_wide_opt_in(two_blas_threads: None) -> None:
    with threadpool_limits(limits=2, user_api="blas"):  # restores whatever the helper sets
        fingerpost.limit_blas_threads(1)
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_blas_threads_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidInputError):
        SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3, blas_threads=bad)
    with pytest.raises(InvalidInputError):
        fingerpost.limit_blas_threads(bad)
