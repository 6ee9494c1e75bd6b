"""Content identity shared by the hash (fast check) and the diff (slow check).

Both cover exactly the same fields: route, utterance, description, function schemas,
metadata, threshold, plus the encoder. Two sides are synced iff their hashes are equal iff
their diff has no ``+``/``-`` lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from ..schema import Utterance

__all__ = ["content_hash", "content_key"]


def content_key(u: Utterance) -> str:
    """Canonical JSON of everything that makes an utterance what it is (diff tag excluded)."""
    return json.dumps(
        [u.route, u.utterance, u.description, u.function_schemas, u.metadata, u.score_threshold],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def content_hash(utterances: Iterable[Utterance], encoder_name: str, encoder_dim: int) -> str:
    """Order-independent sha256 of the contents and the encoder."""
    h = hashlib.sha256(json.dumps([encoder_name, encoder_dim]).encode())
    for key in sorted({content_key(u) for u in utterances}):
        h.update(b"\n")
        h.update(key.encode())
    return h.hexdigest()
