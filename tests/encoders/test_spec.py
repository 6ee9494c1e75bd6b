"""Encoder specs (``fingerpost.encoders.encoder_spec``/``encoder_from_spec``): one
implementation in the core that both integrations serialise with (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fingerpost import EncoderMismatchError, InvalidInputError
from fingerpost.encoders import (
    DenseEncoder,
    HashEncoder,
    OnnxEncoder,
    check_encoder_spec,
    encoder_from_spec,
    encoder_spec,
)
from fingerpost.encoders.base import Vectors

ROOT = Path(__file__).resolve().parents[2]


class ConstantEncoder(DenseEncoder):
    name = "constant-v1"
    dim = 2

    def encode(self, texts: list[str]) -> Vectors:
        return np.tile(np.array([[1.0, 0.0]], np.float32), (len(texts), 1))


def _through_json(spec: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(spec))
    return loaded


def test_a_hash_encoder_comes_back_with_the_same_vectors() -> None:
    encoder = HashEncoder(dim=32, name="hash-test")
    rebuilt = encoder_from_spec(_through_json(encoder_spec(encoder)))
    assert isinstance(rebuilt, HashEncoder)
    assert (rebuilt.name, rebuilt.dim) == ("hash-test", 32)
    texts = ["book a flight", "what's the weather"]
    np.testing.assert_array_equal(rebuilt(texts), encoder(texts))


def test_the_packaged_onnx_encoder_is_rebuilt_unloaded_with_its_truncation() -> None:
    spec = _through_json(encoder_spec(OnnxEncoder(max_length=64)))
    assert spec["type"] == "OnnxEncoder" and spec["max_length"] == 64
    rebuilt = encoder_from_spec(spec)
    assert isinstance(rebuilt, OnnxEncoder) and not rebuilt.loaded
    assert rebuilt.max_length == 64
    with pytest.raises(EncoderMismatchError, match="custom-onnx"):
        encoder_from_spec({**spec, "name": "custom-onnx"})  # another ONNX model


def test_another_encoder_is_refused_with_the_callers_hint() -> None:
    spec = encoder_spec(ConstantEncoder())
    assert spec == {"type": "ConstantEncoder", "name": "constant-v1", "dim": 2}
    with pytest.raises(EncoderMismatchError, match=r"constant-v1.*pass it as encoder="):
        encoder_from_spec(spec, "pass it as encoder=")


@pytest.mark.parametrize(
    "spec",
    [{}, {"type": "HashEncoder", "name": "h"}, {"type": 1, "name": "h", "dim": 8}],
)
def test_a_malformed_spec_is_invalid_input(spec: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        encoder_from_spec(spec)


def test_check_refuses_an_encoder_the_spec_does_not_record() -> None:
    spec = encoder_spec(HashEncoder(dim=32, name="h"))
    check_encoder_spec(HashEncoder(dim=32, name="h"), spec)  # the same: accepted
    with pytest.raises(EncoderMismatchError, match="dim 32"):
        check_encoder_spec(HashEncoder(dim=16, name="h"), spec, "hint")


def test_the_integrations_keep_no_copy_of_the_rules() -> None:
    integrations = ROOT / "integrations"
    copies = [
        p.relative_to(ROOT).as_posix()
        for p in integrations.rglob("*.py")
        if ".venv" not in p.parts and "def encoder_from_spec" in p.read_text(encoding="utf-8")
    ]
    assert copies == []
