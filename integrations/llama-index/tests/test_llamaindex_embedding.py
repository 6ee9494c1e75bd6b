"""FingerpostEmbedding: the fingerpost encoder as a LlamaIndex BaseEmbedding."""

from __future__ import annotations

import numpy as np
import pytest
from _llamaindex_support import make_router
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.selectors.fingerpost import FingerpostEmbedding

from fingerpost import EncoderMismatchError, InvalidInputError
from fingerpost.encoders import OnnxEncoder
from fingerpost.encoders.testing import HashEncoder

TEXTS = ["the cat sat on the mat", "stock markets fell sharply", "volcanoes erupt molten lava"]
DOCS = {
    "cats": "Cats are small furry pets. A cat purrs and sleeps on the mat all day.",
    "stocks": "Stock markets trade shares. Share prices fell when the markets opened.",
    "volcanoes": "Volcanoes erupt molten lava and ash. Lava flows glow red at night.",
}
QUESTIONS = {
    "why does my cat sleep on the mat": "cats",
    "what happened to share prices on the stock markets": "stocks",
    "how hot is molten lava from volcanoes": "volcanoes",
}


@pytest.fixture
def encoder() -> HashEncoder:
    return HashEncoder(dim=128)


@pytest.fixture
def embedding(encoder: HashEncoder) -> FingerpostEmbedding:
    return FingerpostEmbedding(encoder)


def test_is_a_base_embedding_named_after_the_encoder(embedding: FingerpostEmbedding) -> None:
    assert isinstance(embedding, BaseEmbedding)
    assert embedding.model_name == "fingerpost-hash-v1-128"
    assert embedding.dim == 128
    assert embedding.class_name() == "FingerpostEmbedding"


def test_vectors_are_the_encoders(embedding: FingerpostEmbedding, encoder: HashEncoder) -> None:
    expected = encoder(TEXTS)
    np.testing.assert_allclose(embedding.get_query_embedding(TEXTS[0]), expected[0], rtol=1e-6)
    np.testing.assert_allclose(embedding.get_text_embedding(TEXTS[1]), expected[1], rtol=1e-6)
    np.testing.assert_allclose(embedding.get_text_embedding_batch(TEXTS), expected, rtol=1e-6)


def test_batches_are_one_encoder_call(embedding: FingerpostEmbedding, encoder: HashEncoder) -> None:
    embedding.get_text_embedding_batch(TEXTS)
    assert (encoder.calls, encoder.encoded) == (1, len(TEXTS))


async def test_async_twins_equal_sync(embedding: FingerpostEmbedding) -> None:
    assert await embedding.aget_query_embedding(TEXTS[0]) == embedding.get_query_embedding(TEXTS[0])
    assert await embedding.aget_text_embedding(TEXTS[1]) == embedding.get_text_embedding(TEXTS[1])
    batch = await embedding.aget_text_embedding_batch(TEXTS)
    assert batch == embedding.get_text_embedding_batch(TEXTS)


def test_from_router_shares_the_encoder(encoder: HashEncoder) -> None:
    assert FingerpostEmbedding.from_router(make_router(encoder)).encoder is encoder


def test_a_router_passed_positionally_shares_its_encoder(encoder: HashEncoder) -> None:
    assert FingerpostEmbedding(make_router(encoder)).encoder is encoder


class OwnEncoder(HashEncoder):
    """An encoder fingerpost cannot rebuild by name (not one of its own types)."""


@pytest.mark.parametrize("as_json", [False, True])
def test_to_dict_round_trip_keeps_the_encoder(as_json: bool) -> None:
    original = FingerpostEmbedding(HashEncoder(dim=64, name="hash-64"), embed_batch_size=8)
    loaded = (
        FingerpostEmbedding.from_json(original.to_json())
        if as_json
        else FingerpostEmbedding.from_dict(original.to_dict())
    )
    assert type(loaded.encoder) is HashEncoder  # was OnnxEncoder
    assert (loaded.encoder.name, loaded.dim, loaded.model_name) == ("hash-64", 64, "hash-64")
    assert loaded.embed_batch_size == 8
    assert loaded.get_query_embedding(TEXTS[0]) == original.get_query_embedding(TEXTS[0])


def test_the_packaged_onnx_encoder_round_trips_by_name_without_loading() -> None:
    original = FingerpostEmbedding(OnnxEncoder(max_length=128))
    loaded = FingerpostEmbedding.from_dict(original.to_dict())
    assert isinstance(loaded.encoder, OnnxEncoder) and not loaded.encoder.loaded
    assert (loaded.encoder.name, loaded.dim) == (original.encoder.name, original.dim)
    assert loaded.encoder.max_length == 128


def test_an_encoder_unknown_by_name_is_refused_or_passed_back() -> None:
    own = OwnEncoder(dim=32, name="own-32")
    data = FingerpostEmbedding(own).to_dict()
    with pytest.raises(
        EncoderMismatchError, match=r"OwnEncoder 'own-32'.*from_dict\(data, encoder="
    ):
        FingerpostEmbedding.from_dict(data)
    assert FingerpostEmbedding.from_dict(data, encoder=own).encoder is own
    with pytest.raises(EncoderMismatchError, match="own-32"):
        FingerpostEmbedding.from_dict(data, encoder=HashEncoder(dim=32))  # another encoder


def test_refuses_what_is_not_an_encoder_and_blank_text(embedding: FingerpostEmbedding) -> None:
    with pytest.raises(InvalidInputError, match="DenseEncoder"):
        FingerpostEmbedding(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        embedding.get_query_embedding("  ")


@pytest.fixture
def index(embedding: FingerpostEmbedding) -> VectorStoreIndex:
    documents = [Document(text=text, id_=name) for name, text in DOCS.items()]
    return VectorStoreIndex.from_documents(documents, embed_model=embedding)


@pytest.mark.parametrize(("question", "doc"), QUESTIONS.items())
def test_vector_store_index_retrieves_with_it(
    index: VectorStoreIndex, question: str, doc: str
) -> None:
    nodes = index.as_retriever(similarity_top_k=1).retrieve(question)
    assert [n.node.ref_doc_id for n in nodes] == [doc]


@pytest.mark.parametrize(("question", "doc"), QUESTIONS.items())
async def test_vector_store_index_aretrieves_with_it(
    index: VectorStoreIndex, question: str, doc: str
) -> None:
    nodes = await index.as_retriever(similarity_top_k=1).aretrieve(question)
    assert [n.node.ref_doc_id for n in nodes] == [doc]
