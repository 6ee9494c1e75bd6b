"""A router's calibration: which routes get a gate, and a memo of them.

The index asks :meth:`Calibrator.gates` for the routes a write adds (hot add, update,
refresh, cold boot), so only routes touched are fitted, and their gates are published in the
same snapshot as the routes. A gate is a pure function of the route's utterance vectors, its
target, the scoring settings, the encoder and the background, all named in its memo key.
A ``LocalIndex(path=)`` store keeps each gate with its key (same transaction as the route),
so a cold boot reads the gates instead of refitting them (milliseconds each, times the
routes); a record whose key differs (another process changed the route, other settings,
another :data:`GATE_VERSION`) or that fails its digest is refitted from the background's
vectors (shipped for the default encoder, else kept in the store or the cache directory;
never re-encoded). A router without a store keeps its gates in the cache directory
(``_disk_cache``), so a new process (a restart, a CLI call) reads them instead of refitting.
A config is reloaded by refitting, or from that cache.

Precedence: a route's own ``score_threshold`` (explicit, or written by ``fit``) wins and its
gate is unused; else the route passes at the router's ``score_threshold`` or through its
gate. A router given an explicit ``score_threshold`` does not calibrate. A router over a
remote index without a mirror (``mirror=False``) keeps one centroid per route, not its
vectors: it fits each gate from the vectors it reads when the route arrives (boot, refresh,
its own writes) and keeps only the gate, so it answers like a mirror.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._background import Background, background_vectors, make_background, part_ranges
from ._calibration import (
    DEFAULT_TARGET_FPR,
    Gate,
    background_grams,
    check_background_size,
    check_target_fpr,
    fit_gate,
)
from ._disk_cache import DiskCache, gate_cache
from ._exceptions import InvalidInputError
from ._gate_codec import decode_gate, encode_gate
from ._types import F32
from .encoders.base import DenseEncoder
from .engine._table import ScoringSettings
from .schema import CalibrationState, Route

log = logging.getLogger("fingerpost")

if TYPE_CHECKING:
    from .index.local import LocalIndex

__all__ = [
    "BACKGROUND_TURNS",
    "GATE_VERSION",
    "Calibrator",
    "calibration_choice",
    "calibration_state",
    "make_calibrator",
    "remember_background",
]


# Gates by key, process-wide: the key names everything a gate depends on, so two routers
# share them safely. The background's Gram matrices likewise, by encoder and background.
_memo: dict[str, Gate | None] = {}
_grams: dict[tuple[str, int, str], Any] = {}
_memo_lock = threading.Lock()

# Part of every gate's key: bump it when fit_gate computes gates differently, so gates kept
# in stores by an older version are refitted instead of trusted. 2: neighbourhood share 5 %
# (round 3); 3: the neighbourhood joins the route's class (round 4); 4: a route's rows are
# fitted in the order of their texts (its gate no longer depends on the order it was read in);
# 5: a user's background joins the shipped corpus; levels hold the target on it alone too.
GATE_VERSION = 5

# A store's meta key for the user's own background turns (those the shipped corpus lacks).
BACKGROUND_TURNS = "background/turns"


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
        # a store may keep each corpus's vectors: get(id) -> record or None, put(id, record)
        self.stored_vectors: tuple[Callable[[str], Any], Callable[[str, Any], None]] | None = None
        self.encoded_background = 0  # times this calibrator encoded the background (tests)
        # gates kept across processes for a router without a store (``_disk_cache``)
        self.disk: DiskCache | None = None
        self._stored = False  # the store holds the background's vectors (checked once)
        # the encoded part of a key that depends on the settings and target only
        self._key_heads: dict[tuple[ScoringSettings, float], Any] = {}
        # the user's own turns a store is to remember once the router boots (None: nothing)
        self.to_remember: list[str] | None = None

    def target(self, route: Route) -> float:
        own = getattr(route, "target_fpr", None)
        return self.target_fpr if own is None else float(own)

    def key(self, route: Route, settings: ScoringSettings) -> str:
        """What the route's gate depends on, hashed (with :data:`GATE_VERSION`).

        Computed for every calibrated route on a cold boot, so the utterances are hashed
        joined by NUL rather than JSON-encoded (6x cheaper); a route whose utterances hold a
        NUL themselves (the join would be ambiguous) falls back to JSON.
        """
        utterances = route.utterances
        joined = "\0".join(utterances).encode("utf-8", "surrogatepass")
        plain = joined.count(0) == len(utterances) - 1  # (bytes: 10x quicker than str)
        context = (settings, self.target(route))
        head = self._key_heads.get(context)
        if head is None:
            parts = [
                GATE_VERSION,
                self.encoder.name,
                self.encoder.dim,
                self.background.id,
                context[1],
                settings.top_k,
                settings.aggregation.value,
                settings.centroid_weight,
                settings.score_threshold,
            ]
            head = self._key_heads[context] = hashlib.sha256(json.dumps(parts).encode("utf-8"))
        h = head.copy()  # a copy costs far less than a new hasher (OpenSSL 3 fetches one)
        h.update(f"\n{len(utterances)} {plain:d}\n".encode("ascii"))
        h.update(joined if plain else json.dumps(utterances).encode("ascii"))
        return h.hexdigest()[:32]

    def context(self, settings: ScoringSettings) -> str:
        """Everything a gate depends on besides its route (which a store names by the
        routes' JSON), hashed: what the gates sidecar of a store is valid for."""
        parts = [
            GATE_VERSION,
            self.encoder.name,
            self.encoder.dim,
            self.background.id,
            self.target_fpr,
            settings.top_k,
            settings.aggregation.value,
            settings.centroid_weight,
            settings.score_threshold,
            settings.calibrate,
        ]
        return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:32]

    def gates(
        self, items: Iterable[tuple[Route, F32]], settings: ScoringSettings
    ) -> dict[str, Gate]:
        """Gates of the routes that need one (no ``score_threshold`` of their own), by name.
        The background is loaded on the first miss only."""
        return self.calibrate(items, settings)[0]

    def calibrate(
        self,
        items: Iterable[tuple[Route, F32]],
        settings: ScoringSettings,
        stored: Mapping[str, tuple[str, Any]] | None = None,
    ) -> tuple[dict[str, Gate], dict[str, tuple[str, bytes | None] | None]]:
        """Gates of the routes that need one, by name, and the store's records of them.

        A record is the key a gate was fitted under and the gate's bytes (``None``: fitting
        gave no gate). ``stored`` (a store's records by route name) supplies gates without
        refitting where a record's key equals the route's key now and its bytes decode
        intact; any other record is ignored and the gate refitted. With ``stored`` the
        records returned are only those that differ from it (to write back); without, one
        per route of ``items`` (``None``: the route is not calibrated, nothing to keep).
        """
        gates: dict[str, Gate] = {}
        records: dict[str, tuple[str, bytes | None] | None] = {}
        pairs = list(items)
        # a gate is fitted from a route's every vector, never from a centroid standing in
        # for them (its key names the route's texts: it would be shared as if it were whole)
        keys = [
            self.key(route, settings)
            if route.score_threshold is None and vecs.shape[0] == len(route.utterances)
            else None
            for route, vecs in pairs
        ]
        disk = self.disk if stored is None else None
        if disk is not None:
            self._from_disk(disk, [k for k in keys if k is not None])
        fitted: list[tuple[str, bytes | None]] = []
        for (route, vecs), key in zip(pairs, keys, strict=True):
            name = route.name
            old = None if stored is None else stored.get(name)
            if key is None:
                if stored is None or old is not None:
                    records[name] = None
                continue
            with _memo_lock:
                known = key in _memo
                hit = _memo.get(key)
            kept = old is not None and old[0] == key
            saved = old[1] if old is not None and kept else None
            damaged = False
            if not known and kept:
                hit = None if saved is None else decode_gate(saved, key)
                damaged = saved is not None and hit is None  # refitted, never trusted
                known = not damaged
                if known:
                    with _memo_lock:
                        _memo[key] = hit
            if not known:
                bg = self.vectors()
                rows = _canonical(route.utterances, vecs)
                hit = fit_gate(rows, bg, settings, self.target(route), self._grams(bg))
                with _memo_lock:
                    _memo[key] = hit
                kept_record = self._record(key, hit) if disk is not None else None
                if kept_record is not None:
                    fitted.append(kept_record)
            if hit is not None:
                gates[name] = hit
            if stored is None or not kept or damaged or (hit is None) != (saved is None):
                records[name] = self._record(key, hit)
        if disk is not None:
            disk.put_many(fitted)
        return gates, records

    @staticmethod
    def _from_disk(disk: DiskCache, keys: Sequence[str]) -> None:
        """Load into the memo the gates ``disk`` keeps for the ``keys`` the memo lacks (a
        damaged record is left out: its gate is refitted)."""
        with _memo_lock:
            missing = [k for k in dict.fromkeys(keys) if k not in _memo]
        found: dict[str, Gate | None] = {}
        for key, blob in disk.get_many(missing).items():
            gate = None if blob is None else decode_gate(blob, key)
            if blob is None or gate is not None:
                found[key] = gate
        if found:
            with _memo_lock:
                for key, gate in found.items():
                    _memo.setdefault(key, gate)

    @staticmethod
    def _record(key: str, gate: Gate | None) -> tuple[str, bytes | None] | None:
        """What a store keeps of a route's gate; ``None`` (keep nothing: refit on the next
        boot) when the codec cannot keep one of its fields."""
        if gate is None:
            return key, None
        encoded = encode_gate(gate, key)
        return None if encoded is None else (key, encoded)

    def _grams(self, bg: F32) -> Any:
        gkey = (self.encoder.name, self.encoder.dim, self.background.id)
        with _memo_lock:
            hit = _grams.get(gkey)
        if hit is None:
            parts = self.background.parts
            hit = background_grams(bg, len(parts[0].texts) if parts else None)
            with _memo_lock:
                _grams[gkey] = hit
        return hit

    def vectors(self) -> F32:
        """The background's vectors (memory, store, shipped file, cache dir, or one encoding,
        each corpus of it on its own); a store that lacks a corpus's vectors is given them
        once."""
        from ._background import decode_vectors, encode_vectors

        dim = self.encoder.dim
        asked: dict[str, bool] = {}  # corpus id -> whether the store held its vectors

        def from_store(part: Background) -> F32 | None:
            if self.stored_vectors is None:
                return None
            vecs = decode_vectors(self.stored_vectors[0](part.id), len(part.texts), dim)
            asked[part.id] = vecs is not None
            return vecs

        vecs, fresh = background_vectors(self.encoder, self.background, self._encode, from_store)
        if fresh:
            self.encoded_background += 1
        if self.stored_vectors is not None and not self._stored:
            get, put = self.stored_vectors
            parts = self.background.parts or (self.background,)
            for part, (start, stop) in zip(parts, part_ranges(self.background), strict=True):
                held = asked.get(part.id)
                if held is False or (held is None and get(part.id) is None):
                    put(part.id, encode_vectors(vecs[start:stop]))
            self._stored = True
        return vecs


