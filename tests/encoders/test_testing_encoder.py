"""HashEncoder: the deterministic, model-free encoder the rest of the test suite relies on."""

from __future__ import annotations

import numpy as np
import pytest

from fingerpost.encoders import HashEncoder


def test_same_text_same_vector_across_instances() -> None:
    texts = ["book a flight to paris", "what's my balance?"]
    np.testing.assert_array_equal(HashEncoder()(texts), HashEncoder()(texts))


def test_vectors_are_pinned_across_machines() -> None:
    # blake2b buckets, no randomness: this exact vector on every machine and Python version.
    expected = [0.0, 0.1646, 0.0, 0.1646, -0.1646, 0.0, -0.1646, 0.0]
    np.testing.assert_allclose(HashEncoder(dim=16)(["hello world"])[0, :8], expected, atol=1e-4)


def test_shared_words_give_higher_cosine() -> None:
    a, b, c = HashEncoder()(
        ["book a flight to paris", "book a flight to london", "what is my account balance"]
    )
    assert float(a @ b) > 0.5 > float(a @ c)


def test_shape_dtype_and_unit_norm() -> None:
    out = HashEncoder(dim=64)(["one", "two words", "!!!"])
    assert out.shape == (3, 64)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_text_without_words_still_gets_a_vector() -> None:
    out = HashEncoder()(["!!!", "???"])
    assert not np.allclose(out[0], out[1])


def test_name_identifies_dim_and_counters_track_work() -> None:
    enc = HashEncoder(dim=32)
    assert enc.name == "fingerpost-hash-v1-32"
    assert HashEncoder(name="custom").name == "custom"
    enc(["a", "b"])
    enc(["c"])
    enc([])  # empty input never reaches encode()
    assert (enc.calls, enc.encoded) == (2, 3)


def test_too_small_dim_is_refused() -> None:
    with pytest.raises(ValueError):
        HashEncoder(dim=4)
