"""BLAS threads: a router changes them only when asked, never as a side effect (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fingerpost
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


def test_building_and_using_a_router_leaves_the_process_blas_threads_alone(
    two_blas_threads: None,
) -> None:
    """It used to set BLAS to 1 thread process-wide in ``__init__`` (a side effect)."""
    before = threadpool_info()
    router = SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3)
    assert threadpool_info() == before
    assert [c.name for c in router.batch(["the president", "lovely weather"])] == [
        "politics",
        "chitchat",
    ]
    router.fit(
        ["the president", "lovely weather", "what is 2+2?"],
        ["politics", "chitchat", None],
        head=False,
    )
    assert threadpool_info() == before
    router.close()


def test_blas_threads_is_an_explicit_process_wide_opt_in(two_blas_threads: None) -> None:
    with threadpool_limits(limits=2, user_api="blas"):  # restores what the router sets
        SemanticRouter(ROUTES, encoder=HashEncoder(), score_threshold=0.3, blas_threads=1).close()
        assert set(_blas_threads()) == {1}
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
