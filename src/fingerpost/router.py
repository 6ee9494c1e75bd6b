"""SemanticRouter: the public router. Thin I/O over the pure scoring core.

A turn: validate -> encode (worker thread for async callers) -> take the table snapshot ->
score (pure) -> RouteChoice. Writers build the next snapshot and publish it atomically, so
readers never lock and never see half a write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, overload

import numpy as np

from ._calibrator import (
    calibration_choice,
    calibration_state,
    make_calibrator,
    remember_background,
)
from ._defaults import (
    DEFAULT_AGGREGATION,
    DEFAULT_CENTROID_WEIGHT,
    DEFAULT_TARGET_FPR,
    DEFAULT_TOP_K,
)
from ._exceptions import (
    EncoderMismatchError,
    FingerpostError,
    InvalidInputError,
    RouteNotFoundError,
)
from ._fit_target import RouterFitTarget, encode_checked
from ._types import Vectors
from .encoders.base import DenseEncoder, check_texts
from .engine._batcher import MicroBatcher
from .engine._decide import (
    as_routes,
    candidates,
    check_fit_data,
    check_limit,
    check_name,
    check_query_input,
    check_text,
    check_update_args,
    decide,
    effective_thresholds,
    filter_names,
    format_choices,
    gate_levels,
    query_vector,
    scoring_settings,
)
from .engine._remote_scoring import (
    aremote_passing_routes_batch,
    remote_passing_routes_batch,
)
from .engine._table import Snapshot
from .engine._threads import limit_blas_threads
from .index.base import RemoteIndex
from .index.local import LocalIndex
from .quality._evaluate import evaluate_router
from .quality._fit_state import fit_state_of, restore_fit_state, wait_for_retrain
from .quality._quality import FitReport, fit_router
from .schema import (
    Aggregation,
    CalibrationState,
    FitState,
    Route,
    RouteChoice,
    RouterConfig,
    ThresholdReport,
    Utterance,
    copy_route,
)
from .sync._apply import RemoteSync
from .sync._plan import SyncMode, check_mode
from .sync._router import Refresher, RemoteMixin

log = logging.getLogger("fingerpost")

__all__ = ["SemanticRouter"]


class _Unset(Enum):
    """Tells "not given" from ``None`` (which clears a field) in ``update``."""

    UNSET = "UNSET"


_UNSET: Final = _Unset.UNSET
_Change = tuple[Sequence[tuple[Route, Vectors]], Sequence[str]]


class SemanticRouter(RemoteMixin):
    """Routes turns to named routes by embedding similarity, locally, in milliseconds.

    Args:
        routes: Routes to serve. With a stored ``LocalIndex`` they become the store's content
            (only utterances the store lacks are encoded); without ``routes`` a stored index
            cold-boots from disk with no encoding at all.
        encoder: Any :class:`~fingerpost.encoders.DenseEncoder`; default ``OnnxEncoder()``
            (all-MiniLM-L6-v2, offline).
        index: Where routes live; default ``LocalIndex()`` (in memory). A remote index
            (``QdrantIndex``, ``PineconeIndex``) is shared by agents; the router routes from a
            local mirror of it and writes through to it.
        top_k: Neighbours per route for ``mean``/``sum`` aggregation.
        aggregation: ``"max"`` (default), ``"mean"`` or ``"sum"``.
        score_threshold: A fixed router-wide threshold (routes may set their own). Given, it
            turns calibration off: every route without its own threshold uses this one.
        target_fpr: Without ``score_threshold``, each route without a threshold of its own is
            calibrated: besides the router's threshold, a turn passes it through a gate
            fitted against ordinary turns (the background), set so that about this share of
            ordinary turns passes some calibrated route, split evenly over them (default
            0.01; ``Route.target_fpr`` per route). ``fit`` thresholds and explicit route
            thresholds win over calibration. Over a remote index without a mirror, the
            gates are fitted from the route vectors read when the routes arrive (boot,
            refresh, writes) and only the gates are kept.
        background: Your own ordinary turns (e.g. production traffic) to calibrate
            against besides the corpus shipped with the package (they join it; a level
            holds the target on the whole and on the shipped corpus alone). A
            ``LocalIndex(path=)`` store remembers them for routers given none (``[]``:
            forget them, the shipped corpus alone). Each corpus is
            embedded once per encoder and cached (in the store of a
            ``LocalIndex(path=)``, else in ``$FINGERPOST_CACHE_DIR`` or ``~/.cache/fingerpost``),
            and only when a route needs calibrating.
        centroid_weight: w in ``score = (1 - w) * aggregate + w * cos(turn, route centroid)``.
            The centroid adds evidence from all of a route's utterances; 0 disables it.
        blas_threads: An explicit opt-in: cap numpy's BLAS threads for the whole process at
            construction, as ``fingerpost.limit_blas_threads(n)`` does (default ``None``:
            leave them alone). On small machines BLAS and ONNX Runtime threads otherwise
            fight over the cores in batch scoring and ``fit``. Set it before other threads
            use numpy.
        auto_sync: With a remote index, sync at construction with this mode (``error``,
            ``remote``, ``local``, ``merge-force-local``, ``merge-force-remote``, ``merge``).
            Without it, a router given no ``routes`` pulls the remote's routes, and one given
            ``routes`` does no I/O until asked.
        refresh_interval: Seconds between background pulls of other agents' changes.
        lease_ttl: Seconds a crashed writer's lease blocks others.
        lease_wait: Seconds a write waits for another agent's lease before ``LeaseHeldError``.
        max_batch: Most turns per encoder call for async callers.
        batch_window_ms: How long a partial micro-batch waits for more concurrent turns
            (a lone caller never waits). 2 ms measured best on 2 cores at 64 callers.
        max_queue: Bound on queued async turns; beyond it ``on_full`` decides.
        on_full: ``"raise"`` (``QueueFullError`` at once) or ``"wait"`` for room.
        mirror: With a remote index, keep every utterance vector in memory (default) and
            route without network I/O. ``False`` keeps only each route's fields and centroid
            and sends each turn's vector to the remote's ANN search — for route sets too
            large to mirror; scores and thresholds are the same as with the mirror.
    """

    def __init__(
        self,
        routes: Iterable[Route] | None = None,
        encoder: DenseEncoder | None = None,
        index: LocalIndex | RemoteIndex | None = None,
        *,
        top_k: int = DEFAULT_TOP_K,
        aggregation: Aggregation | str = DEFAULT_AGGREGATION,
        score_threshold: float | None = None,
        target_fpr: float | None = None,
        background: Sequence[str] | None = None,
        centroid_weight: float = DEFAULT_CENTROID_WEIGHT,
        blas_threads: int | None = None,
        auto_sync: SyncMode | None = None,
        refresh_interval: float | None = None,
        lease_ttl: float = 30.0,
        lease_wait: float = 10.0,
        max_batch: int = 64,
        batch_window_ms: float = 2.0,
        max_queue: int = 4096,
        on_full: Literal["raise", "wait"] = "raise",
        mirror: bool = True,
    ) -> None:
        if encoder is None:
            from .encoders.onnx import OnnxEncoder

            encoder = OnnxEncoder()
        if not isinstance(encoder, DenseEncoder):
            raise InvalidInputError("encoder must be a fingerpost.encoders.DenseEncoder")
        if blas_threads is not None and (
            isinstance(blas_threads, bool) or not isinstance(blas_threads, int) or blas_threads < 1
        ):
            raise InvalidInputError(
                f"blas_threads must be a positive int or None, got {blas_threads!r}"
            )
        if blas_threads is not None:
            limit_blas_threads(blas_threads)
        if auto_sync is not None:
            check_mode(auto_sync)
        if refresh_interval is not None and refresh_interval <= 0:
            raise InvalidInputError("refresh_interval must be positive seconds")
        self.encoder = encoder
        # mirror=False over a remote with an async client: async turns await its queries on
        # the event loop instead of holding the worker thread (the index never changes)
        self._native = not mirror and isinstance(index, RemoteIndex) and index.native_async
        self._batcher: MicroBatcher[_Turn, Any] = MicroBatcher(
            self._process_turns,
            max_batch=max_batch,
            batch_window_ms=batch_window_ms,
            max_queue=max_queue,
            on_full=on_full,
            sort_key=_turn_length,
            resolve=self._resolve_turns if self._native else None,
        )
        self.index: LocalIndex | RemoteIndex = index if index is not None else LocalIndex()
        calibrate, target = calibration_choice(score_threshold, target_fpr, background)
        settings = scoring_settings(top_k, aggregation, score_threshold, centroid_weight, calibrate)
        self._remote: RemoteSync | None = None
        self._refresher: Refresher | None = None
        given = None if routes is None else as_routes(routes)
        if not mirror and not isinstance(self.index, RemoteIndex):
            raise InvalidInputError("mirror=False needs a remote index")
        self._mirror = mirror
        if isinstance(self.index, RemoteIndex):
            self._local = LocalIndex(centroids_only=not mirror)
            self._local.bind(encoder.name, encoder.dim, settings)
            if calibrate:  # mirror=False too: it fits gates from the vectors it reads
                make_calibrator(encoder, background, target, self._encode, self._local)
            self._remote = RemoteSync(
                self.index,
                self._local,
                encoder_name=encoder.name,
                encoder_dim=encoder.dim,
                lease_ttl=lease_ttl,
                lease_wait=lease_wait,
            )
            self._fit_target = RouterFitTarget(encoder, self._local, self._remote, mirror=mirror)
            self._boot_remote(given, auto_sync)
            if refresh_interval is not None:
                self._refresher = Refresher(self, refresh_interval)
        else:
            if not isinstance(self.index, LocalIndex):
                raise InvalidInputError("index must be a LocalIndex or a remote index")
            if auto_sync is not None or refresh_interval is not None:
                raise InvalidInputError("auto_sync and refresh_interval need a remote index")
            self._local = self.index
            self._local.bind(
                encoder.name, encoder.dim, settings, stored_threshold=score_threshold is None
            )
            if calibrate and self._local.table.snapshot().settings.calibrate:
                make_calibrator(encoder, background, target, self._encode, self._local)
            elif calibrate and (background is not None or target_fpr is not None):
                log.warning(
                    "fingerpost: this store holds a fixed router-wide threshold "
                    "(set_threshold): background= and target_fpr= are not used"
                )
            self._fit_target = RouterFitTarget(encoder, self._local)
            self._boot(given)
            remember_background(self._local)

    # ---- construction ----------------------------------------------------------------------
    def _boot(self, routes: list[Route] | None) -> None:
        if routes is None:
            if self._local.boot():
                state = self._local.get_meta("fit_state")
                if state is not None:
                    restore_fit_state(self._fit_target, FitState(**state))
            return
        stored = self._local.stored()
        RouterConfig(routes=routes)  # duplicate names -> InvalidInputError before any work
        known = {r.name: (r, v) for r, v in stored}
        cache = {u: v[i] for r, v in stored for i, u in enumerate(r.utterances)}
        adds = self._with_vectors(routes, cache)
        changed = [(r, v) for r, v in adds if r.name not in known or known[r.name][0] != r]
        gone = [n for n in known if n not in {r.name for r in routes}]
        if changed or gone:
            self._local.persist(upserts=changed, deletes=gone)
        self._local.apply(add=adds, persist=False)

    def _with_vectors(
        self, routes: Sequence[Route], cache: dict[str, Vectors] | None = None
    ) -> list[tuple[Route, Vectors]]:
        """Pair routes with vectors, encoding (in ONE call) only texts not in ``cache``."""
        cache = dict(cache or {})
        missing = list(dict.fromkeys(u for r in routes for u in r.utterances if u not in cache))
        if missing:
            cache.update(zip(missing, self._encode(missing), strict=True))
        return [
            (r, np.stack([cache[u] for u in r.utterances]).astype(np.float32, copy=False))
            for r in routes
        ]

    def _encode(self, texts: Sequence[str]) -> Vectors:
        """Encode and validate (an encoder that overrides ``__call__`` is checked)."""
        return encode_checked(self.encoder, texts)

    # ---- routing ---------------------------------------------------------------------------
    @overload
    def __call__(
        self,
        text: str | None = None,
        *,
        limit: Literal[1] = 1,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> RouteChoice: ...
    @overload
    def __call__(
        self,
        text: str | None = None,
        *,
        limit: None,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> list[RouteChoice]: ...
    @overload
    def __call__(
        self,
        text: str | None = None,
        *,
        limit: int | None,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> RouteChoice | list[RouteChoice]: ...
    def __call__(
        self,
        text: str | None = None,
        *,
        limit: int | None = 1,
        route_filter: Sequence[str] | None = None,
        vector: Sequence[float] | Vectors | None = None,
    ) -> RouteChoice | list[RouteChoice]:
        """Route one turn.

        Args:
            text: The turn.
            limit: ``1`` (default) returns one ``RouteChoice`` (``name=None`` when nothing
                passed); ``None`` returns every passing route, best first; ``n`` at most n.
            route_filter: Only these route names are candidates.
            vector: A precomputed embedding instead of ``text``.
        """
        check_limit(limit)
        check_query_input(text, vector)
        if vector is not None:
            query = query_vector(vector, self.encoder.dim)
        else:
            query = self._encode([check_text(text)])
        result: RouteChoice | list[RouteChoice] = self._decide(
            self._local.snapshot(), query, limit, route_filter
        )[0]
        return result

    @overload
    def batch(
        self,
        texts: Sequence[str],
        *,
        limit: Literal[1] = 1,
        route_filter: Sequence[str] | None = ...,
    ) -> list[RouteChoice]: ...
    @overload
    def batch(
        self, texts: Sequence[str], *, limit: None, route_filter: Sequence[str] | None = ...
    ) -> list[list[RouteChoice]]: ...
    @overload
    def batch(
        self, texts: Sequence[str], *, limit: int | None, route_filter: Sequence[str] | None = ...
    ) -> list[RouteChoice | list[RouteChoice]]: ...
    def batch(
        self,
        texts: Sequence[str],
        *,
        limit: int | None = 1,
        route_filter: Sequence[str] | None = None,
    ) -> Any:
        """Route many turns with ONE encoder call; equal to ``[router(t) for t in texts]``."""
        check_limit(limit)
        items = check_texts(texts)
        if not items:
            return []
        return self._decide(self._local.snapshot(), self._encode(items), limit, route_filter)

    def _decide(
        self,
        snap: Snapshot,
        queries: Vectors,
        limit: int | None,
        route_filter: Sequence[str] | None,
    ) -> list[Any]:
        if self._mirror:
            return decide(snap, queries, limit, route_filter)
        assert isinstance(self.index, RemoteIndex)
        cands, thresholds = candidates(snap, route_filter), effective_thresholds(snap)
        return [
            format_choices(snap, idx, scores, limit)
            for idx, scores in remote_passing_routes_batch(
                self.index, snap, queries, cands, thresholds
            )
        ]

    async def _adecide(
        self,
        snap: Snapshot,
        queries: Vectors,
        limit: int | None,
        route_filter: Sequence[str] | None,
    ) -> list[Any]:
        """Async twin of ``_decide`` for ``_native`` (the same scoring plan, awaited)."""
        assert isinstance(self.index, RemoteIndex)
        cands, thresholds = candidates(snap, route_filter), effective_thresholds(snap)
        return [
            format_choices(snap, idx, scores, limit)
            for idx, scores in await aremote_passing_routes_batch(
                self.index, snap, queries, cands, thresholds
            )
        ]

    # ---- async twins: concurrent turns share encoder calls (MicroBatcher) -------------------
    @overload
    async def acall(
        self,
        text: str | None = None,
        *,
        limit: Literal[1] = 1,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> RouteChoice: ...
    @overload
    async def acall(
        self,
        text: str | None = None,
        *,
        limit: None,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> list[RouteChoice]: ...
    @overload
    async def acall(
        self,
        text: str | None = None,
        *,
        limit: int | None,
        route_filter: Sequence[str] | None = ...,
        vector: Sequence[float] | Vectors | None = ...,
    ) -> RouteChoice | list[RouteChoice]: ...
    async def acall(
        self,
        text: str | None = None,
        *,
        limit: int | None = 1,
        route_filter: Sequence[str] | None = None,
        vector: Sequence[float] | Vectors | None = None,
    ) -> Any:
        """Async twin of ``__call__`` with exactly its rules. Concurrent calls are gathered into
        micro-batches: one encoder call on a worker thread, the event loop never blocks."""
        check_limit(limit)
        check_query_input(text, vector)
        if vector is not None:
            if self._mirror:  # no I/O: answer on the loop
                return self(vector=vector, limit=limit, route_filter=route_filter)
            query = query_vector(vector, self.encoder.dim)
            if self._native:
                return (await self._adecide(self._local.snapshot(), query, limit, route_filter))[0]
            return await asyncio.to_thread(
                self, vector=query, limit=limit, route_filter=route_filter
            )
        turn = _Turn(check_text(text), limit, _filter_key(route_filter))
        return _unwrap(await self._batcher.submit(turn))

    @overload
    async def abatch(
        self,
        texts: Sequence[str],
        *,
        limit: Literal[1] = 1,
        route_filter: Sequence[str] | None = ...,
    ) -> list[RouteChoice]: ...
    @overload
    async def abatch(
        self, texts: Sequence[str], *, limit: None, route_filter: Sequence[str] | None = ...
    ) -> list[list[RouteChoice]]: ...
    @overload
    async def abatch(
        self, texts: Sequence[str], *, limit: int | None, route_filter: Sequence[str] | None = ...
    ) -> list[RouteChoice | list[RouteChoice]]: ...
    async def abatch(
        self,
        texts: Sequence[str],
        *,
        limit: int | None = 1,
        route_filter: Sequence[str] | None = None,
    ) -> Any:
        """Async twin of ``batch``: the caller's turns stay together and in order."""
        check_limit(limit)
        key = _filter_key(route_filter)
        results = await self._batcher.submit_many(
            [_Turn(t, limit, key) for t in check_texts(texts)]
        )
        return [_unwrap(r) for r in results]

    def _process_turns(self, turns: list[_Turn]) -> list[Any]:
        """Worker thread: one encoder call for the micro-batch, one snapshot, then each turn's
        own limit and filter. A bad filter fails its own turns only. On a ``_native``
        the scoring is left to ``_resolve_turns`` on the event loop (``_Pending`` turns)."""
        queries = self._encode([t.text for t in turns])
        snap = self._local.snapshot()
        if self._native:
            return [
                _Pending(snap, queries[i], t.limit, t.route_filter) for i, t in enumerate(turns)
            ]
        out: list[Any] = [None] * len(turns)
        for (limit, route_filter), idx in _groups(turns).items():
            try:
                res = self._decide(snap, queries[idx], limit, route_filter)
            except FingerpostError as exc:
                res = [_Failed(exc)] * len(idx)
            for i, r in zip(idx, res, strict=True):
                out[i] = r
        return out

    async def _resolve_turns(self, results: list[Any]) -> list[Any]:
        """Event loop: score the turns ``_process_turns`` left pending, one scoring plan per
        snapshot, limit and filter (as the thread groups them), the groups concurrently."""
        out = list(results)
        groups: dict[tuple[int, int | None, tuple[str, ...] | None], list[int]] = {}
        for i, r in enumerate(results):
            if isinstance(r, _Pending):
                groups.setdefault((id(r.snap), r.limit, r.route_filter), []).append(i)

        async def score(idx: list[int]) -> None:
            first: _Pending = results[idx[0]]
            queries = np.stack([results[i].query for i in idx])
            try:
                res = await self._adecide(first.snap, queries, first.limit, first.route_filter)
            except FingerpostError as exc:
                res = [_Failed(exc)] * len(idx)
            for i, r in zip(idx, res, strict=True):
                out[i] = r

        done = await asyncio.gather(
            *(score(idx) for idx in groups.values()), return_exceptions=True
        )
        for error in done:
            if isinstance(error, BaseException):
                raise error
        return out

    async def start(self) -> None:
        """Start the micro-batcher now (``acall`` starts it lazily otherwise)."""
        await self._batcher.start()

    async def aclose(self) -> None:
        """Finish pending turns, then stop the micro-batcher. ``start`` may follow.

        The refresher and the store stay open: ``async with router`` (or ``close``) ends those.
        """
        await self._batcher.aclose(drain=True)

    async def __aenter__(self) -> SemanticRouter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close everything the router opened, like ``with``: the micro-batcher (after its
        pending turns), then the refresher thread and the store, off the event loop (stopping
        the refresher joins its thread)."""
        await self.aclose()
        await asyncio.to_thread(self.close)

    # ---- route management --------------------------------------------------------------------
    def add(self, routes: Route | Iterable[Route]) -> None:
        """Add routes (one encoder call). Returns once the index (and store) holds them."""
        items = as_routes(routes)
        if not items:
            return
        one = self._local.centroids_only
        self._local.table.check(
            add=[
                (r, np.zeros((1 if one else len(r.utterances), self.encoder.dim), dtype=np.float32))
                for r in items
            ]
        )
        adds = self._with_vectors(items)  # nothing to read back: encoded before any lock
        self._write([r.name for r in items], lambda snap: (adds, ()), new=True)

    def delete(self, route_name: str) -> None:
        """Delete a route by exact name; ``RouteNotFoundError`` if there is none."""
        check_name(route_name)

        def change(snap: Snapshot) -> _Change:
            if snap.route(route_name) is None and self._remote is None:
                raise RouteNotFoundError(f"no route named {route_name!r}")
            return (), (route_name,)

        self._write([route_name], change)

    def update(
        self,
        route_name: str,
        *,
        utterances: Sequence[str] | None = None,
        description: str | _Unset | None = _UNSET,
        function_schemas: list[dict[str, Any]] | _Unset | None = _UNSET,
        score_threshold: float | _Unset | None = _UNSET,
        metadata: dict[str, Any] | _Unset = _UNSET,
        target_fpr: float | _Unset | None = _UNSET,
    ) -> Route:
        """Change a route's fields; only new utterances are encoded. Returns the new route.
        Only the routes a change touches are recalibrated (a new ``target_fpr`` or new
        utterances refit the route's gate)."""
        check_update_args(route_name, utterances)
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "utterances": None if utterances is None else list(utterances),
                "description": description,
                "function_schemas": function_schemas,
                "score_threshold": score_threshold,
                "metadata": metadata,
                "target_fpr": target_fpr,
            }.items()
            if v is not _UNSET and not (k == "utterances" and v is None)
        }
        return self._update_route(route_name, lambda old: changes, retrain=utterances is not None)

    def _update_route(
        self, route_name: str, compute: Callable[[Route], dict[str, Any]], *, retrain: bool = True
    ) -> Route:
        """Read-modify-write of one route, computed from the route as it is now: under the
        write lock locally, under the lease after a re-read remotely, so concurrent updates
        each keep the other's change and an acknowledged delete stays deleted."""
        made: list[Route] = []

        def change(snap: Snapshot) -> _Change:
            old = snap.route(route_name)
            if old is None:
                raise RouteNotFoundError(f"no route named {route_name!r}")
            new = Route(**{**old.model_dump(), **compute(old)})
            made.append(new)
            return self._with_vectors([new], self._route_vector_cache(snap, old)), ()

        self._write([route_name], change, retrain=retrain)
        return made[-1]

    def _write(
        self,
        names: Sequence[str],
        change: Callable[[Snapshot], _Change],
        *,
        new: bool = False,
        retrain: bool = True,
    ) -> None:
        """One read-modify-write: ``change`` maps the current snapshot to the routes to write
        (with vectors) and the names to delete. Remotely it runs under the lease after the
        mirror caught up; locally under the table's write lock (readers never wait for it)."""
        if self._remote is not None:
            self._remote.write(names, change, must_not_exist=new)
        else:
            with self._local.table.lock:
                adds, deletes = change(self._local.snapshot())
                self._local.apply(add=adds, delete=deletes, replace=not new)
        if retrain:
            self._routes_changed()

    def _route_vector_cache(self, snap: Snapshot, route: Route) -> dict[str, Vectors]:
        if self._mirror:
            rows = snap.route_vectors(route.name)
            assert rows is not None
            return dict(zip(route.utterances, rows, strict=True))
        assert isinstance(self.index, RemoteIndex)
        return {
            p.utterance.utterance: np.asarray(p.vector, dtype=np.float32)
            for p in self.index.fetch([route.name], with_vectors=True)
            if p.vector is not None
        }

    def add_utterances(self, route_name: str, utterances: Sequence[str]) -> Route:
        """Append utterances to an existing route (``RouteNotFoundError`` if it is missing).
        Appends to the route as it is when written, so concurrent appends all stay."""
        check_update_args(route_name, utterances)
        extra = check_texts(utterances)
        return self._update_route(route_name, lambda old: {"utterances": [*old.utterances, *extra]})

    def get(self, route_name: str) -> Route | None:
        """A copy of the route called ``route_name``, or ``None`` (editing it changes nothing:
        use ``update``)."""
        route = self._local.snapshot().route(check_name(route_name))
        return None if route is None else copy_route(route)

    def list_route_names(self) -> list[str]:
        return [r.name for r in self._local.snapshot().live_routes()]

    @property
    def routes(self) -> list[Route]:
        """Copies of the live routes, in write order."""
        return [copy_route(r) for r in self._local.snapshot().live_routes()]

    # ---- quality: fitting and evaluation (fingerpost.quality) ------------------------------
    def fit(
        self,
        X: Sequence[str],
        y: Sequence[str | None],
        *,
        objective: Literal["balanced", "accuracy"] = "balanced",
        head: bool = True,
        head_weight: float | None = None,
    ) -> FitReport:
        """Tune per-route thresholds (deterministically) and train a light route head.

        ``y[i] is None`` marks an out-of-scope turn that should route nowhere. The routes' own
        utterances are training data too. ``objective="balanced"`` weighs in-scope accuracy
        and out-of-scope recall equally; ``"accuracy"`` weighs every turn equally. The head is
        kept only if it beats plain similarity on held-out data. Fitted state is kept with
        configs and stores; after route changes the head retrains in the background. Over a
        remote index only thresholds are fitted, written through the remote for every agent.
        """
        check_fit_data(X, y)
        return fit_router(
            self._fit_target, X, y, objective=objective, head=head, head_weight=head_weight
        )

    def wait_for_retrain(self, timeout: float | None = None) -> bool:
        """Block until a background head retrain (after add/delete/update) has finished."""
        return wait_for_retrain(self._fit_target, timeout)

    def evaluate(self, X: Sequence[str], y: Sequence[str | None]) -> float:
        """Accuracy; a ``None`` label is correct when the choice's name is ``None``."""
        return evaluate_router(self, X, y)

    def _routes_changed(self) -> None:
        """Called after every successful write: a fitted head may need retraining."""
        self._fit_target.routes_changed()

    # ---- thresholds and settings -----------------------------------------------------------
    @property
    def score_threshold(self) -> float:
        return self._local.snapshot().settings.score_threshold

    @property
    def top_k(self) -> int:
        return self._local.snapshot().settings.top_k

    @property
    def aggregation(self) -> Aggregation:
        return self._local.snapshot().settings.aggregation

    def get_thresholds(self) -> dict[str, float]:
        """The effective threshold of every route, in this order: its own (explicit or
        fitted, on the route score's scale); else, for a calibrated route, its threshold on
        its own scale (the cosine to the route's gate direction a turn must exceed, rounded
        to 6 places; such a route also passes a turn whose similarity reaches the router's
        ``score_threshold``); else the router's ``score_threshold``
        (:meth:`threshold_report` says which)."""
        snap = self._local.snapshot()
        return _thresholds_and_kinds(snap, gate_levels(snap))[0]

    def threshold_report(self) -> ThresholdReport:
        """:meth:`get_thresholds`, each value's kind (``"own"``: the route's or ``fit``'s;
        ``"calibrated"``: its gate's level; ``"router"``: ``score_threshold``), the router's
        ``score_threshold`` and the calibration (background, target), from one snapshot."""
        snap = self._local.snapshot()
        levels = gate_levels(snap)
        thresholds, kinds = _thresholds_and_kinds(snap, levels)
        return ThresholdReport(
            thresholds=thresholds,
            kinds=kinds,
            score_threshold=snap.settings.score_threshold,
            calibration=self._calibration(snap, levels),
        )

    def _calibration(self, snap: Snapshot, levels: dict[str, float]) -> CalibrationState | None:
        """What a config says of the calibration (``None`` for a fixed threshold)."""
        cal = self._local.calibrator
        if cal is None or not snap.settings.calibrate:
            return None
        return calibration_state(cal, levels)

    def set_threshold(self, value: float, route_name: str | None = None) -> None:
        """Set one route's threshold, or (``route_name=None``) a fixed router-wide threshold,
        which turns calibration off like ``score_threshold=`` at construction."""
        if route_name is not None:
            self.update(route_name, score_threshold=value)
            return
        snap = self._local.snapshot()
        st = snap.settings
        self._local.apply(
            settings=scoring_settings(st.top_k, st.aggregation, value, st.centroid_weight)
        )
        self._local.calibrator = None

    # ---- configs ---------------------------------------------------------------------------
    def to_config(self) -> RouterConfig:
        snap = self._local.snapshot()
        st = snap.settings
        cal = self._local.calibrator
        return RouterConfig(
            routes=[copy_route(r) for r in snap.live_routes()],
            encoder_name=self.encoder.name,
            encoder_dim=self.encoder.dim,
            top_k=st.top_k,
            aggregation=st.aggregation,
            score_threshold=None if st.calibrate else st.score_threshold,
            target_fpr=cal.target_fpr if cal is not None else DEFAULT_TARGET_FPR,
            centroid_weight=st.centroid_weight,
            fit_state=self._fit_state(snap),
            calibration=self._calibration(snap, gate_levels(snap)),
        )

    def _fit_state(self, snap: Snapshot) -> FitState | None:
        return fit_state_of(self._fit_target, snap)

    @classmethod
    def from_config(
        cls,
        config: RouterConfig,
        encoder: DenseEncoder | None = None,
        index: LocalIndex | None = None,
        **kwargs: Any,
    ) -> SemanticRouter:
        """Rebuild a router; a config from another encoder is refused."""
        if encoder is None:
            from .encoders.onnx import OnnxEncoder

            encoder = OnnxEncoder()
        if config.encoder_name is not None and (
            config.encoder_name != encoder.name or config.encoder_dim not in (None, encoder.dim)
        ):
            raise EncoderMismatchError(
                f"config was made with encoder {config.encoder_name!r} (dim {config.encoder_dim}); "
                f"got {encoder.name!r} (dim {encoder.dim})"
            )
        router = cls(encoder=encoder, index=index, **config_arguments(config, kwargs))
        warn_if_other_background(router, config)
        if config.fit_state is not None:
            restore_fit_state(router._fit_target, config.fit_state)
        return router

    def to_json(self, path: str | Path | None = None) -> str:
        return self.to_config().to_json(path)

    def to_yaml(self, path: str | Path | None = None) -> str:
        return self.to_config().to_yaml(path)

    @classmethod
    def from_json(cls, source: str | Path, **kwargs: Any) -> SemanticRouter:
        return cls.from_config(RouterConfig.from_json(source), **kwargs)

    @classmethod
    def from_yaml(cls, source: str | Path, **kwargs: Any) -> SemanticRouter:
        return cls.from_config(RouterConfig.from_yaml(source), **kwargs)

    def get_utterances(self) -> list[Utterance]:
        return self.to_config().to_utterances()

    # ---- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the refresher and release the store. The router must not be used afterwards."""
        if self._refresher is not None:
            self._refresher.stop()
            self._refresher = None
        self._local.close()

    def __enter__(self) -> SemanticRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        snap = self._local.snapshot()
        return (
            f"SemanticRouter(routes={len(snap.live_routes())}, encoder={self.encoder.name!r}, "
            f"index={self.index!r})"
        )


