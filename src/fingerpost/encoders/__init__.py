"""Encoders turn texts into L2-normalised float32 vectors.

``OnnxEncoder`` is the default (all-MiniLM-L6-v2, int8, offline); ``HashEncoder`` is a
deterministic, model-free stand-in for tests; subclass ``DenseEncoder`` to bring your own.
``encoder_spec``/``encoder_from_spec`` record an encoder as a small JSON spec and rebuild it by
name (how the integrations serialise a component without carrying a loaded model).
"""

from __future__ import annotations

from ._spec import check_encoder_spec, encoder_from_spec, encoder_spec
from .base import DenseEncoder
from .onnx import OnnxEncoder
from .testing import HashEncoder

__all__ = [
    "DenseEncoder",
    "HashEncoder",
    "OnnxEncoder",
    "check_encoder_spec",
    "encoder_from_spec",
    "encoder_spec",
]
