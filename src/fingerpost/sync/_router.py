"""The remote-facing half of SemanticRouter: booting from a shared index, sync, diff,
refresh and the background refresher. Decisions live in ``sync/_plan``; I/O in
``sync/_apply``; this module only drives them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._disk_cache import cached_route_vectors, keep_route_vectors, vector_cache
from .._exceptions import FingerpostError, InvalidInputError
from .._types import Vectors
from ..index.base import RemoteIndex
from ..index.local import LocalIndex
from ..schema import Route, RouterConfig
from ._apply import RemoteSync
from ._plan import SyncMode, check_mode

if TYPE_CHECKING:
    from .._fit_target import RouterFitTarget
    from ..router import SemanticRouter

__all__ = ["Refresher", "RemoteMixin"]


class RemoteMixin:
    """Sync API of a router; a router without a remote index is always synced."""

    index: LocalIndex | RemoteIndex
    _local: LocalIndex
    _remote: RemoteSync | None
    _fit_target: RouterFitTarget

    def _encode(self, texts: Sequence[str]) -> Vectors:
        raise NotImplementedError

    def _with_vectors(
        self, routes: Sequence[Route], cache: dict[str, Vectors] | None = None
    ) -> list[tuple[Route, Vectors]]:
        raise NotImplementedError

    def _routes_changed(self) -> None:
        raise NotImplementedError

    def _boot_remote(self, routes: list[Route] | None, auto_sync: SyncMode | None) -> None:
        assert self._remote is not None
        self._remote.encode = self._encode  # to replay another agent's unfinished write
        if auto_sync is None and routes is None:
            self._remote.refresh()  # an agent joining a shared index: pull its routes
            return
        if routes is None:
            routes = []
        RouterConfig(routes=routes)
        cache: dict[str, Vectors] = {}
        remote = self._remote
        disk = vector_cache() if auto_sync is not None else None
        found = (
            {}
            if disk is None
            else cached_route_vectors(disk, remote.encoder_name, remote.encoder_dim, routes)
        )
        for r in routes:
            if r.name in found:
                cache.update(zip(r.utterances, found[r.name], strict=True))
        if auto_sync is not None:
            # Reuse the remote's vectors: only utterances nobody has embedded get encoded. With
            # this machine's cached vectors, only the routes it lacks are read.
            lacking = None if disk is None else [r.name for r in routes if r.name not in found]
            for p in remote.boot_points(lacking):
                if p.vector is not None:
                    cache.setdefault(p.utterance.utterance, np.asarray(p.vector, dtype=np.float32))
        adds = self._with_vectors(routes, cache)
        self._local.apply(add=adds, persist=False)
        if disk is not None:
            new = [(r, v) for r, v in adds if r.name not in found]
            keep_route_vectors(disk, remote.encoder_name, remote.encoder_dim, new)
        if auto_sync is not None:
            remote.sync(auto_sync, self._encode, fast=True)

    # ---- sync with a remote index -------------------------------------------------------------
    def _need_remote(self) -> RemoteSync:
        if self._remote is None:
            raise InvalidInputError("this router has no remote index to sync with")
        return self._remote

    def sync(self, sync_mode: SyncMode) -> list[str]:
        """Make local and remote hold ``sync_mode``'s result; returns the diff that was resolved
        (``"+ route: utterance"`` remote only, ``"- route: utterance"`` local only)."""
        remote = self._need_remote()
        check_mode(sync_mode)
        if remote.is_synced_fast():  # the already-synced case: one small read, no diff
            return []
        before = self.get_utterance_diff() if sync_mode != "error" else []
        remote.sync(sync_mode, self._encode, fast=False)
        self._routes_changed()
        return before

    def _execute_sync_strategy(self, sync_mode: SyncMode) -> None:
        """Run ``sync_mode`` without the already-synced shortcut (spec name)."""
        self._need_remote().sync(sync_mode, self._encode, fast=False)
        self._routes_changed()

    def is_synced(self) -> bool:
        """True exactly when local and remote contents are equal (hash first, then a diff).
        A router without a remote index is always synced."""
        return True if self._remote is None else self._remote.is_synced()

    def get_utterance_diff(self, include_metadata: bool = False) -> list[str]:
        """Readable diff lines: ``"+ route: utterance"`` remote only, ``"- ..."`` local only."""
        if self._remote is None:
            return []
        return self._remote.diff().to_utterance_str(include_metadata)

    def refresh(self) -> bool:
        """Pull other agents' changes from the remote (only the routes they touched)."""
        return self._fit_target.refresh()

    async def async_sync(self, sync_mode: SyncMode) -> list[str]:
        """Async twin of :meth:`sync`, on a worker thread: a write holds the remote lease
        and the mirror lock across many requests, and the lease is renewed by a thread."""
        return await asyncio.to_thread(self.sync, sync_mode)

    async def async_is_synced(self) -> bool:
        """Async twin of :meth:`is_synced`. The hash compare awaits the remote's
        ``aread_meta`` (native with an async client: no thread); the diff that decides
        otherwise runs on a worker thread."""
        remote = self._remote
        if remote is None:
            return True
        fast = await remote.ais_synced_fast()
        if fast:
            return True
        if fast is None:  # the mirror moved during the read: ask again, whole
            return await asyncio.to_thread(self.is_synced)
        return await asyncio.to_thread(lambda: not remote.diff().to_utterance_str())

    async def aget_utterance_diff(self, include_metadata: bool = False) -> list[str]:
        """Async twin of :meth:`get_utterance_diff`, on a worker thread (a diff reads routes
        and compares them; the reads are a small part)."""
        return await asyncio.to_thread(self.get_utterance_diff, include_metadata)

    async def arefresh(self) -> bool:
        """Async twin of :meth:`refresh`, on a worker thread (it updates the mirror under
        the mirror lock, which the event loop must never wait on)."""
        return await asyncio.to_thread(self.refresh)


class Refresher:
    """A daemon thread that pulls other agents' changes every ``interval`` seconds. Errors are
    logged and retried next time: the router keeps routing from its mirror meanwhile."""

    def __init__(self, router: SemanticRouter, interval: float) -> None:
        self._router, self._interval = router, interval
        self._stop = threading.Event()
        self.runs = 0
        self._thread = threading.Thread(target=self._run, name="fingerpost-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._router.refresh()
            except FingerpostError as exc:
                logging.getLogger("fingerpost.sync").warning("refresh failed: %s", exc)
            self.runs += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
