"""Fitting and evaluating a router: thresholds, the route head, saved fits and retraining.

``_quality`` (``fit``: the glue), ``_fit`` (the head's math), ``_thresholds`` (choosing
thresholds and the blend on held-out rows), ``_fit_state`` (publishing, saving, restoring and
retraining a fit) and ``_evaluate`` (accuracy and per-route reports). They see a router only
through :class:`FitTarget` (and :class:`LabelledRouter` for evaluation): this package imports
the engine, never the router, so there is no router <-> quality import cycle.
"""

from __future__ import annotations

from ._evaluate import EvalReport, evaluation_report, route_scores
from ._quality import FitReport
from ._target import FitTarget, LabelledRouter, RemoteFitTarget, TableWrite

__all__ = [
    "EvalReport",
    "FitReport",
    "FitTarget",
    "LabelledRouter",
    "RemoteFitTarget",
    "TableWrite",
    "evaluation_report",
    "route_scores",
]
