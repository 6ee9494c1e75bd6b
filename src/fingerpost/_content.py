"""What makes an utterance what it is, as one canonical string.

``UtteranceDiff`` (in ``schema``) and the sync hash (``sync._hash``) must cover exactly the
same fields, so both take them from here; living apart from both keeps ``schema`` from
importing ``sync`` (``sync`` builds on ``schema``, never the other way round).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from json.encoder import encode_basestring as _string  # json.dumps(str, ensure_ascii=False)
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schema import Utterance

__all__ = ["content_key", "fields_key", "route_item_keys"]


def content_key(u: Utterance) -> str:
    """Canonical JSON of everything that makes an utterance what it is (diff tag excluded)."""
    return fields_key(
        u.route,
        u.utterance,
        u.description,
        u.function_schemas,
        u.metadata,
        u.score_threshold,
        *_optional(u.target_fpr),
    )


def _optional(target_fpr: object) -> tuple[object, ...]:
    """Fields added after the first release join the key only when set, so the keys (and the
    hashes and digests remotes keep) of contents without them stay what they were."""
    return () if target_fpr is None else (target_fpr,)


def fields_key(*fields: object) -> str:
    """Canonical JSON of the given fields, in order (keys sorted, no spaces)."""
    return json.dumps(list(fields), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def route_item_keys(
    name: str,
    texts: Iterable[str],
    description: object,
    function_schemas: object,
    metadata: object,
    score_threshold: object,
    target_fpr: object = None,
) -> list[str]:
    """:func:`content_key` of each text's utterance, with the route-level fields encoded once
    instead of once per utterance (a restart hashes every utterance of the mirror: 15,000
    keys, 0.25 -> 0.03 s)."""
    head = fields_key(name)[:-1] + ","
    tail = (
        ","
        + fields_key(
            description, function_schemas, metadata, score_threshold, *_optional(target_fpr)
        )[1:]
    )
    return [head + _string(t) + tail for t in texts]
