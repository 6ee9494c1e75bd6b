"""FingerpostEmbeddings: a fingerpost encoder as LangChain ``Embeddings``.

Vectors are the router's own (L2-normalised float32 rows, as Python floats), so a LangChain
vector store built with them agrees with fingerpost's scores.
"""

from __future__ import annotations

from fingerpost import SemanticRouter
from fingerpost.encoders import DenseEncoder
from langchain_core.embeddings import Embeddings

__all__ = ["FingerpostEmbeddings"]


class FingerpostEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over a fingerpost encoder.

    Args:
        encoder: Any ``DenseEncoder``; default ``OnnxEncoder()`` (all-MiniLM-L6-v2, offline).
            A ``SemanticRouter`` here means its encoder, as ``router=`` does.
        router: Use this router's encoder instead (exclusive with ``encoder``).
    """

    def __init__(
        self,
        encoder: DenseEncoder | SemanticRouter | None = None,
        *,
        router: SemanticRouter | None = None,
    ) -> None:
        if encoder is not None and router is not None:
            raise TypeError("pass encoder or router, not both")
        if isinstance(encoder, SemanticRouter):
            encoder, router = None, encoder
        if router is not None:
            encoder = router.encoder
        if encoder is None:
            from fingerpost.encoders import OnnxEncoder

            encoder = OnnxEncoder()
        self.encoder = encoder

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One encoder call for all ``texts``; blank texts raise ``InvalidInputError``."""
        return self.encoder(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin: encodes on a worker thread."""
        return (await self.encoder.acall(texts)).tolist()  # type: ignore[no-any-return]

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]

    def __repr__(self) -> str:
        return f"FingerpostEmbeddings(encoder={self.encoder!r})"
