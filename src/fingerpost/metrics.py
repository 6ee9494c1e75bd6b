"""Prometheus metrics of a router, with or without the HTTP service.

    from fingerpost.metrics import RouterMetrics

    metrics = RouterMetrics()          # its own CollectorRegistry: no global state
    metrics.instrument(router)         # encoder calls, micro-batches, turns, queue depth
    with metrics.track_sync("merge"):  # sync runs and their outcome
        router.sync("merge")
    with metrics.track("fit"):         # fit / calibration events and their outcome
        router.fit(X, y)
    body = metrics.exposition()        # text format, for any /metrics endpoint

What :meth:`RouterMetrics.instrument` sees: every encoder call (``encode`` latency) and every
micro-batch of the async API (``acall``/``abatch``, which the service uses): its size, its
scoring time (the batch's time minus its encoding) and each turn's route. Turns routed with
the sync API (``router(x)``, ``router.batch``) can be counted with :meth:`observe_choices`.
The service adds ``total`` latency per request and per-endpoint HTTP counters.

Every ``RouterMetrics`` owns a registry unless given one, so tests and several routers in one
process never collide over metric names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ._exceptions import FingerpostError
from .encoders.base import DenseEncoder, Vectors
from .schema import RouteChoice

if TYPE_CHECKING:
    from .router import SemanticRouter

__all__ = ["CONTENT_TYPE", "NO_ROUTE", "RouterMetrics", "TimedEncoder", "raw_encode"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
NO_ROUTE = "none"
"""The ``route`` label of a turn that routed nowhere."""
FAILED = "error"
"""The ``route`` label of a turn that failed."""

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256, 512)


class _EncodeClock(threading.local):
    """Encoding seconds spent on this thread since the last ``take``: lets a batch observer,
    on the same worker thread, split a batch's time into encoding and scoring."""

    seconds = 0.0

    def take(self) -> float:
        spent, self.seconds = self.seconds, 0.0
        return spent


def raw_encode(inner: DenseEncoder, texts: list[str]) -> Vectors:
    """What ``inner(texts)`` returns before validation, so that a wrapper's own (inherited)
    ``__call__`` validates once and the vectors stay bit-for-bit those of ``inner``. An
    encoder that overrides ``__call__`` is untrusted and goes through it."""
    if type(inner).__call__ is DenseEncoder.__call__:
        return inner.encode(texts)
    return inner(texts)


class TimedEncoder(DenseEncoder):
    """An encoder that times every call of the encoder it wraps (same name, dim, vectors)."""

    def __init__(self, inner: DenseEncoder, metrics: RouterMetrics) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.metrics = metrics

    def encode(self, texts: list[str]) -> Vectors:
        start = time.perf_counter()
        try:
            return raw_encode(self.inner, texts)
        finally:
            spent = time.perf_counter() - start
            self.metrics._clock.seconds += spent
            self.metrics.latency.labels("encode").observe(spent)


