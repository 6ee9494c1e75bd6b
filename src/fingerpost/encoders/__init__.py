"""Encoders turn texts into L2-normalised float32 vectors.

``OnnxEncoder`` is the default (all-MiniLM-L6-v2, int8, offline); ``HashEncoder`` is a
deterministic, model-free stand-in for tests; subclass ``DenseEncoder`` to bring your own.
"""

from __future__ import annotations

from .base import DenseEncoder
from .onnx import OnnxEncoder
from .testing import HashEncoder

__all__ = ["DenseEncoder", "HashEncoder", "OnnxEncoder"]
