"""A router's calibration: which routes get a gate, and a memo of them.

The index asks :meth:`Calibrator.gates` for the routes a write adds (hot add, update,
refresh, cold boot), so only routes touched are fitted, and their gates are published in the
same snapshot as the routes. A gate is a pure function of the route's utterance vectors, its
target, the scoring settings, the encoder and the background, all named in its memo key, so
nothing but the key and the background's id needs saving: a store or config is reloaded by
refitting the gates of its routes from the background's vectors (shipped for the default
encoder, else kept in the store or the cache directory; never re-encoded), milliseconds each.

Precedence: a route's own ``score_threshold`` (explicit, or written by ``fit``) wins and its
gate is unused; else the route passes at the router's ``score_threshold`` or through its
gate. A router given an explicit ``score_threshold`` does not calibrate. A router over a
remote index without a mirror (``mirror=False``) has no route vectors to fit gates on and
does not calibrate either: it uses the router's threshold.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ._background import Background, background_vectors, make_background
from ._calibration import DEFAULT_TARGET_FPR, Gate, background_grams, check_target_fpr, fit_gate
from ._exceptions import InvalidInputError
from ._types import F32
from .encoders.base import DenseEncoder
from .engine._table import ScoringSettings, Snapshot
from .schema import CalibrationState, Route

if TYPE_CHECKING:
    from .index.local import LocalIndex

__all__ = ["Calibrator", "calibration_choice", "calibration_state", "make_calibrator"]


# Gates by key, process-wide: the key names everything a gate depends on, so two routers
# share them safely. The background's Gram matrices likewise, by encoder and background.
_memo: dict[str, Gate | None] = {}
_grams: dict[tuple[str, int, str], Any] = {}
_memo_lock = threading.Lock()


class Calibrator:
    """Calibrated thresholds for one router (its encoder, background and target).

    Args:
        encoder: The router's encoder (the background is embedded by it, once).
        background: The ordinary turns.
        target_fpr: Router-wide share of ordinary turns a route may catch; a route's own
            ``target_fpr`` wins.
        encode: texts -> validated unit vectors (the router's ``_encode``).
    """

    def __init__(
        self,
        encoder: DenseEncoder,
        background: Background,
        target_fpr: float,
        encode: Callable[[Sequence[str]], F32] | None = None,
    ) -> None:
        self.encoder = encoder
        self.background = background
        self.target_fpr = target_fpr
        self._encode = encode
        # a store may keep the background's vectors: get() -> record or None, put(record)
        self.stored_vectors: tuple[Callable[[], Any], Callable[[Any], None]] | None = None
        self.encoded_background = 0  # times this calibrator encoded the background (tests)
        self._stored = False  # the store holds the background's vectors (checked once)

    def target(self, route: Route) -> float:
        own = getattr(route, "target_fpr", None)
        return self.target_fpr if own is None else float(own)

    def key(self, route: Route, settings: ScoringSettings) -> str:
        """What the route's threshold depends on, hashed."""
        parts = [
            self.encoder.name,
            self.encoder.dim,
            self.background.id,
            self.target(route),
            settings.top_k,
            settings.aggregation.value,
            settings.centroid_weight,
            settings.score_threshold,
            route.utterances,
        ]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:32]

    def gates(
        self, items: Iterable[tuple[Route, F32]], settings: ScoringSettings
    ) -> dict[str, Gate]:
        """Gates of the routes that need one (no ``score_threshold`` of their own), by name.
        The background is loaded on the first miss only."""
        out: dict[str, Gate] = {}
        for route, vecs in items:
            if route.score_threshold is not None or vecs.shape[0] != len(route.utterances):
                continue
            key = self.key(route, settings)
            with _memo_lock:
                known = key in _memo
                hit = _memo.get(key)
            if not known:
                bg = self.vectors()
                hit = fit_gate(vecs, bg, settings, self.target(route), self._grams(bg))
                with _memo_lock:
                    _memo[key] = hit
            if hit is not None:
                out[route.name] = hit
        return out

    def _grams(self, bg: F32) -> Any:
        gkey = (self.encoder.name, self.encoder.dim, self.background.id)
        with _memo_lock:
            hit = _grams.get(gkey)
        if hit is None:
            hit = background_grams(bg)
            with _memo_lock:
                _grams[gkey] = hit
        return hit

    def vectors(self) -> F32:
        """The background's vectors (memory, shipped file, store, cache dir, or one encoding);
        a store that lacks them is given them once."""
        from ._background import decode_vectors, encode_vectors

        n, dim = len(self.background.texts), self.encoder.dim
        found: list[bool] = []

        def from_store() -> F32 | None:
            vecs = (
                None
                if self.stored_vectors is None
                else decode_vectors(self.stored_vectors[0](), n, dim)
            )
            found.append(vecs is not None)
            return vecs

        vecs, fresh = background_vectors(self.encoder, self.background, self._encode, from_store)
        if fresh:
            self.encoded_background += 1
        if self.stored_vectors is not None and not self._stored:
            if found == [False] or (not found and self.stored_vectors[0]() is None):
                self.stored_vectors[1](encode_vectors(vecs))
            self._stored = True
        return vecs

    def record(self, route: Route, settings: ScoringSettings) -> dict[str, Any]:
        """What a store keeps for a calibrated route: what its gate was fitted from."""
        return {"key": self.key(route, settings), "background": self.background.id}


def make_calibrator(
    encoder: DenseEncoder,
    background: Sequence[str] | None,
    target_fpr: float,
    encode: Callable[[Sequence[str]], F32],
    local: LocalIndex,
) -> Calibrator:
    """A router's calibrator, installed on its local index (whose store, if any, keeps the
    background's vectors once they are computed)."""
    cal = Calibrator(encoder, make_background(background), target_fpr, encode)
    meta = local.store_meta()
    if meta is not None:
        get, put = meta
        key = f"background_vectors/{encoder.name}/{cal.background.id}"
        cal.stored_vectors = (lambda: get(key), lambda record: put(key, record))
    local.calibrator = cal
    return cal


def calibration_state(cal: Calibrator, snap: Snapshot) -> CalibrationState:
    """What a config says of the calibration: the background, the target, and each gated
    route's current gate level (for reading; gates are refitted from the background on load)."""
    alive = [int(s) for s in np.flatnonzero(snap.alive())]
    gated = [s for s in alive if isinstance(snap.gates[s], Gate) and np.isnan(snap.thresholds[s])]
    values = {
        snap.routes[s].name: round(cast(Gate, snap.gates[s]).cutoff(len(gated)), 6) for s in gated
    }
    return CalibrationState(
        background=cal.background.id, target_fpr=cal.target_fpr, thresholds=values
    )


def calibration_choice(
    score_threshold: float | None, target_fpr: float | None, background: Sequence[str] | None
) -> tuple[bool, float]:
    """Whether a router calibrates, and its target. An explicit ``score_threshold`` means a
    fixed threshold, so a calibration argument beside it is a contradiction."""
    if score_threshold is not None:
        if target_fpr is not None or background is not None:
            raise InvalidInputError(
                "score_threshold fixes the router-wide threshold; target_fpr and background "
                "calibrate it instead: give one or the other"
            )
        return False, DEFAULT_TARGET_FPR
    if target_fpr is None:
        return True, DEFAULT_TARGET_FPR
    try:
        return True, check_target_fpr(target_fpr)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
