"""semantic-router 0.1.x's public surface, as real code uses it, running on fingerpost.

Change ``from semantic_router...`` imports to ``from fingerpost.compat.semantic_router import
...`` (or call :func:`install` before importing code you cannot edit) and keep the calls:

* ``SemanticRouter(encoder=, routes=, index=, top_k=5, aggregation="mean", auto_sync=)``;
  ``auto_sync`` on a local index is accepted (a local index is always in sync); routes are
  indexed at construction even without ``auto_sync`` (semantic-router leaves them unindexed
  and raises "Index is not ready").
* ``router(text=, vector=, route_filter=, limit=)`` / ``await router.acall(...)``; an empty
  or blank ``text`` gives ``RouteChoice()`` (``[]`` with ``limit != 1``).
* ``add``/``aadd``, ``delete``/``adelete`` (a missing route logs a warning, as there),
  ``update(name, threshold=, utterances=)``, ``set_threshold(threshold=, route_name=)``
  (``route_name=None`` sets every route), ``get_thresholds``, ``list_route_names``, ``get``,
  ``sync(sync_mode, force=, wait=)``, ``is_synced``, ``get_utterance_diff``,
  ``from_json``/``from_yaml``/``from_config`` (their config files too), ``to_json``/``to_yaml``,
  ``fit``/``evaluate``; anything else falls through to the fingerpost router (``.router``).
* ``Route(..., llm=...)``: ``llm`` is accepted and kept on the object, never called.
* semantic-router-style encoders: pydantic ``DenseEncoder`` subclasses with ``name``,
  ``score_threshold`` and ``__call__(docs) -> list[list[float]]`` (fingerpost encoders work
  as they are). Their width is learnt from the first call, made on the first utterance, so
  no text is embedded twice.

Scoring is semantic-router's, exactly (:mod:`fingerpost.compat._sr_scoring`): the ``top_k``
nearest utterances of all routes, grouped and aggregated per route, routes walked best first
against their thresholds; the threshold is the encoder's ``score_threshold``, and ``None`` or
``0.0`` means "every route passes" as there (threshold -1 here). The vectors live in the
fingerpost router (local or mirrored remote); this layer keeps one matrix of them for that
decision. ``scoring="fingerpost"`` uses fingerpost's own per-route scoring instead (and its
batching for concurrent ``acall``). Scores are cosine similarities in both. Checked against
the real semantic-router 0.1.16 (tests/compat/test_sr_real.py) and LiteLLM's auto router on
both (tests/compat/test_litellm_auto_router.py).

Not covered: LLM-driven dynamic routes (``function_call`` argument generation), hybrid
routers and sparse encoders, semantic-router's own encoders (``OpenAIEncoder``, ...: wrap
any callable encoder instead), ``simulate_static``, its ``PostgresIndex``/``HybridLocalIndex``,
``index._read_config``-level internals and its ``fit`` random-search parameters (fingerpost
fits its own way; ``batch_size``/``max_iter``/``local_execution`` are ignored). ``wait=`` of
``sync`` is ignored: fingerpost waits ``lease_wait`` seconds (a constructor argument) for
another agent's lease. See docs/semantic-router.md.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import schema as _schema
from .._exceptions import InvalidInputError, RouteNotFoundError
from ..encoders.base import DenseEncoder as _FPEncoder
from ..encoders.base import Vectors, unit_rows
from ..engine._decide import check_text
from ..index.base import RemoteIndex
from ..index.local import LocalIndex
from ..router import SemanticRouter as _FPRouter
from ..schema import RouteChoice
from ..sync._plan import check_mode
from ._sr_scoring import sr_decide

__all__ = [
    "AsymmetricDenseMixin",
    "DenseEncoder",
    "LocalIndex",
    "Route",
    "RouteChoice",
    "RouterConfig",
    "SemanticRouter",
    "adapt_encoder",
    "install",
]

log = logging.getLogger("fingerpost.compat")

_PROBE = "dimension probe"


class Route(_schema.Route):
    """semantic-router's ``Route``: ``llm`` is tolerated (kept, never called), ``metadata=None``
    means ``{}``."""

    llm: Any = Field(default=None, exclude=True)

    @field_validator("metadata", mode="before")
    @classmethod
    def _none_metadata(cls, v: Any) -> Any:
        return {} if v is None else v


class RouterConfig(_schema.RouterConfig):
    """fingerpost's ``RouterConfig`` plus semantic-router's ``from_file``."""

    @classmethod
    def from_file(cls, path: str | Path) -> _schema.RouterConfig:
        """Read a ``.json`` or ``.yaml``/``.yml`` file (semantic-router's or fingerpost's)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            return cls.from_json(Path(path))
        if suffix in (".yaml", ".yml"):
            return cls.from_yaml(Path(path))
        raise InvalidInputError(f"unsupported config file type {suffix!r}: use .json or .yaml")