class _Turn(NamedTuple):
    text: str
    limit: int | None
    route_filter: tuple[str, ...] | None


class _Failed(NamedTuple):
    error: FingerpostError


class _Pending(NamedTuple):
    """A turn encoded on the worker thread, to be scored on the event loop."""

    snap: Snapshot
    query: Vectors
    limit: int | None
    route_filter: tuple[str, ...] | None


def _groups(turns: Sequence[_Turn]) -> dict[tuple[int | None, tuple[str, ...] | None], list[int]]:
    """Turn positions by (limit, filter): each group is decided together."""
    groups: dict[tuple[int | None, tuple[str, ...] | None], list[int]] = {}
    for i, t in enumerate(turns):
        groups.setdefault((t.limit, t.route_filter), []).append(i)
    return groups


def _turn_length(turn: _Turn) -> int:
    return len(turn.text)


def _filter_key(route_filter: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if route_filter is None else filter_names(route_filter)


def _unwrap(result: Any) -> Any:
    if isinstance(result, _Failed):
        raise result.error
    return result


def warn_if_other_background(router: SemanticRouter, config: RouterConfig) -> None:
    """Log a warning when ``config``'s gated routes were calibrated against other ordinary
    turns than ``router`` calibrates against (its gates, and so its answers, differ)."""
    cal, state = router._local.calibrator, config.calibration
    if (
        cal is None
        or state is None
        or not state.thresholds
        or state.background == cal.background.id
    ):
        return
    log.warning(
        "fingerpost: the config was calibrated against background %s, this router against "
        "%s: its gates differ (pass the same turns: background= or --background)",
        state.background,
        cal.background.id,
    )


# ---- small pure helpers ----------------------------------------------------------------------
def _thresholds_and_kinds(
    snap: Snapshot, levels: dict[str, float]
) -> tuple[dict[str, float], dict[str, Literal["own", "calibrated", "router"]]]:
    """Each live route's effective threshold and its kind: its own (``"own"``), else its
    gate's level (``"calibrated"``, ``levels`` from :func:`gate_levels`), else the router's."""
    default = snap.settings.score_threshold
    thresholds: dict[str, float] = {}
    kinds: dict[str, Literal["own", "calibrated", "router"]] = {}
    for r in snap.live_routes():
        if r.score_threshold is not None:
            thresholds[r.name], kinds[r.name] = r.score_threshold, "own"
        elif r.name in levels:
            thresholds[r.name], kinds[r.name] = levels[r.name], "calibrated"
        else:
            thresholds[r.name], kinds[r.name] = default, "router"
    return thresholds, kinds


def config_arguments(config: RouterConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The :class:`SemanticRouter` arguments a config stands for (its routes and scoring
    settings, and its ``target_fpr`` when it calibrates), ``kwargs`` winning over any of
    them (a ``score_threshold`` there fixes the threshold: no target is added): one rule for
    :meth:`SemanticRouter.from_config` and for the shell over a remote index."""
    args: dict[str, Any] = dict(
        routes=config.routes,
        top_k=config.top_k,
        aggregation=config.aggregation,
        score_threshold=config.score_threshold,
        centroid_weight=config.centroid_weight,
    )
    if config.score_threshold is None and "score_threshold" not in kwargs:
        args["target_fpr"] = config.target_fpr
    return args | kwargs
