"""A deterministic, model-free encoder for tests and examples that must not load ONNX."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from .._exceptions import InvalidInputError
from .base import DenseEncoder, Vectors

__all__ = ["HashEncoder"]

_WORD = re.compile(r"[a-z0-9']+")


class HashEncoder(DenseEncoder):
    """Bag of words and character trigrams hashed into ``dim`` signed buckets.

    Texts sharing words get high cosine similarity, unrelated texts get low similarity, and
    the same text always gets the same vector on every machine (blake2b, no randomness).
    """

    def __init__(self, dim: int = 128, name: str | None = None) -> None:
        if dim < 8:
            raise InvalidInputError("dim must be at least 8")
        self.dim = dim
        self.name = name or f"fingerpost-hash-v1-{dim}"
        self.calls = 0  # number of encode() calls, for tests that count encoder work
        self.encoded = 0  # number of texts encoded

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        feats = [(f"w:{w}", 1.0) for w in words]
        for w in words:
            padded = f"#{w}#"
            feats.extend((f"c:{padded[i : i + 3]}", 0.3) for i in range(len(padded) - 2))
        return feats or [(f"raw:{text}", 1.0)]

    def encode(self, texts: list[str]) -> Vectors:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dim] += weight if (h >> 63) & 1 else -weight
            if not out[row].any():
                out[row, 0] = 1.0
        return out
