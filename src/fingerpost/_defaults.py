"""Scoring defaults, written once.

The router's signature, the table's settings, ``RouterConfig`` and calibration all read
these, so a config saved without a field and a router built without an argument agree.
``DEFAULT_AGGREGATION`` is the ``Aggregation`` value's name: this module imports nothing, so
every other module (``schema`` included) can import it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEFAULT_AGGREGATION",
    "DEFAULT_CENTROID_WEIGHT",
    "DEFAULT_SCORE_THRESHOLD",
    "DEFAULT_TARGET_FPR",
    "DEFAULT_TOP_K",
]

# Chosen by measurement on CLINC150 train/val (never test); see README "How a turn is scored".
DEFAULT_TOP_K: Final = 5
DEFAULT_AGGREGATION: Final = "max"
# The fixed threshold used when calibration is off and no threshold was given.
DEFAULT_SCORE_THRESHOLD: Final = 0.45
DEFAULT_CENTROID_WEIGHT: Final = 0.7
# Share of ordinary turns a calibrated route may catch.
DEFAULT_TARGET_FPR: Final = 0.01