class RouterMetrics:
    """The metrics of one router (or one process), in one registry.

    Args:
        registry: Where to register; a new ``CollectorRegistry`` by default.
        namespace: Prefix of every metric name.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "fingerpost"
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ns, reg = namespace, self.registry
        self.turns = Counter(
            "turns",
            'Turns routed, by route ("none": routed nowhere, "error": failed)',
            ["route"],
            namespace=ns,
            registry=reg,
        )
        self.latency = Histogram(
            "latency_seconds",
            "Latency by stage: encode (one encoder call), score (one "
            "micro-batch, encoding excluded), total (one request or turn, end to end)",
            ["stage"],
            namespace=ns,
            registry=reg,
            buckets=_LATENCY_BUCKETS,
        )
        self.batch_size = Histogram(
            "micro_batch_size",
            "Turns per micro-batch (one encoder call for concurrent callers)",
            namespace=ns,
            registry=reg,
            buckets=_BATCH_BUCKETS,
        )
        self.queue_depth = Gauge(
            "queue_depth",
            "Turns waiting for a micro-batch",
            namespace=ns,
            registry=reg,
        )
        self.sync_runs = Counter(
            "sync_runs",
            'Sync runs by mode and outcome ("ok" or the error class name)',
            ["mode", "outcome"],
            namespace=ns,
            registry=reg,
        )
        self.quality_events = Counter(
            "quality_events",
            'Fit and calibration events by kind and outcome ("ok" or the error class name)',
            ["kind", "outcome"],
            namespace=ns,
            registry=reg,
        )
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests by method, endpoint and status",
            ["method", "endpoint", "status"],
            namespace=ns,
            registry=reg,
        )
        self.http_latency = Histogram(
            "http_request_seconds",
            "HTTP request latency by endpoint",
            ["endpoint"],
            namespace=ns,
            registry=reg,
            buckets=_LATENCY_BUCKETS,
        )
        for stage in ("encode", "score", "total"):
            self.latency.labels(stage)
        self.turns.labels(NO_ROUTE)
        self._clock = _EncodeClock()

    # ---- observing a router ----------------------------------------------------------------
    def instrument(self, router: SemanticRouter) -> SemanticRouter:
        """Observe ``router``'s encoder calls, micro-batches and queue; returns the router.

        The encoder is wrapped in a :class:`TimedEncoder` (vectors unchanged). Calling this
        again, with these metrics or others, re-targets the router instead of stacking.
        """
        inner = router.encoder.inner if isinstance(router.encoder, TimedEncoder) else router.encoder
        router.encoder = TimedEncoder(inner, self)
        batcher = router._batcher  # the router's own micro-batcher: the one place we reach in
        batcher.observe(self._observe_batch)
        self.queue_depth.set_function(lambda: float(batcher.stats.queued))
        return router

    def _observe_batch(self, items: list[Any], results: list[Any], seconds: float) -> None:
        encoding = self._clock.take()
        self.batch_size.observe(len(items))
        self.latency.labels("score").observe(max(0.0, seconds - encoding))
        self.observe_choices(results)

    def observe_choices(self, results: Sequence[Any]) -> None:
        """Count turns by route: each result is a ``RouteChoice``, a list of them (best
        first) or anything else (a failed turn)."""
        counts: dict[str, int] = {}
        for result in results:
            label = _route_label(result)
            counts[label] = counts.get(label, 0) + 1
        for label, n in counts.items():
            self.turns.labels(label).inc(n)

    def observe_latency(self, stage: str, seconds: float) -> None:
        """One latency sample (``stage``: ``encode``, ``score`` or ``total``)."""
        self.latency.labels(stage).observe(seconds)

    # ---- events ----------------------------------------------------------------------------
    @contextmanager
    def track_sync(self, mode: str) -> Iterator[None]:
        """Count the sync run in the ``with`` block with its outcome."""
        with self._outcome(self.sync_runs, mode):
            yield

    @contextmanager
    def track(self, kind: str) -> Iterator[None]:
        """Count a quality event (``fit``, ``calibration``, ...) with its outcome."""
        with self._outcome(self.quality_events, kind):
            yield

    @contextmanager
    def _outcome(self, counter: Counter, label: str) -> Iterator[None]:
        try:
            yield
        except FingerpostError as exc:
            counter.labels(label, type(exc).__name__).inc()
            raise
        except BaseException:
            counter.labels(label, "error").inc()
            raise
        counter.labels(label, "ok").inc()

    # ---- output ----------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (serve with :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (``None`` if absent): handy in tests and health checks."""
        return self.registry.get_sample_value(name, labels or {})


def _route_label(result: Any) -> str:
    if isinstance(result, RouteChoice):
        return result.name if result.name is not None else NO_ROUTE
    if isinstance(result, list):
        if not result:
            return NO_ROUTE
        first = result[0]
        if isinstance(first, RouteChoice):
            return first.name if first.name is not None else NO_ROUTE
    return FAILED
