"""The encoder interface: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from .._exceptions import InvalidInputError, InvalidVectorError
from .._types import Vectors as Vectors  # re-exported: encoders and callers import it here

__all__ = ["DenseEncoder", "check_texts", "unit_rows"]


def check_texts(texts: Sequence[str]) -> list[str]:
    """Return ``texts`` as a list, refusing non-strings, blank strings and text that is not
    UTF-8 (lone surrogates, which tokenizers reject) with a typed error."""
    if isinstance(texts, (str, bytes)):
        raise InvalidInputError("expected a list of strings, got a single string")
    try:
        out = list(texts)
    except TypeError as exc:
        raise InvalidInputError(f"expected a list of strings, got {type(texts).__name__}") from exc
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InvalidInputError(f"text {i} is {type(text).__name__}, not str")
        if not text.strip():
            raise InvalidInputError(f"text {i} is empty or blank")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(
                f"text {i} is not valid unicode (lone surrogate at {exc.start})"
            ) from None
    return out


def unit_rows(vectors: object, n: int, dim: int) -> Vectors:
    """Validate an encoder's output and return it as C-contiguous, L2-normalised float32.

    Custom encoders are untrusted: a wrong shape, NaN/inf or an all-zero row raises
    ``InvalidVectorError`` instead of silently corrupting the index.
    """
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"encoder output is not numeric: {exc}") from exc
    if arr.ndim == 1 and n == 1:
        arr = arr[None, :]
    if arr.shape != (n, dim):
        raise InvalidVectorError(f"encoder returned shape {arr.shape}, expected {(n, dim)}")
    if not np.isfinite(arr).all():
        raise InvalidVectorError("encoder returned NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidVectorError("encoder returned an all-zero vector")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


class DenseEncoder(ABC):
    """Base class for encoders.

    Subclasses set ``name`` (identifies the model: vectors from different names never mix) and
    ``dim``, and implement ``encode``. Calling the encoder validates the input texts and the
    output vectors, so routers can trust ``encoder(texts)``.
    """

    name: str
    dim: int

    @abstractmethod
    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` (already validated, non-empty list) into a ``(len, dim)`` array."""

    def __call__(self, texts: Sequence[str]) -> Vectors:
        items = check_texts(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        return unit_rows(self.encode(items), len(items), self.dim)

    async def acall(self, texts: Sequence[str]) -> Vectors:
        """Encode on a worker thread so the event loop never blocks."""
        items = check_texts(texts)
        return await asyncio.to_thread(self.__call__, items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
