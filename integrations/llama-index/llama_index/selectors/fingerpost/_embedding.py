"""FingerpostEmbedding: a fingerpost encoder as a LlamaIndex ``BaseEmbedding``.

Lets an index, a retriever and the selector share one local model: build a
``VectorStoreIndex`` with ``FingerpostEmbedding.from_router(router)`` and nothing is loaded
twice. Async methods encode on a worker thread (``DenseEncoder.acall``).

``to_dict``/``from_dict`` keep the encoder: it travels as ``encoder_spec`` (type, name, dim)
and is rebuilt by name, or passed back as ``from_dict(data, encoder=...)`` and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from fingerpost import InvalidInputError, SemanticRouter
from fingerpost.encoders import DenseEncoder, check_encoder_spec, encoder_from_spec, encoder_spec

__all__ = ["FingerpostEmbedding"]

# Larger than LlamaIndex's default of 10: a local encoder has no per-request cost to amortise
# and batches well.
_BATCH_SIZE = 64
_HINT = "pass it back: FingerpostEmbedding.from_dict(data, encoder=<the encoder>)"


class FingerpostEmbedding(BaseEmbedding):
    """Embeds with a fingerpost :class:`~fingerpost.encoders.DenseEncoder`, locally.

    Vectors are L2-normalised float32 rows turned into lists, so cosine and dot product agree.
    Blank texts are refused with ``fingerpost.InvalidInputError`` (the encoder's rule).

    Serialised (``to_dict``/``to_json``), the encoder is recorded by ``encoder_spec``;
    ``from_dict`` rebuilds ``HashEncoder`` and the packaged ``OnnxEncoder`` from it, and refuses
    any other encoder (``EncoderMismatchError``) unless it is passed back as ``encoder=``.

    Args:
        encoder: Any ``DenseEncoder``, or a ``SemanticRouter`` to share its encoder; default
            ``OnnxEncoder()`` (all-MiniLM-L6-v2, offline).
        **kwargs: ``BaseEmbedding`` fields (``embed_batch_size``, ``callback_manager``, ...).
            ``model_name`` defaults to the encoder's name.

    Raises:
        InvalidInputError: ``encoder`` is not an encoder, or ``encoder_spec`` is malformed.
        EncoderMismatchError: ``encoder_spec`` names an encoder that cannot be rebuilt, or
            another encoder than the one given.
    """

    encoder_spec: dict[str, Any] = Field(
        default_factory=dict,
        description="The encoder's type, name and dim: how from_dict gets it back.",
    )
    _encoder: DenseEncoder = PrivateAttr()

    def __init__(self, encoder: DenseEncoder | SemanticRouter | None = None, **kwargs: Any) -> None:
        if isinstance(encoder, SemanticRouter):
            encoder = encoder.encoder
        spec = kwargs.pop("encoder_spec", None)
        if spec is not None and not isinstance(spec, Mapping):
            raise InvalidInputError(f"encoder_spec must be a mapping, got {spec!r}")
        if encoder is None and spec:
            encoder = encoder_from_spec(spec, _HINT)
        elif encoder is None:
            from fingerpost.encoders import OnnxEncoder

            encoder = OnnxEncoder()
        if not isinstance(encoder, DenseEncoder):
            raise InvalidInputError("encoder must be a fingerpost.encoders.DenseEncoder")
        if spec:
            check_encoder_spec(encoder, spec, _HINT)
        kwargs.setdefault("model_name", encoder.name)
        kwargs.setdefault("embed_batch_size", _BATCH_SIZE)
        kwargs["encoder_spec"] = encoder_spec(encoder)
        super().__init__(**kwargs)
        self._encoder = encoder

    @classmethod
    def from_router(cls, router: SemanticRouter, **kwargs: Any) -> FingerpostEmbedding:
        """Share ``router``'s encoder (and its loaded model); same as ``cls(router)``."""
        return cls(router.encoder, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "FingerpostEmbedding"

    @property
    def encoder(self) -> DenseEncoder:
        return self._encoder

    @property
    def dim(self) -> int:
        return self._encoder.dim

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._encoder([query])[0].tolist()  # type: ignore[no-any-return]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._encoder.acall([query]))[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._encoder([text])[0].tolist()  # type: ignore[no-any-return]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._encoder.acall([text]))[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._encoder(texts).tolist()  # type: ignore[no-any-return]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._encoder.acall(texts)).tolist()  # type: ignore[no-any-return]
