"""What fitting and evaluation need from a router: the seam between the router and ``quality``.

Fitting reads the router's snapshot, encodes labelled turns with its encoder and publishes a
head and thresholds in one atomic write; over a shared remote index it also refreshes first
and writes thresholds through the remote. :class:`FitTarget` names exactly that, so nothing in
``fingerpost.quality`` reads the router's private attributes or imports the router: the router
builds on ``quality``, never the other way round (no import cycle).

``SemanticRouter`` hands its own implementation to the functions here; any object with these
members works, which lets the math be tested on a bare table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._types import Vectors
from ..schema import Route, RouteChoice

if TYPE_CHECKING:
    from ..encoders.base import DenseEncoder
    from ..engine._table import Snapshot

__all__ = ["FitTarget", "LabelledRouter", "RemoteFitTarget", "TableWrite"]


@dataclass(frozen=True)
class TableWrite:
    """One atomic change to the router's local table, as :meth:`FitTarget.apply` installs it.

    Attributes:
        upserts: Whole routes (with their vectors) that replace the live ones of that name.
        extras: The snapshot's new extras (``head``, ``fitted``, ``fit_examples``), replacing
            the old ones; ``None`` keeps them.
        meta: Store metadata written in the same transaction (the saved ``fit_state``).
    """

    upserts: Sequence[tuple[Route, Vectors]] = ()
    extras: dict[str, object] | None = None
    meta: dict[str, Any] | None = None


class RemoteFitTarget(Protocol):
    """The shared remote index behind a router, as a fit over it sees it."""

    @property
    def mirror(self) -> bool:
        """Whether the router keeps every utterance vector locally (a fit needs them)."""
        ...

    @property
    def local_version(self) -> int | None:
        """The remote version the local mirror reflects."""
        ...

    def refresh(self) -> bool:
        """Pull other agents' changes, so the fit tunes the routes as they are."""
        ...

    def write_routes(
        self,
        upserts: Sequence[tuple[Route, Vectors]],
        *,
        must_exist: bool,
        expect_version: int | None,
    ) -> None:
        """Write whole routes through the remote; ``SyncConflictError`` if it moved on."""
        ...


class FitTarget(Protocol):
    """A router as ``fit``, ``evaluate``, saved fits and background retraining see it."""

    @property
    def encoder(self) -> DenseEncoder:
        """The router's encoder (its name and dimension are saved with a fit)."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of ``texts``, as routing would compute them."""
        ...

    def snapshot(self) -> Snapshot:
        """The router's current table: routes, vectors, settings and extras."""
        ...

    def apply(self, change: Callable[[Snapshot], TableWrite | None]) -> bool:
        """Read-modify-write under the table's write lock: ``change`` maps the current
        snapshot to one :class:`TableWrite` (or ``None``: write nothing). Returns whether
        anything was written."""
        ...

    @property
    def remote(self) -> RemoteFitTarget | None:
        """The shared remote index, or ``None`` for a local router."""
        ...


class LabelledRouter(Protocol):
    """What evaluation needs: routing a batch of turns as users are routed."""

    def list_route_names(self) -> list[str]: ...

    def batch(self, texts: Sequence[str]) -> list[RouteChoice]: ...
