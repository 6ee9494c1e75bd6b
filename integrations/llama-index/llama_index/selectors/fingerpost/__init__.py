"""LlamaIndex integration for fingerpost: route queries to engines without asking an LLM.

``SemanticRouterSelector`` is a ``BaseSelector`` for ``RouterQueryEngine`` and
``RouterRetriever``; ``FingerpostEmbedding`` is the same local encoder as a ``BaseEmbedding``.
"""

from __future__ import annotations

from ._embedding import FingerpostEmbedding
from ._selection import ChoiceNameWarning, FingerpostSelection, NoSelectionError
from ._selector import SemanticRouterSelector

__version__ = "0.1.0"

__all__ = [
    "ChoiceNameWarning",
    "FingerpostEmbedding",
    "FingerpostSelection",
    "NoSelectionError",
    "SemanticRouterSelector",
]