def make_calibrator(
    encoder: DenseEncoder,
    background: Sequence[str] | None,
    target_fpr: float,
    encode: Callable[[Sequence[str]], F32],
    local: LocalIndex,
) -> Calibrator:
    """A router's calibrator, installed on its local index (whose store, if any, keeps the
    background's vectors once they are computed).

    A store remembers the user's own turns (:func:`remember_background`, once the router
    has booted): a router over it given no ``background`` (a restart, the shell, the HTTP
    service) calibrates against the ones it was last given, so its gates and the thresholds
    it kept still hold; one given a ``background`` replaces them (``[]``: none, the shipped
    corpus alone)."""
    meta = local.store_meta()
    given = background is not None
    if given or meta is None:
        bg = make_background(background)
    else:
        bg = _remembered(meta[0](BACKGROUND_TURNS))
    try:
        check_background_size(len(bg.texts), target_fpr, shipped=not bg.parts)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    cal = Calibrator(encoder, bg, target_fpr, encode)
    if meta is None:
        cal.disk = gate_cache()  # no store to keep gates in: the cache directory does
    else:
        get, put = meta
        if given:
            cal.to_remember = list(bg.parts[1].texts) if bg.parts else []
        prefix = f"background_vectors/{encoder.name}/"
        cal.stored_vectors = (
            lambda part: get(prefix + part),
            lambda part, record: put(prefix + part, record),
        )
    local.calibrator = cal
    return cal


