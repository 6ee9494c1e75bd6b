"""The life of a fit after ``fit`` returns: publishing it, saving and restoring it, retraining.

A fit lives in the snapshot's extras (``head``, ``fitted``, ``fit_examples``) and in the routes'
own thresholds; :func:`publish` installs all of it with the saved :class:`FitState` in ONE index
write (and one store transaction), so readers and a restart see all of it or none of it.

``fit_examples`` are the labelled in-scope turns the head was trained on besides the routes'
utterances (route name -> texts). They are saved with the state, so a retrain after a restart
trains on what the fit did; their vectors are computed once, in the background, when a
retrain first needs them.

A hot add/delete leaves the head stale: routes it does not know score by similarity until a
daemon thread has retrained it (bursts coalesce into one retrain; queries never wait; the new
head is published atomically). :func:`wait_for_retrain` lets tests wait without sleeping.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .._exceptions import EncoderMismatchError, FingerpostError, InvalidInputError
from ..schema import FitState, Route
from ._fit import SoftmaxHead, train_head
from ._target import FitTarget, RemoteFitTarget, TableWrite

if TYPE_CHECKING:
    from ..engine._table import Snapshot

__all__ = [
    "fit_state_of",
    "live_names",
    "on_routes_changed",
    "publish",
    "publish_remote",
    "restore_fit_state",
    "wait_for_retrain",
]

log = logging.getLogger("fingerpost")

Examples = dict[str, list[str]]


# ---- publishing, saving, restoring -----------------------------------------------------------
def _state(target: FitTarget, routes: Sequence[Route], head: object, examples: object) -> FitState:
    live = {r.name for r in routes}
    kept = (
        {k: list(v) for k, v in examples.items() if k in live} if isinstance(examples, dict) else {}
    )
    return FitState(
        encoder_name=target.encoder.name,
        thresholds={r.name: r.score_threshold for r in routes if r.score_threshold is not None},
        head=head.to_dict() if isinstance(head, SoftmaxHead) else None,
        examples=kept if isinstance(head, SoftmaxHead) else {},
    )


def publish(
    target: FitTarget,
    head: SoftmaxHead | None,
    thresholds: Mapping[str, float],
    *,
    only_unset: bool,
    examples: Examples | None = None,
    expect_head: object = None,
    check_head: bool = False,
) -> bool:
    """Install ``head``, route thresholds, examples and the saved state in ONE index write.

    ``only_unset`` leaves routes that already have a threshold alone. ``examples`` replaces the
    head's labelled turns (``None``: keep them). With ``check_head`` the write happens only if
    the published head is still ``expect_head`` (a retrain must not undo a fit that landed
    while it ran). Returns whether anything was published.
    """

    def change(snap: Snapshot) -> TableWrite | None:
        if check_head and snap.extras.get("head") is not expect_head:
            return None
        routes = {r.name: r for r in snap.live_routes()}
        updates = []
        for name, value in thresholds.items():
            route = routes.get(name)
            if route is None or route.score_threshold == value:
                continue
            if only_unset and route.score_threshold is not None:
                continue
            vecs = snap.route_vectors(name)
            assert vecs is not None
            routes[name] = Route(**{**route.model_dump(), "score_threshold": value})
            updates.append((routes[name], vecs))
        extras = {k: v for k, v in snap.extras.items() if k != "head"}
        extras["fitted"] = True
        if examples is not None:
            extras["fit_examples"] = {k: list(v) for k, v in examples.items()}
        if head is not None:
            extras["head"] = head
        state = _state(target, list(routes.values()), head, extras.get("fit_examples"))
        return TableWrite(
            upserts=updates, extras=extras, meta={"fit_state": state.model_dump(mode="json")}
        )

    return target.apply(change)


def publish_remote(
    target: FitTarget,
    remote: RemoteFitTarget,
    thresholds: Mapping[str, float],
    version: int | None,
) -> None:
    """Write fitted thresholds through the remote (one lease; only routes whose threshold
    changes), so every agent routes with them after its next refresh.

    ``version`` is the remote version the fit read. If another agent wrote since, nothing is
    written and ``SyncConflictError`` asks for a new fit: writing whole routes from this
    mirror would undo that agent's change, and the thresholds were tuned without it.
    """
    snap = target.snapshot()
    updates = []
    for route in snap.live_routes():
        value = thresholds.get(route.name)
        if value is None or route.score_threshold == value:
            continue
        vecs = snap.route_vectors(route.name)
        assert vecs is not None
        updates.append((Route(**{**route.model_dump(), "score_threshold": value}), vecs))
    if updates:
        remote.write_routes(updates, must_exist=True, expect_version=version)

    def unblend(snap: Snapshot) -> TableWrite:  # thresholds tuned on similarity: no head
        extras = {k: v for k, v in snap.extras.items() if k not in ("head", "fit_examples")}
        return TableWrite(extras={**extras, "fitted": True})

    target.apply(unblend)


def fit_state_of(target: FitTarget, snap: Snapshot) -> FitState | None:
    """The fitted state to save with a config, or ``None`` if the router was never fitted."""
    if not snap.extras.get("fitted"):
        return None
    return _state(
        target, snap.live_routes(), snap.extras.get("head"), snap.extras.get("fit_examples")
    )


def restore_fit_state(target: FitTarget, state: FitState) -> None:
    """Install a saved fit: the head, its examples, and thresholds for routes that have none
    of their own.

    Raises:
        EncoderMismatchError: The state was fitted with another encoder (name or dimension).
        InvalidInputError: The saved head cannot be read.
    """
    encoder = target.encoder
    if state.encoder_name != encoder.name:
        raise EncoderMismatchError(
            f"fit state was made with encoder {state.encoder_name!r}, not {encoder.name!r}"
        )
    head = None
    if state.head is not None:
        try:
            head = SoftmaxHead.from_dict(state.head)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"unreadable fitted head: {exc}") from exc
        if head.coef.shape[0] != encoder.dim:
            raise EncoderMismatchError(
                f"fitted head has dimension {head.coef.shape[0]}, encoder {encoder.dim}"
            )
    publish(target, head, dict(state.thresholds), only_unset=True, examples=dict(state.examples))
    if head is not None and set(head.classes) != live_names(target):
        on_routes_changed(target)


# ---- background retraining ---------------------------------------------------------------------
class _Session:
    """Per-router retrain thread, and the vectors of the fit examples (memory only)."""

    def __init__(self, target: FitTarget) -> None:
        self.target = weakref.ref(target)
        self.vectors: dict[str, NDArray[np.float32]] = {}
        self.lock = threading.Lock()
        self.pending = False
        self.thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def request(self) -> None:
        with self.lock:
            self.pending = True
            if self.thread is None:
                self.idle.clear()
                self.thread = threading.Thread(
                    target=self._run, name="fingerpost-retrain", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    self.thread = None
                    self.idle.set()
                    return
                self.pending = False
            target = self.target()
            if target is None:
                continue
            try:
                _retrain(target, self)
            except Exception:  # a background thread has no caller to raise to
                log.exception("fingerpost: retraining the route head failed")
            del target


_sessions: weakref.WeakKeyDictionary[FitTarget, _Session] = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()


def live_names(target: FitTarget) -> set[str]:
    """Names of the routes the target serves now."""
    return {r.name for r in target.snapshot().live_routes()}


def session_of(target: FitTarget) -> _Session:
    with _sessions_lock:
        session = _sessions.get(target)
        if session is None:
            session = _sessions[target] = _Session(target)
        return session


def on_routes_changed(target: FitTarget) -> None:
    """Schedule a background retrain of a stale head; returns at once."""
    session_of(target).request()


def wait_for_retrain(target: FitTarget, timeout: float | None = None) -> bool:
    """Block until no retrain is pending or running; ``False`` on timeout."""
    return session_of(target).idle.wait(timeout)


def _example_rows(
    target: FitTarget, session: _Session, examples: object, index: Mapping[str, int]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Vectors and route indices of the fit examples whose route is still live (texts not
    yet seen by this process are encoded here, once)."""
    pairs = [
        (text, index[name])
        for name, texts in (examples.items() if isinstance(examples, dict) else ())
        if name in index
        for text in texts
    ]
    vectors = session.vectors  # one dict throughout: a fit may install a new one meanwhile
    missing = list(dict.fromkeys(t for t, _ in pairs if t not in vectors))
    if missing:
        vectors.update(zip(missing, target.encode(missing), strict=True))
    if not pairs:
        return np.empty((0, target.encoder.dim), np.float32), np.empty(0, np.int64)
    return (
        np.stack([vectors[t] for t, _ in pairs]).astype(np.float32, copy=False),
        np.array([i for _, i in pairs], dtype=np.int64),
    )


def _retrain(target: FitTarget, session: _Session) -> None:
    """Retrain the head on the routes as they are now plus the fit's examples, with the L2
    strength, weight and temperature chosen at fit time."""
    snap = target.snapshot()
    old = snap.extras.get("head")
    if not isinstance(old, SoftmaxHead):
        return
    rows = snap.live_rows()
    index = {name: i for i, name in enumerate(rows.names)}
    ex_x, ex_y = _example_rows(target, session, snap.extras.get("fit_examples"), index)
    x, y = np.concatenate([rows.vectors, ex_x]), np.concatenate([rows.row_route, ex_y])
    head = None
    if len(rows.names) >= 2:
        head = train_head(
            x,
            y,
            rows.names,
            l2=old.l2,
            weight=old.weight,
            temperature=old.temperature,
            threshold=old.threshold,
            blend=old.blend,
        )
    joined = {
        n: old.threshold for n in rows.names if n not in old.classes and old.threshold is not None
    }
    try:
        publish(target, head, joined, only_unset=True, expect_head=old, check_head=True)
    except FingerpostError:
        log.warning("fingerpost: could not publish the retrained head", exc_info=True)
