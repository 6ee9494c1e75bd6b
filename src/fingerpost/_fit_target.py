"""The router's side of the ``quality`` seam: a :class:`~fingerpost.quality.FitTarget` made of
the parts a router owns (encoder, local table, remote sync), not of the router itself.

Holding the parts rather than the router keeps two things true: ``fingerpost.quality`` never
reads a router attribute (the router depends on ``quality``, not the reverse), and a
background retrain holds the table it retrains, never the router, so a dropped router is freed
as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._types import Vectors
from .encoders.base import DenseEncoder, unit_rows
from .engine._table import Snapshot
from .index.local import LocalIndex
from .quality import FitTarget, RemoteFitTarget, TableWrite
from .quality._fit_state import on_routes_changed
from .schema import Route
from .sync._apply import RemoteSync

__all__ = ["RouterFitTarget", "encode_checked"]


def encode_checked(encoder: DenseEncoder, texts: Sequence[str]) -> Vectors:
    """Encode and validate. ``DenseEncoder.__call__`` validates already; an encoder that
    overrides ``__call__`` is untrusted and checked here."""
    vectors = encoder(texts)
    if type(encoder).__call__ is DenseEncoder.__call__:
        return vectors
    return unit_rows(vectors, len(texts), encoder.dim)


class RouterFitTarget:
    """A router's encoder, local table and (optional) remote, as fitting sees them.

    Implements :class:`~fingerpost.quality.FitTarget`, and with a remote index also
    :class:`~fingerpost.quality.RemoteFitTarget` (``remote`` returns itself then).
    """

    def __init__(
        self,
        encoder: DenseEncoder,
        local: LocalIndex,
        remote: RemoteSync | None = None,
        *,
        mirror: bool = True,
    ) -> None:
        self._encoder, self._local, self._remote, self._mirror = encoder, local, remote, mirror

    # ---- FitTarget -----------------------------------------------------------------------------
    @property
    def encoder(self) -> DenseEncoder:
        return self._encoder

    def encode(self, texts: Sequence[str]) -> Vectors:
        return encode_checked(self._encoder, texts)

    def snapshot(self) -> Snapshot:
        return self._local.snapshot()

    def apply(self, change: Callable[[Snapshot], TableWrite | None]) -> bool:
        with self._local.table.lock:
            write = change(self._local.snapshot())
            if write is None:
                return False
            self._local.apply(add=write.upserts, replace=True, extras=write.extras, meta=write.meta)
        return True

    @property
    def remote(self) -> RemoteFitTarget | None:
        return self if self._remote is not None else None

    def routes_changed(self) -> None:
        """After every successful write: a fitted head may need retraining (in the
        background; returns at once)."""
        if self._local.snapshot().extras.get("head") is not None:
            on_routes_changed(self)

    # ---- RemoteFitTarget (only reached through ``remote``) -----------------------------------
    @property
    def mirror(self) -> bool:
        return self._mirror

    @property
    def local_version(self) -> int | None:
        return self._need_remote().local_version

    def refresh(self) -> bool:
        """Pull other agents' changes from the remote (only the routes they touched)."""
        if self._remote is None:
            return False
        changed = self._remote.refresh()
        if changed:
            self.routes_changed()
        return changed

    def write_routes(
        self,
        upserts: Sequence[tuple[Route, Vectors]],
        *,
        must_exist: bool,
        expect_version: int | None,
    ) -> None:
        self._need_remote().write_routes(
            upserts, must_exist=must_exist, expect_version=expect_version
        )

    def _need_remote(self) -> RemoteSync:
        assert self._remote is not None, "remote members are reached through .remote"
        return self._remote


def _check_protocols(target: RouterFitTarget) -> tuple[FitTarget, RemoteFitTarget]:
    return target, target  # mypy: the class implements both protocols
