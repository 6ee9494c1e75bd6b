"""``fingerpost.migrate``: copy a remote (typically one semantic-router 0.1.x wrote, opened
with ``layout="semantic-router"``) into fingerpost's layout on another remote.

The stored vectors are reused when they came from the same model as ``encoder``: a few
utterances are encoded and compared with their stored vectors (semantic-router keeps no
encoder name in its indexes, so this check is the only honest way to know). Otherwise every
utterance is encoded again. The copy itself is an ordinary ``sync("local")`` of a router
built over the target, so the target gets fingerpost's version record and content hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._exceptions import EncoderMismatchError, InvalidInputError
from .encoders.base import DenseEncoder, Vectors
from .index.base import RemoteIndex, RemotePoint
from .schema import Route

__all__ = ["MigrationReport", "migrate"]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What :func:`migrate` did.

    Attributes:
        routes: Routes copied.
        utterances: Utterances copied (one vector each).
        copied_vectors: Vectors taken from the source as they were.
        encoded: Utterances encoded again (all of them when the encoder did not match).
        encoder_matches: The sampled stored vectors equal ``encoder``'s (cosine >= 1 - tolerance).
        min_cosine: Lowest cosine between a sampled stored vector and the encoder's.
        target_count: Utterances in the target after the copy.
    """

    routes: int
    utterances: int
    copied_vectors: int
    encoded: int
    encoder_matches: bool
    min_cosine: float
    target_count: int


def _routes(points: Sequence[RemotePoint]) -> list[Route]:
    """Group points into routes (first utterance's route-level fields, source order kept)."""
    grouped: dict[str, list[RemotePoint]] = {}
    for p in points:
        grouped.setdefault(p.utterance.route, []).append(p)
    out = []
    for name, pts in grouped.items():
        first = pts[0].utterance
        out.append(
            Route(
                name=name,
                utterances=[p.utterance.utterance for p in pts],
                description=first.description,
                function_schemas=first.function_schemas,
                metadata=first.metadata,
                score_threshold=first.score_threshold,
                target_fpr=first.target_fpr,
            )
        )
    return out


def _unit(v: Vectors) -> Vectors:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True), dtype=np.float32)


def sample_cosines(points: Sequence[RemotePoint], encoder: DenseEncoder, sample: int) -> Vectors:
    """Cosines between stored and freshly encoded vectors of up to ``sample`` evenly spaced
    points (pure apart from the encoder call)."""
    if not points or sample < 1:
        return np.ones(0, dtype=np.float32)
    picks = sorted({round(i) for i in np.linspace(0, len(points) - 1, min(sample, len(points)))})
    stored = np.stack([np.asarray(points[i].vector, dtype=np.float32) for i in picks])
    fresh = encoder([points[i].utterance.utterance for i in picks])
    return np.asarray(np.sum(_unit(stored) * fresh, axis=1), dtype=np.float32)


class _StoredVectors(DenseEncoder):
    """``encoder`` that answers from the stored vectors first; counts what it really encodes."""

    def __init__(self, encoder: DenseEncoder, by_text: dict[str, Vectors]) -> None:
        self.name, self.dim = encoder.name, encoder.dim
        self._encoder, self._by_text = encoder, by_text
        self.encoded = 0

    def encode(self, texts: list[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._by_text]
        if missing:
            self.encoded += len(missing)
            self._by_text.update(zip(missing, self._encoder(missing), strict=True))
        return np.stack([self._by_text[t] for t in texts])


def migrate(
    source: RemoteIndex,
    target: RemoteIndex,
    encoder: DenseEncoder | None = None,
    *,
    reembed: bool | None = None,
    sample: int = 8,
    tolerance: float = 1e-3,
) -> MigrationReport:
    """Copy every route of ``source`` into ``target`` (fingerpost's layout, empty).

    Args:
        source: The remote to read, e.g. ``QdrantIndex("old", path=..., layout="semantic-router")``.
        target: An empty fingerpost remote (created if missing).
        encoder: The encoder the target will be used with; default ``OnnxEncoder()``.
        reembed: ``None`` (default): reuse the stored vectors when the encoder matches, else
            encode everything. ``True``: always encode. ``False``: reuse, and raise
            ``EncoderMismatchError`` when the stored vectors are not this encoder's.
        sample: Utterances encoded to check that the stored vectors are the encoder's.
        tolerance: Largest ``1 - cosine`` still counted as the same vector (float rounding,
            quantised models).

    Neither index is closed: the caller owns both.
    """
    from ._defaults import DEFAULT_SCORE_THRESHOLD
    from .router import SemanticRouter

    if encoder is None:
        from .encoders.onnx import OnnxEncoder

        encoder = OnnxEncoder()
    if source is target:
        raise InvalidInputError("source and target must be different remotes")
    source.bind(encoder.name, encoder.dim)
    points = source.fetch(with_vectors=True)
    cosines = sample_cosines(points, encoder, sample)
    min_cos = float(cosines.min()) if cosines.size else 1.0
    matches = min_cos >= 1.0 - tolerance
    if reembed is False and not matches:
        raise EncoderMismatchError(
            f"the source's vectors are not {encoder.name!r}'s (lowest sampled cosine "
            f"{min_cos:.4f}); migrate with reembed=None or True to encode them again"
        )
    use_stored = matches if reembed is None else not reembed
    target.bind(encoder.name, encoder.dim)
    if target.count():
        raise InvalidInputError(
            f"{target!r} already holds {target.count()} utterances; migrate into an empty one"
        )
    by_text: dict[str, Vectors] = {}
    if use_stored:
        for p in points:
            by_text.setdefault(p.utterance.utterance, _unit(np.asarray(p.vector, dtype=np.float32)))
    stored = _StoredVectors(encoder, by_text)
    routes = _routes(points)
    # A fixed threshold: this router only copies, so it must not calibrate (encode a background).
    router = SemanticRouter(
        routes=routes,
        encoder=stored,
        index=target,
        auto_sync="local",
        score_threshold=DEFAULT_SCORE_THRESHOLD,
    )
    router.close()
    n = len(points)
    return MigrationReport(
        routes=len(routes),
        utterances=n,
        copied_vectors=n - stored.encoded if use_stored else 0,
        encoded=stored.encoded,
        encoder_matches=matches,
        min_cosine=min_cos,
        target_count=target.count(),
    )
