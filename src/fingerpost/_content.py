"""What makes an utterance what it is, as one canonical string.

``UtteranceDiff`` (in ``schema``) and the sync hash (``sync._hash``) must cover exactly the
same fields, so both take them from here; living apart from both keeps ``schema`` from
importing ``sync`` (``sync`` builds on ``schema``, never the other way round).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import Utterance

__all__ = ["content_key", "fields_key"]


def content_key(u: Utterance) -> str:
    """Canonical JSON of everything that makes an utterance what it is (diff tag excluded)."""
    return fields_key(
        u.route, u.utterance, u.description, u.function_schemas, u.metadata, u.score_threshold
    )


def fields_key(*fields: object) -> str:
    """Canonical JSON of the given fields, in order (keys sorted, no spaces)."""
    return json.dumps(list(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
