"""Encoders by name: how a serialised component records its encoder and gets it back.

A serialised runnable, selector or embedding must not carry a loaded model, so the encoder
travels as a small JSON spec (type, name, dim, and what changes the vectors). ``HashEncoder``
and the packaged ``OnnxEncoder`` are rebuilt from it; any other encoder is only named, and
loading refuses it with a message that says how to pass it instead. The LangChain and
LlamaIndex integrations both use these rules (they do not import each other), so a spec one
writes the other reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import EncoderMismatchError, FingerpostError, InvalidInputError
from .base import DenseEncoder
from .onnx import OnnxEncoder
from .testing import HashEncoder

__all__ = ["KNOWN_ENCODERS", "check_encoder_spec", "encoder_from_spec", "encoder_spec"]

KNOWN_ENCODERS = ("HashEncoder", "OnnxEncoder")
"""Encoder types rebuilt from their spec alone (the ONNX one only for the packaged model)."""

_DEFAULT_HINT = "pass the encoder explicitly"


def encoder_spec(encoder: DenseEncoder) -> dict[str, Any]:
    """A JSON-able record of ``encoder``: enough to rebuild a known one, to check any other.

    Args:
        encoder: Any :class:`DenseEncoder`.

    Returns:
        ``{"type", "name", "dim"}``, plus ``max_length`` for an ``OnnxEncoder`` (truncation
        changes its vectors). Nothing is loaded or encoded.
    """
    spec: dict[str, Any] = {
        "type": type(encoder).__name__,
        "name": encoder.name,
        "dim": encoder.dim,
    }
    if type(encoder) is OnnxEncoder:
        spec["max_length"] = encoder.max_length  # truncation changes the vectors
    return spec


def encoder_from_spec(spec: Mapping[str, Any], hint: str = _DEFAULT_HINT) -> DenseEncoder:
    """Rebuild the encoder ``spec`` describes (an ``OnnxEncoder`` is not loaded until used).

    Args:
        spec: What :func:`encoder_spec` wrote.
        hint: How the caller passes an encoder instead, for the error message.

    Raises:
        InvalidInputError: ``spec`` is malformed.
        EncoderMismatchError: The encoder is not one fingerpost can rebuild by name, or the
            rebuilt one differs from the spec (another ONNX model, another dimension).
    """
    kind, name, dim = spec.get("type"), spec.get("name"), spec.get("dim")
    if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(dim, int):
        raise InvalidInputError(f"an encoder spec needs str type and name and int dim: {spec!r}")
    refusal = (
        f"cannot rebuild encoder {kind} {name!r} (dim {dim}) by name: only "
        f"{' and '.join(KNOWN_ENCODERS)} (its packaged model) are known; {hint}"
    )
    try:
        if kind == "HashEncoder":
            rebuilt: DenseEncoder = HashEncoder(dim=dim, name=name)
        elif kind == "OnnxEncoder":
            max_length = spec.get("max_length")
            rebuilt = OnnxEncoder(max_length=max_length if isinstance(max_length, int) else None)
        else:
            raise EncoderMismatchError(refusal)
    except EncoderMismatchError:
        raise
    except FingerpostError as exc:
        raise EncoderMismatchError(refusal) from exc
    check_encoder_spec(rebuilt, spec, hint)
    return rebuilt


def check_encoder_spec(
    encoder: DenseEncoder, spec: Mapping[str, Any], hint: str = _DEFAULT_HINT
) -> None:
    """Refuse ``encoder`` when it is not the one ``spec`` records (its vectors would differ).

    Raises:
        EncoderMismatchError: Name or dimension differ from the spec's.
    """
    if (encoder.name, encoder.dim) != (spec.get("name"), spec.get("dim")):
        raise EncoderMismatchError(
            f"the serialised component was made with encoder {spec.get('name')!r} "
            f"(dim {spec.get('dim')}); got {encoder.name!r} (dim {encoder.dim}); {hint}"
        )
