"""The encoder interface: input checks, output validation, and a custom subclass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import fingerpost.encoders
from fingerpost._exceptions import InvalidInputError, InvalidVectorError
from fingerpost.encoders import DenseEncoder
from fingerpost.encoders.base import Vectors, check_texts, unit_rows


def test_public_exports_are_pinned() -> None:
    assert fingerpost.encoders.__all__ == [
        "DenseEncoder",
        "HashEncoder",
        "OnnxEncoder",
        "check_encoder_spec",
        "encoder_from_spec",
        "encoder_spec",
    ]
    for name in fingerpost.encoders.__all__:
        assert hasattr(fingerpost.encoders, name)


# --- check_texts ---------------------------------------------------------------------------


def test_check_texts_returns_a_list() -> None:
    assert check_texts(("a", "b")) == ["a", "b"]
    assert check_texts([]) == []


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("a bare string", "single string"),
        (["ok", 3], "text 1 is int"),
        (["ok", None], "text 1 is NoneType"),
        ([""], "text 0 is empty"),
        (["ok", " \t\n"], "text 1 is empty or blank"),
    ],
)
def test_check_texts_refuses_bad_input(texts: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_texts(texts)


# --- unit_rows -----------------------------------------------------------------------------


def test_unit_rows_normalises_to_contiguous_float32() -> None:
    raw = np.asfortranarray(np.array([[3.0, 4.0], [0.0, -2.0]], dtype=np.float64))
    out = unit_rows(raw, 2, 2)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, -1.0]], atol=1e-7)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous


def test_unit_rows_accepts_a_flat_vector_for_one_text() -> None:
    assert unit_rows([0.0, 5.0], 1, 2).shape == (1, 2)


@pytest.mark.parametrize(
    ("vectors", "n", "dim", "message"),
    [
        ([[1.0, np.nan]], 1, 2, "NaN or infinite"),
        ([[1.0, np.inf]], 1, 2, "NaN or infinite"),
        ([[1.0, -np.inf], [1.0, 1.0]], 2, 2, "NaN or infinite"),
        ([[1.0, 2.0, 3.0]], 1, 2, r"shape \(1, 3\), expected \(1, 2\)"),
        ([1.0, 2.0], 2, 2, "shape"),  # a flat vector only stands for a single text
        ([[1.0, 2.0]], 2, 2, "shape"),
        ([[1.0, 2.0], [0.0, 0.0]], 2, 2, "all-zero"),
        ([["a", "b"]], 1, 2, "not numeric"),
        (None, 1, 2, "shape"),
    ],
)
def test_unit_rows_refuses_bad_vectors(vectors: Any, n: int, dim: int, message: str) -> None:
    with pytest.raises(InvalidVectorError, match=message):
        unit_rows(vectors, n, dim)


# --- a custom encoder ----------------------------------------------------------------------


class LengthEncoder(DenseEncoder):
    """Returns plain Python lists (untrusted output) built from text length."""

    name = "length-v1"
    dim = 3

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.seen: list[list[str]] = []

    def encode(self, texts: list[str]) -> Vectors:
        self.seen.append(texts)
        rows: Any = [[float(len(t)), 1.0, 0.0] for t in texts]
        if self.broken:
            rows = [row[:2] for row in rows]
        return rows  # type: ignore[no-any-return]


def test_custom_encoder_output_is_validated_and_normalised() -> None:
    enc = LengthEncoder()
    out = enc(("abc", "a"))
    assert out.shape == (2, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[1], [np.sqrt(0.5), np.sqrt(0.5), 0.0], atol=1e-6)
    assert enc.seen == [["abc", "a"]]  # encode() receives a list even from a tuple


def test_custom_encoder_with_wrong_width_raises() -> None:
    with pytest.raises(InvalidVectorError):
        LengthEncoder(broken=True)(["abc"])


def test_empty_input_skips_encode() -> None:
    enc = LengthEncoder()
    assert enc([]).shape == (0, 3)
    assert enc.seen == []


def test_bad_text_never_reaches_encode() -> None:
    enc = LengthEncoder()
    with pytest.raises(InvalidInputError):
        enc(["fine", ""])
    assert enc.seen == []


async def test_acall_equals_call_and_validates_first() -> None:
    enc = LengthEncoder()
    np.testing.assert_array_equal(await enc.acall(["ab", "abcd"]), enc(["ab", "abcd"]))
    with pytest.raises(InvalidInputError):
        await enc.acall("bare string")


def test_repr_and_abstractness() -> None:
    assert repr(LengthEncoder()) == "LengthEncoder(name='length-v1', dim=3)"
    with pytest.raises(TypeError):
        DenseEncoder()  # type: ignore[abstract]
