"""semantic-router 0.1.x's remote layouts: recognise them (pure), and map their records.

What semantic-router 0.1.16 writes (``semantic_router/index/qdrant.py`` and ``pinecone.py``):

* **Qdrant**: one point per (route, utterance), id ``uuid5(NAMESPACE_DNS, f"{route}:{utterance}")``
  (``f"{namespace}:{route}:{utterance}"`` with a namespace), payload
  ``{"sr_route", "sr_utterance", "metadata": {...}}`` (plus ``"namespace"`` when set).
  Function schemas are *not* stored in Qdrant. Its config (``sr_hash``, ``sr_lock``) lives in a
  separate collection ``sr_config`` (payload ``field``, ``scope``, ``value``, ``created_at``).
* **Pinecone**: id ``f"{clean_route}#{sha256(utterance)}"``, flat metadata: the route's metadata
  plus ``sr_route``, ``sr_utterance`` and ``sr_function_schema`` (a JSON string: a schema,
  ``"{}"`` when none, or the route's list of schemas when a sync wrote it); config records in the namespace ``sr_config``; metric ``dotproduct`` by default;
  older releases prefixed index names with ``semantic-router--``.

fingerpost's own records always carry ``kind`` (``utterance``, ``meta`` or ``lease``), so one
sample of records tells the layouts apart. Reading a foreign collection as fingerpost's would
show it empty (every read filters on ``kind``) and let ``sync("local")`` overwrite it; the
adapters call :func:`refuse_foreign` before they write anything to a collection they did not
create.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .._exceptions import ForeignLayoutError, InvalidInputError
from ..schema import Utterance

__all__ = [
    "FINGERPOST",
    "LAYOUTS",
    "SEMANTIC_ROUTER",
    "Layout",
    "check_layout",
    "classify",
    "foreign_error",
    "read_only_error",
    "refuse_foreign",
    "utterance_from_pinecone",
    "utterance_from_qdrant",
]

Layout = Literal["fingerpost", "semantic-router"]
FINGERPOST: Layout = "fingerpost"
SEMANTIC_ROUTER: Layout = "semantic-router"
LAYOUTS: tuple[Layout, ...] = (FINGERPOST, SEMANTIC_ROUTER)

SR_ROUTE = "sr_route"
SR_UTTERANCE = "sr_utterance"
SR_FUNCTION_SCHEMA = "sr_function_schema"
SR_CONFIG = "sr_config"  # its config collection (Qdrant) / namespace (Pinecone)
SR_PINECONE_PREFIX = "semantic-router--"
SAMPLE = 16  # records looked at to recognise a layout

_FINGERPOST_KINDS = frozenset({"utterance", "meta", "lease"})


def check_layout(layout: object) -> Layout:
    """The ``layout`` argument, validated."""
    if layout not in LAYOUTS:
        raise InvalidInputError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    return SEMANTIC_ROUTER if layout == SEMANTIC_ROUTER else FINGERPOST


def classify(payloads: Iterable[Mapping[str, Any]]) -> str | None:
    """Whose records these are: ``None`` for fingerpost's (or none at all), else the layout.

    semantic-router's keys win over anything else, so a collection it shares with other
    writers is still recognised; records with neither layout's keys are ``"unknown"``.
    """
    seen = ours = False
    for p in payloads:
        seen = True
        if SR_ROUTE in p or SR_UTTERANCE in p or str(p.get("field", "")).startswith("sr_"):
            return SEMANTIC_ROUTER
        ours = ours or p.get("kind") in _FINGERPOST_KINDS
    return "unknown" if seen and not ours else None


def foreign_error(layout: str, where: str, cls: str) -> ForeignLayoutError:
    """The error for a collection holding ``layout``'s records, with the way forward."""
    if layout == SEMANTIC_ROUTER:
        return ForeignLayoutError(
            f"{where} holds semantic-router 0.1.x records (keys sr_route/sr_utterance), not "
            "fingerpost's. fingerpost will not show it empty nor let a sync overwrite it. "
            f'To read it: {cls}(..., layout="semantic-router"); to copy it into fingerpost\'s '
            "layout: fingerpost.migrate(source, target, encoder=...)",
            layout=SEMANTIC_ROUTER,
        )
    return ForeignLayoutError(
        f"{where} holds records fingerpost did not write (no 'kind' field, layout {layout!r}); "
        "fingerpost will not show it empty nor let a sync overwrite it: give fingerpost a "
        "collection/index of its own (another index_name or namespace)",
        layout=layout,
    )


def read_only_error(where: str, what: str) -> ForeignLayoutError:
    return ForeignLayoutError(
        f"{where} is opened with layout='semantic-router', which is read-only ({what} refused): "
        "copy it into fingerpost's layout with fingerpost.migrate(...) and write there",
        layout=SEMANTIC_ROUTER,
    )


def refuse_foreign(payloads: Iterable[Mapping[str, Any]], where: str, cls: str) -> None:
    """Raise :class:`ForeignLayoutError` when the sampled records are not fingerpost's."""
    layout = classify(payloads)
    if layout is not None:
        raise foreign_error(layout, where, cls)


def _metadata(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def utterance_from_qdrant(payload: Mapping[str, Any]) -> Utterance:
    """A point of semantic-router's Qdrant layout as an :class:`Utterance`."""
    return Utterance(
        route=str(payload[SR_ROUTE]),
        utterance=str(payload[SR_UTTERANCE]),
        metadata=_metadata(payload.get("metadata")),
    )


def utterance_from_pinecone(metadata: Mapping[str, Any]) -> Utterance:
    """A vector of semantic-router's Pinecone layout as an :class:`Utterance`.

    ``sr_function_schema`` holds JSON: one schema (``"{}"``: none) when written by ``add``,
    the route's list of schemas when written by a sync; the route's own metadata sits flat
    beside the ``sr_*`` keys.
    """
    raw = metadata.get(SR_FUNCTION_SCHEMA) or "{}"
    try:
        schema = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ForeignLayoutError(
            f"unreadable sr_function_schema {raw!r}", layout=SEMANTIC_ROUTER
        ) from exc
    schemas = [s for s in (schema if isinstance(schema, list) else [schema]) if s]
    rest = {k: v for k, v in metadata.items() if not k.startswith("sr_")}
    return Utterance(
        route=str(metadata[SR_ROUTE]),
        utterance=str(metadata[SR_UTTERANCE]),
        function_schemas=schemas or None,
        metadata=rest,
    )
