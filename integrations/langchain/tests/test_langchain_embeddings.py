"""FingerpostEmbeddings: LangChain's standard embeddings suites, unmodified, plus agreement
with the router's own vectors."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest
from fingerpost import InvalidInputError, SemanticRouter
from fingerpost.encoders import DenseEncoder, OnnxEncoder
from fingerpost.encoders.testing import HashEncoder
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_fingerpost import FingerpostEmbeddings


@cache
def onnx_encoder() -> OnnxEncoder:
    return OnnxEncoder()  # loaded once for the whole module


class TestFingerpostEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[FingerpostEmbeddings]:
        return FingerpostEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"encoder": HashEncoder(dim=64)}


class TestFingerpostEmbeddingsIntegration(EmbeddingsIntegrationTests):
    """Against the real offline ONNX model."""

    @property
    def embeddings_class(self) -> type[FingerpostEmbeddings]:
        return FingerpostEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"encoder": onnx_encoder()}


class CountingEncoder(DenseEncoder):
    def __init__(self) -> None:
        self.inner = HashEncoder(dim=32)
        self.name, self.dim = self.inner.name, self.inner.dim

    def encode(self, texts: list[str]) -> Any:
        return self.inner.encode(texts)


def test_vectors_are_the_routers_own(router: SemanticRouter) -> None:
    embeddings = FingerpostEmbeddings(router=router)
    assert embeddings.encoder is router.encoder
    got = np.array(embeddings.embed_documents(["hello", "the president"]))
    want = router.encoder(["hello", "the president"])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.linalg.norm(got, axis=1) == pytest.approx([1.0, 1.0])


async def test_sync_and_async_agree_and_embed_documents_is_one_call() -> None:
    encoder = CountingEncoder()
    embeddings = FingerpostEmbeddings(encoder)
    docs = ["a cat", "a dog", "the weather today"]
    sync = embeddings.embed_documents(docs)
    assert encoder.inner.calls == 1
    assert await embeddings.aembed_documents(docs) == sync
    assert await embeddings.aembed_query("a dog") == sync[1] == embeddings.embed_query("a dog")
    assert embeddings.embed_documents([]) == []
    assert embeddings.dim == 32


def test_blank_text_and_bad_arguments_are_refused(encoder: HashEncoder) -> None:
    with pytest.raises(InvalidInputError):
        FingerpostEmbeddings(encoder).embed_query("  ")
    with pytest.raises(TypeError):
        FingerpostEmbeddings(encoder, router=SemanticRouter(encoder=encoder))


def test_the_default_encoder_is_the_onnx_model() -> None:
    assert isinstance(FingerpostEmbeddings().encoder, OnnxEncoder)
