"""Fitting and evaluation (placeholder until the quality issue lands)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._exceptions import InvalidInputError
from ._table import Snapshot
from .schema import FitState

if TYPE_CHECKING:
    from .router import SemanticRouter


def evaluate_router(router: SemanticRouter, X: Sequence[str], y: Sequence[str | None]) -> float:
    if len(X) != len(y):
        raise InvalidInputError("X and y must have the same length")
    if not X:
        raise InvalidInputError("nothing to evaluate")
    choices = router.batch(list(X))
    return sum(c.name == label for c, label in zip(choices, y, strict=True)) / len(X)


def fit_router(router: SemanticRouter, X: Sequence[str], y: Sequence[str | None], **kwargs: Any) -> Any:
    raise NotImplementedError("fit is not implemented yet")


def fit_state_of(router: SemanticRouter, snap: Snapshot) -> FitState | None:
    return None


def restore_fit_state(router: SemanticRouter, state: FitState) -> None:
    return None


def on_routes_changed(router: SemanticRouter) -> None:
    return None