def remember_background(local: LocalIndex) -> None:
    """Have ``local``'s store remember the user's turns its calibrator was given: called
    once the router has booted, so a construction that fails changes nothing."""
    cal, meta = local.calibrator, local.store_meta()
    if cal is None or meta is None or cal.to_remember is None:
        return
    get, put = meta
    old = get(BACKGROUND_TURNS)
    if old != cal.to_remember:
        put(BACKGROUND_TURNS, cal.to_remember)
        forgotten = _remembered(old, warn=False).parts  # their vectors are no longer needed
        kept = {p.id for p in cal.background.parts}
        if forgotten and cal.stored_vectors is not None and forgotten[1].id not in kept:
            cal.stored_vectors[1](forgotten[1].id, None)
    cal.to_remember = None


def _remembered(record: Any, warn: bool = True) -> Background:
    """The background of the user's turns a store remembers (:data:`BACKGROUND_TURNS`): the
    shipped corpus alone for none, and, with a warning, for a record that is not a list of
    turns fit to calibrate on."""
    if record is not None and record != []:
        if isinstance(record, list) and all(isinstance(t, str) for t in record):
            try:
                return make_background(record)
            except InvalidInputError:
                pass
        if warn:
            log.warning(
                "fingerpost: the store's remembered background turns are damaged; calibrating "
                "against the shipped corpus alone (pass background= to replace them)"
            )
    return make_background(None)


def calibration_state(cal: Calibrator, levels: dict[str, float]) -> CalibrationState:
    """What a config says of the calibration: the background, the target, and each gated
    route's current level (``levels``: :func:`gate_levels` of a snapshot; for reading: gates
    are refitted from the background on load)."""
    return CalibrationState(
        background=cal.background.id, target_fpr=cal.target_fpr, thresholds=levels
    )


def _canonical(utterances: Sequence[str], vecs: F32) -> F32:
    """The route's rows in the order of its utterances' texts: a remote returns a route's
    points in its own order, and sums taken in another order differ in their last bits, so
    every agent fits the same gate, bit for bit, only from the same order."""
    order = sorted(range(len(utterances)), key=utterances.__getitem__)
    return vecs if order == list(range(len(utterances))) else vecs[order]


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