class DenseEncoder(BaseModel):
    """semantic-router's encoder base: subclasses set ``name`` and implement
    ``__call__(docs) -> list[list[float]]``."""

    model_config: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True, extra="allow")

    name: str
    score_threshold: float | None = None
    type: str = "base"

    def __call__(self, docs: list[Any]) -> list[list[float]]:
        raise NotImplementedError("subclasses implement __call__")

    async def acall(self, docs: list[Any]) -> list[list[float]]:
        raise NotImplementedError("this encoder has no async path")


class AsymmetricDenseMixin:
    """semantic-router's query/document split; routing embeds queries and documents alike."""

    def encode_queries(self, docs: list[str]) -> list[list[float]]:
        return self(docs)  # type: ignore[operator, no-any-return]

    def encode_documents(self, docs: list[str]) -> list[list[float]]:
        return self(docs)  # type: ignore[operator, no-any-return]


class _Adapter(_FPEncoder):
    """Any encoder as a fingerpost encoder that can record the vectors it makes.

    A semantic-router-style encoder (``__call__(docs) -> list[list[float]]``, no width) is
    called once on ``probe`` to learn its width; that vector serves the next call. While
    ``record`` is a dict, every text encoded lands in it (route utterances, for
    semantic-router's scoring), so no utterance is embedded twice.
    """

    def __init__(self, inner: Any, probe: str) -> None:
        self.inner = inner
        self.record: dict[str, Vectors] | None = None
        self._primed: tuple[str, Vectors] | None = None
        if isinstance(inner, _FPEncoder):
            self.name, self.dim = inner.name, inner.dim
            return
        self.name = str(getattr(inner, "name", None) or type(inner).__name__)
        first = np.asarray(inner([probe]), dtype=np.float32)
        if first.ndim != 2 or first.shape[0] != 1 or first.shape[1] < 1:
            raise InvalidInputError(f"encoder returned shape {first.shape} for one text")
        self.dim = int(first.shape[1])
        self._primed = (probe, first[0])

    def encode(self, texts: list[str]) -> Vectors:
        primed, self._primed = self._primed, None  # the probe's vector serves the next call only
        known: dict[str, Vectors] = dict([primed]) if primed is not None else {}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(
                zip(missing, np.asarray(self.inner(missing), dtype=np.float32), strict=True)
            )
        out = unit_rows(np.stack([known[t] for t in texts]), len(texts), self.dim)
        record = self.record
        if record is not None:
            record.update(zip(texts, out, strict=True))
        return out


def adapt_encoder(encoder: Any, probe: str = _PROBE) -> _Adapter:
    """A fingerpost encoder for ``encoder`` (a fingerpost one, or a semantic-router-style
    callable whose width is learnt by encoding ``probe``, reused by the next call)."""
    if not callable(encoder):
        raise InvalidInputError(f"encoder must be callable on a list of texts, got {encoder!r}")
    return _Adapter(encoder, probe)


def _threshold(encoder: Any) -> float | None:
    if isinstance(encoder, _FPEncoder):
        return None  # fingerpost's default
    value = getattr(encoder, "score_threshold", None)
    return float(value) if value else -1.0  # semantic-router: None/0.0 lets every route pass


def _as_list(routes: Route | _schema.Route | Iterable[_schema.Route] | None) -> list[_schema.Route]:
    if routes is None:
        return []
    return [routes] if isinstance(routes, _schema.Route) else list(routes)


