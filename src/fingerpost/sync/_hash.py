"""Content identity shared by the hash (fast check) and the diff (slow check).

Both cover exactly the same fields: route, utterance, description, function schemas,
metadata, threshold, plus the encoder. Two sides are synced iff their hashes are equal iff
their diff has no ``+``/``-`` lines.

The hash is a multiset hash: the sum of the items' sha256 values modulo 2**256, plus the
encoder's. Order never matters, and a write that removes some items and adds others updates
it in O(changed items) (:func:`update_hash`), so the remote's version record can carry the
hash of its content without re-reading everything after each write.

Per-route digests (:func:`route_digests`, :func:`utterance_digests`) are the same sum taken
over one route's items, shortened to 64 bits: the version record keeps one per route, so a
restarting agent compares digests and reads only the routes whose digest differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from .._content import content_key, route_item_keys
from ..schema import Route, Utterance

__all__ = [
    "content_hash",
    "content_key",
    "route_digests",
    "routes_hash",
    "update_hash",
    "utterance_digests",
]

_MOD = 1 << 256
DIGEST_HEX = 16  # 64 bits per route: enough to tell a changed route, small enough to ship


def routes_hash(routes: Iterable[Route], encoder_name: str, encoder_dim: int) -> str:
    """``content_hash`` of the routes' utterances, without building Utterance objects."""
    total = 0
    for r in routes:
        total += sum(_h(k) for k in _route_keys(r))
    return f"{(total + _encoder(encoder_name, encoder_dim)) % _MOD:064x}"


def _route_keys(r: Route) -> list[str]:
    """The content keys of a route's utterances (a set: duplicates count once)."""
    return route_item_keys(
        r.name,
        dict.fromkeys(r.utterances),
        r.description,
        r.function_schemas,
        r.metadata,
        r.score_threshold,
        r.target_fpr,
    )


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def _sum(utterances: Iterable[Utterance]) -> int:
    return sum(_h(k) for k in {content_key(u) for u in utterances}) % _MOD


def _encoder(encoder_name: str, encoder_dim: int) -> int:
    return _h(json.dumps(["encoder", encoder_name, encoder_dim]))


def content_hash(utterances: Iterable[Utterance], encoder_name: str, encoder_dim: int) -> str:
    """Order-independent hash of the contents (a set: duplicates count once) and encoder."""
    return f"{(_sum(utterances) + _encoder(encoder_name, encoder_dim)) % _MOD:064x}"


def update_hash(
    old: str,
    removed: Iterable[Utterance],
    added: Iterable[Utterance],
) -> str:
    """The hash after removing and adding items (each must be present/absent as stated)."""
    value = (int(old, 16) - _sum(removed) + _sum(added)) % _MOD
    return f"{value:064x}"


def _digest(total: int) -> str:
    return f"{total % _MOD:064x}"[:DIGEST_HEX]


def route_digests(routes: Iterable[Route]) -> dict[str, str]:
    """Each route's content digest (the same items as :func:`routes_hash`, one route at a time)."""
    out: dict[str, str] = {}
    for r in routes:
        out[r.name] = _digest(sum(_h(k) for k in _route_keys(r)))
    return out


def utterance_digests(utterances: Iterable[Utterance]) -> dict[str, str]:
    """:func:`route_digests` of the routes these points make up (equal for equal contents)."""
    keys: dict[str, set[str]] = {}
    for u in utterances:
        keys.setdefault(u.route, set()).add(content_key(u))
    return {name: _digest(sum(_h(k) for k in ks)) for name, ks in keys.items()}
