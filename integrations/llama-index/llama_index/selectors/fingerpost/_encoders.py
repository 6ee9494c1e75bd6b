"""Encoders by name: how a serialised component records its encoder and gets it back.

A serialised runnable must not carry a loaded model, so the encoder travels as a small JSON
spec (type, name, dim, and what changes the vectors). ``HashEncoder`` and the packaged
``OnnxEncoder`` are rebuilt from it; any other encoder is only named, and loading refuses it
with a message that says how to pass it. The same rules live in
``langchain_fingerpost._encoders``: the two distributions do not import each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fingerpost import EncoderMismatchError, FingerpostError, InvalidInputError
from fingerpost.encoders import DenseEncoder, HashEncoder, OnnxEncoder

__all__ = ["KNOWN_ENCODERS", "check_encoder", "encoder_from_spec", "encoder_spec"]

KNOWN_ENCODERS = ("HashEncoder", "OnnxEncoder")
"""Encoder types rebuilt from their spec alone (the ONNX one only for the packaged model)."""


def encoder_spec(encoder: DenseEncoder) -> dict[str, Any]:
    """A JSON-able record of ``encoder``: enough to rebuild a known one, to check any other."""
    spec: dict[str, Any] = {
        "type": type(encoder).__name__,
        "name": encoder.name,
        "dim": encoder.dim,
    }
    if type(encoder) is OnnxEncoder:
        spec["max_length"] = encoder.max_length  # truncation changes the vectors
    return spec


def encoder_from_spec(spec: Mapping[str, Any], hint: str) -> DenseEncoder:
    """Rebuild the encoder ``spec`` describes.

    Args:
        spec: What :func:`encoder_spec` wrote.
        hint: How the caller passes an encoder instead, for the error message.

    Raises:
        InvalidInputError: ``spec`` is malformed.
        EncoderMismatchError: The encoder is not one fingerpost can rebuild by name.
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
    check_encoder(rebuilt, spec, hint)
    return rebuilt


def check_encoder(encoder: DenseEncoder, spec: Mapping[str, Any], hint: str) -> None:
    """Refuse ``encoder`` when it is not the one ``spec`` records (its vectors would differ)."""
    if (encoder.name, encoder.dim) != (spec.get("name"), spec.get("dim")):
        raise EncoderMismatchError(
            f"the serialised component was made with encoder {spec.get('name')!r} "
            f"(dim {spec.get('dim')}); got {encoder.name!r} (dim {encoder.dim}); {hint}"
        )