class SemanticRouter:
    """semantic-router's ``SemanticRouter`` on fingerpost (see the module docstring)."""

    def __init__(
        self,
        encoder: Any = None,
        llm: Any = None,
        routes: Sequence[_schema.Route] | None = None,
        index: Any = None,
        top_k: int = 5,
        aggregation: str = "mean",
        auto_sync: str | None = None,
        init_async_index: bool = False,
        *,
        score_threshold: float | None = None,
        scoring: Literal["semantic-router", "fingerpost"] = "semantic-router",
        **kwargs: Any,
    ) -> None:
        if scoring not in ("semantic-router", "fingerpost"):
            raise InvalidInputError(
                f"scoring must be 'semantic-router' or 'fingerpost', got {scoring!r}"
            )
        if aggregation not in ("mean", "max", "sum"):
            raise InvalidInputError(f"aggregation must be mean, max or sum, got {aggregation!r}")
        items = _as_list(routes)
        if encoder is None:
            from ..encoders.onnx import OnnxEncoder

            encoder = OnnxEncoder()
        probe = items[0].utterances[0] if items else _PROBE
        self._adapter = adapt_encoder(encoder, probe)
        self.scoring = scoring
        self.top_k, self.aggregation = top_k, aggregation
        self._vectors: dict[str, Vectors] = {}  # route utterances' vectors, for sr scoring
        self._table: tuple[list[_schema.Route], Vectors, list[str]] | None = None
        if index is not None and not isinstance(index, (LocalIndex, RemoteIndex)):
            raise InvalidInputError(
                "index must be fingerpost's LocalIndex, QdrantIndex or PineconeIndex "
                "(semantic-router's index objects cannot be reused)"
            )
        remote = isinstance(index, RemoteIndex)
        self.llm = llm
        self.encoder = encoder
        with self._recording():
            self.router = _FPRouter(
                routes=items,
                encoder=self._adapter,
                index=index,
                top_k=top_k,
                aggregation=aggregation,
                score_threshold=_threshold(encoder) if score_threshold is None else score_threshold,
                centroid_weight=0.0,
                auto_sync=check_mode(auto_sync) if remote and auto_sync is not None else None,
                **kwargs,
            )
        self.index = self.router.index

    def __getattr__(self, name: str) -> Any:
        if name == "router":  # not set yet (failed construction)
            raise AttributeError(name)
        return getattr(self.router, name)

    def __repr__(self) -> str:
        return f"compat.SemanticRouter({self.router!r})"

    # ---- routing ---------------------------------------------------------------------------
    @contextmanager
    def _recording(self) -> Iterator[None]:
        """Keep the vectors the encoder makes for route utterances (no text embedded twice)."""
        self._adapter.record = self._vectors
        try:
            yield
        finally:
            self._adapter.record = None

    def _rows(self) -> tuple[list[_schema.Route], Vectors, list[str]]:
        """The stored utterances' vectors and routes, rebuilt only when the routes change."""
        routes = self.router.routes
        cached = self._table
        if (
            cached is not None
            and len(cached[0]) == len(routes)
            and all(a is b for a, b in zip(cached[0], routes, strict=True))
        ):
            return cached
        texts = [u for r in routes for u in r.utterances]
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:  # routes pulled from a remote or a store: encoded once, then kept
            self._vectors.update(zip(missing, self._adapter(missing), strict=True))
        matrix = (
            np.stack([self._vectors[t] for t in texts])
            if texts
            else np.empty((0, self._adapter.dim), dtype=np.float32)
        )
        self._table = (routes, matrix, [r.name for r in routes for _ in r.utterances])
        return self._table

    def _sr_choices(self, query: Vectors, route_filter: list[str] | None, limit: int | None) -> Any:
        """semantic-router's decision and return shapes: one choice, a list, or ``RouteChoice()``."""
        routes, matrix, row_routes = self._rows()
        by_name = {r.name: r for r in routes}
        passed = sr_decide(
            matrix @ query,
            row_routes,
            self._similarity_thresholds(routes),
            self.top_k,
            self.aggregation,
            limit,
            route_filter,
        )
        choices = [
            RouteChoice(name=n, similarity_score=score, metadata=by_name[n].metadata or None)
            for n, score in passed
        ]
        if not choices:
            return RouteChoice()
        return choices[0] if limit == 1 or len(choices) == 1 else choices

    def _query(self, vector: Any) -> Vectors:
        row = unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1), 1, self._adapter.dim)
        return np.asarray(row[0], dtype=np.float32)

    def __call__(
        self,
        text: str | None = None,
        vector: Any = None,
        simulate_static: bool = False,
        route_filter: list[str] | None = None,
        limit: int | None = 1,
    ) -> Any:
        if vector is None and isinstance(text, str) and not text.strip():
            return RouteChoice()
        if self.scoring == "fingerpost":
            return self.router(text, vector=vector, route_filter=route_filter, limit=limit)
        if vector is None:
            vector = self._adapter([check_text(text)])[0]
        return self._sr_choices(self._query(vector), route_filter, limit)

    async def acall(
        self,
        text: str | None = None,
        vector: Any = None,
        simulate_static: bool = False,
        route_filter: list[str] | None = None,
        limit: int | None = 1,
    ) -> Any:
        if vector is None and isinstance(text, str) and not text.strip():
            return RouteChoice()
        if self.scoring == "fingerpost":
            return await self.router.acall(
                text, vector=vector, route_filter=route_filter, limit=limit
            )
        if vector is None:
            vector = (await self._adapter.acall([check_text(text)]))[0]
        return self._sr_choices(self._query(vector), route_filter, limit)

    # ---- routes ----------------------------------------------------------------------------
    @property
    def routes(self) -> list[_schema.Route]:
        return self.router.routes

    @property
    def score_threshold(self) -> float:
        return self.router.score_threshold

    def add(self, routes: _schema.Route | Sequence[_schema.Route]) -> None:
        with self._recording():
            self.router.add(_as_list(routes))

    async def aadd(self, routes: _schema.Route | Sequence[_schema.Route]) -> None:
        await asyncio.to_thread(self.add, routes)

    def delete(self, route_name: str) -> None:
        """Delete a route; a missing one logs a warning (semantic-router's behaviour)."""
        if route_name not in self.router.list_route_names():
            log.warning("Route `%s` not found in SemanticRouter", route_name)
            return
        self.router.delete(route_name)

    async def adelete(self, route_name: str) -> None:
        await asyncio.to_thread(self.delete, route_name)

    def update(
        self, name: str, threshold: float | None = None, utterances: list[str] | None = None
    ) -> None:
        """semantic-router's ``update(name, threshold=, utterances=)`` (utterances work here)."""
        if threshold is None and utterances is None:
            raise InvalidInputError("At least one of 'threshold' or 'utterances' must be provided.")
        changes: dict[str, Any] = {}
        if threshold is not None:
            changes["score_threshold"] = threshold
        try:
            with self._recording():
                self.router.update(name, utterances=utterances, **changes)
        except RouteNotFoundError as exc:
            raise InvalidInputError(f"Route '{name}' not found. Nothing updated.") from exc

    def get_thresholds(self) -> dict[str, float]:
        """semantic-router's meaning: each route's similarity threshold, its own else the
        router's (the fingerpost router's ``get_thresholds`` shows a calibrated route's
        gate level instead, which is not on the similarity scale this router decides on)."""
        return self._similarity_thresholds(self.router.routes)

    def _similarity_thresholds(self, routes: Sequence[_schema.Route]) -> dict[str, float]:
        default = self.router.score_threshold
        return {r.name: default if r.score_threshold is None else r.score_threshold for r in routes}

    def set_threshold(self, threshold: float, route_name: str | None = None) -> None:
        """One route's threshold, or (``route_name=None``) every route's and the router's."""
        if route_name is None:
            for name in self.router.list_route_names():
                self.router.update(name, score_threshold=threshold)
            self.router.set_threshold(threshold)
        elif route_name not in self.router.list_route_names():
            log.error("Route `%s` not found", route_name)
        else:
            self.router.update(route_name, score_threshold=threshold)

    # ---- sync ------------------------------------------------------------------------------
    def sync(self, sync_mode: str, force: bool = False, wait: int = 0) -> list[str]:
        """``force``: sync even when the hashes match; ``wait`` is ignored (see module doc)."""
        if not isinstance(self.router.index, RemoteIndex):
            return []
        if not force and self.router.is_synced():
            return []
        return self.router.sync(check_mode(sync_mode))

    async def async_sync(self, sync_mode: str, force: bool = False, wait: int = 0) -> list[str]:
        return await asyncio.to_thread(self.sync, sync_mode, force, wait)

    def is_synced(self) -> bool:
        return not isinstance(self.router.index, RemoteIndex) or self.router.is_synced()

    def fit(self, X: Sequence[str], y: Sequence[str | None], **ignored: Any) -> None:
        """fingerpost's fit; semantic-router's ``batch_size``/``max_iter``/``local_execution``
        are accepted and ignored."""
        self.router.fit(X, y)

    # ---- configs ---------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls, config: _schema.RouterConfig, index: Any = None, encoder: Any = None, **kwargs: Any
    ) -> SemanticRouter:
        return cls(
            encoder=encoder,
            routes=config.routes,
            index=index,
            top_k=config.top_k,
            aggregation=config.aggregation.value,
            **kwargs,
        )

    @classmethod
    def from_json(cls, file_path: str | Path, encoder: Any = None, **kwargs: Any) -> SemanticRouter:
        """A router from a config file (semantic-router's or fingerpost's); its encoder type
        cannot be rebuilt here: pass ``encoder=`` (default: fingerpost's ``OnnxEncoder``)."""
        return cls.from_config(RouterConfig.from_file(file_path), encoder=encoder, **kwargs)

    from_yaml = from_json

    def close(self) -> None:
        self.router.close()

    def __enter__(self) -> SemanticRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MODULES = (
    "semantic_router",
    "semantic_router.routers",
    "semantic_router.routers.base",
    "semantic_router.routers.semantic",
    "semantic_router.route",
    "semantic_router.schema",
    "semantic_router.encoders",
    "semantic_router.encoders.base",
    "semantic_router.index",
    "semantic_router.index.local",
)


def install() -> list[str]:
    """Make ``import semantic_router...`` (the names in this module) load this module, for
    code you cannot edit. Refuses when the real semantic-router is already imported."""
    real = sys.modules.get("semantic_router")
    this: ModuleType = sys.modules[__name__]
    if real is not None and real is not this:
        raise InvalidInputError("the real semantic_router is already imported; install() first")
    for name in _MODULES:
        sys.modules[name] = this
    return list(_MODULES)
