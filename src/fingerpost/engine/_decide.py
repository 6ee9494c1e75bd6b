"""Turning a snapshot and query vectors into RouteChoices: argument checks and the local
(mirror) decision. Pure: no encoder, no network, no locks."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .._calibration import Gate
from .._defaults import DEFAULT_SCORE_THRESHOLD
from .._exceptions import InvalidInputError, InvalidVectorError, RouteNotFoundError
from .._types import Vectors
from ..encoders.base import unit_rows
from ..schema import Aggregation, Route, RouteChoice, check_unicode, copy_route
from ._head import head_inputs
from ._scoring import pruned_passing_routes
from ._table import ScoringSettings, Snapshot

__all__ = [
    "as_routes",
    "candidates",
    "check_fit_data",
    "check_limit",
    "check_name",
    "check_number",
    "check_query_input",
    "check_text",
    "check_update_args",
    "check_utterances_arg",
    "decide",
    "effective_thresholds",
    "filter_names",
    "format_choices",
    "gate_levels",
    "gate_passes",
    "query_thresholds",
    "query_vector",
    "scoring_settings",
]


def check_text(text: object) -> str:
    """The turn itself, or ``InvalidInputError`` for non-strings, blank strings and text the
    tokenizer cannot take (lone surrogates: not UTF-8)."""
    if not isinstance(text, str):
        raise InvalidInputError(f"a turn must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError("a turn must not be empty or blank")
    try:
        check_unicode(text, "the turn")
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    return text


def check_query_input(text: object, vector: object) -> None:
    """A turn is text or a vector, never both: the text would be silently ignored."""
    if text is not None and vector is not None:
        raise InvalidInputError("give a turn's text or its vector=, not both")


def query_vector(vector: object, dim: int) -> Vectors:
    """A precomputed turn vector as one unit row, or ``InvalidInputError``."""
    if isinstance(vector, (str, bytes)):
        raise InvalidInputError("vector must be a sequence of numbers, not text")
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged, non-numeric
        raise InvalidVectorError(f"vector is not a flat sequence of numbers: {exc}") from exc
    if arr.ndim != 1 and not (arr.ndim == 2 and arr.shape[0] == 1):
        raise InvalidVectorError(f"vector must be one row of {dim} numbers, got shape {arr.shape}")
    return unit_rows(arr.reshape(1, -1), 1, dim)


def check_name(route_name: object) -> str:
    """A route name argument must be a str (a list or None is a caller's mistake)."""
    if not isinstance(route_name, str):
        raise InvalidInputError(f"a route name must be a str, got {type(route_name).__name__}")
    return route_name


def check_utterances_arg(utterances: object) -> None:
    """``update(utterances="hey")`` would store ``['h', 'e', 'y']``: one str is refused."""
    if isinstance(utterances, (str, bytes)):
        raise InvalidInputError("utterances must be a list of strings, not one string")
    if utterances is not None and not isinstance(utterances, Iterable):
        raise InvalidInputError(
            f"utterances must be a list of strings, got {type(utterances).__name__}"
        )


def check_update_args(route_name: object, utterances: object) -> None:
    check_name(route_name)
    check_utterances_arg(utterances)


def check_fit_data(X: object, y: object) -> None:
    """A fit on nothing would still move thresholds: refuse it before anything changes."""
    for what, v in (("X", X), ("y", y)):
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
            raise InvalidInputError(f"fit needs {what} as a list, got {type(v).__name__}")
    if len(X) == 0:  # type: ignore[arg-type]
        raise InvalidInputError("fit needs at least one labelled turn")
    if len(X) != len(y):  # type: ignore[arg-type]
        n_x, n_y = len(X), len(y)  # type: ignore[arg-type]
        raise InvalidInputError(f"fit needs as many labels as turns: {n_x} turns, {n_y} labels")


def as_routes(routes: Route | Iterable[Route]) -> list[Route]:
    """The caller's routes as private copies: later changes to the caller's objects must not
    reach the router behind its index's back."""
    if isinstance(routes, Route):
        items: list[object] = [routes]
    else:
        if isinstance(routes, (str, bytes, dict)):
            raise InvalidInputError(f"expected Route objects, got {type(routes).__name__}")
        try:
            items = list(routes)
        except TypeError as exc:
            raise InvalidInputError(
                f"expected a Route or an iterable of Routes, got {type(routes).__name__}"
            ) from exc
    out = []
    for r in items:
        if not isinstance(r, Route):
            raise InvalidInputError(f"expected Route objects, got {type(r).__name__}")
        out.append(copy_route(r))
    return out


def check_number(value: object, what: str) -> float:
    """``value`` as a float; bools and non-numbers are refused (``True`` is not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{what} must be a number, got {value!r}")
    return float(value)


def scoring_settings(
    top_k: int,
    aggregation: Aggregation | str,
    threshold: float | None,
    centroid_weight: float,
    calibrate: bool = False,
) -> ScoringSettings:
    try:
        agg = Aggregation(aggregation)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"aggregation must be one of max, mean, sum; got {aggregation!r}"
        ) from exc
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive int, got {top_k!r}")
    thr = check_number(
        DEFAULT_SCORE_THRESHOLD if threshold is None else threshold, "score_threshold"
    )
    if not -1.0 <= thr <= 1.0:
        raise InvalidInputError(f"score_threshold must be within [-1, 1], got {threshold!r}")
    weight = check_number(centroid_weight, "centroid_weight")
    if not 0.0 <= weight <= 1.0:
        raise InvalidInputError(f"centroid_weight must be within [0, 1], got {centroid_weight!r}")
    return ScoringSettings(
        top_k=top_k,
        aggregation=agg,
        score_threshold=thr,
        centroid_weight=weight,
        calibrate=calibrate,
    )


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidInputError(f"limit must be None or a positive int, got {limit!r}")


def candidates(snap: Snapshot, route_filter: Sequence[str] | None) -> NDArray[np.bool_]:
    alive = snap.alive()
    if route_filter is None:
        return alive
    names = filter_names(route_filter)
    mask = np.zeros_like(alive)
    for name in names:
        slot = snap.slot_of(name)
        if slot is None:
            raise RouteNotFoundError(f"route_filter names no route {name!r}")
        mask[slot] = True
    return mask


def filter_names(route_filter: object) -> tuple[str, ...]:
    """``route_filter`` as a tuple of names, or ``InvalidInputError`` (a str, a number...)."""
    if isinstance(route_filter, (str, bytes, dict)):
        raise InvalidInputError("route_filter must be a list of route names, not a str")
    try:
        names: tuple[object, ...] = tuple(route_filter)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InvalidInputError(
            f"route_filter must be a list of route names, got {route_filter!r}"
        ) from exc
    out: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise InvalidInputError(f"route_filter names must be str, got {type(name).__name__}")
        out.append(name)
    return tuple(out)


def format_choices(
    snap: Snapshot, slots: NDArray[np.int64], scores: NDArray[np.float32], limit: int | None
) -> Any:
    if limit is not None:
        slots, scores = slots[:limit], scores[:limit]
    choices = [
        choice(snap.routes[s], sc) for s, sc in zip(slots.tolist(), scores.tolist(), strict=True)
    ]
    if limit == 1:
        return choices[0] if choices else RouteChoice()
    return choices


def choice(route: Route, score: float) -> RouteChoice:
    # A copy: a caller editing a choice's metadata must not edit the route's.
    metadata = copy.deepcopy(route.metadata) if route.metadata else None
    return RouteChoice(name=route.name, similarity_score=score, metadata=metadata)


def effective_thresholds(snap: Snapshot) -> NDArray[np.float32]:
    """Each slot's similarity threshold: its route's own (explicit or fitted), else the
    router's. A calibrated route may also pass through its gate (:func:`gate_passes`)."""
    default = np.float32(snap.settings.score_threshold)
    out: NDArray[np.float32] = np.where(np.isnan(snap.thresholds), default, snap.thresholds).astype(
        np.float32
    )
    return out


def _gate_table(
    snap: Snapshot,
) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]] | None:
    """The live gated slots of a snapshot and their gates as arrays (weights (g, d), bias,
    cutoff), built once per snapshot. The router-wide budget is shared by the live routes
    that calibrate (gate, no threshold of their own)."""
    if not snap.settings.calibrate or snap.n_slots == 0:
        return None
    cached = snap.cache.get("gates")
    if cached is None:
        alive = snap.alive()
        slots = [
            s
            for s in np.flatnonzero(alive).tolist()
            if snap.gates[s] is not None and np.isnan(snap.thresholds[s])
        ]
        gates = [cast(Gate, snap.gates[s]) for s in slots]
        dim = snap.centroids.shape[1]
        cached = (
            np.array(slots, dtype=np.int64),
            np.stack([g.weights for g in gates]) if gates else np.empty((0, dim), np.float32),
            np.array([g.bias for g in gates], dtype=np.float32),
            np.array([g.cutoff(len(gates)) for g in gates], dtype=np.float32),
        )
        snap.cache["gates"] = cached
    table = cast(
        "tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]",
        cached,
    )
    return table if table[0].size else None


def gate_levels(snap: Snapshot) -> dict[str, float]:
    """Each calibrated route's threshold on its own scale (:meth:`Gate.level`: the cosine to
    the gate's direction a turn must exceed), rounded to 6 places, by route name: the routes
    of the decision's gate table (:func:`_gate_table`), sharing the router-wide budget."""
    table = _gate_table(snap)
    if table is None:
        return {}
    slots = table[0].tolist()
    return {
        snap.routes[s].name: round(cast(Gate, snap.gates[s]).level(len(slots)), 6) for s in slots
    }


def gate_passes(
    snap: Snapshot, queries: Vectors
) -> tuple[NDArray[np.int64], NDArray[np.bool_]] | None:
    """``(slots (g,), passes (b, g))``: which calibrated routes' gates pass each query, or
    ``None`` when no route has a gate. One (b x d) @ (d x g) product."""
    table = _gate_table(snap)
    if table is None:
        return None
    slots, weights, bias, cut = table
    passes: NDArray[np.bool_] = (queries @ weights.T + bias) > cut
    return slots, passes


def query_thresholds(
    thresholds: NDArray[np.float32],
    gated: tuple[NDArray[np.int64], NDArray[np.bool_]] | None,
    i: int,
) -> NDArray[np.float32]:
    """Query ``i``'s thresholds: a route whose gate passes it needs no similarity level."""
    if gated is None or not gated[1][i].any():
        return thresholds
    out: NDArray[np.float32] = thresholds.copy()
    out[gated[0][gated[1][i]]] = -np.inf
    return out


def decide(
    snap: Snapshot, queries: Vectors, limit: int | None, route_filter: Sequence[str] | None
) -> list[Any]:
    """Choices for each query against the in-memory table (one snapshot for all)."""
    cands = candidates(snap, route_filter)
    st = snap.settings
    thresholds = effective_thresholds(snap)
    gated = gate_passes(snap, queries)
    cent = queries @ snap.centroids.T if snap.n_slots else np.empty((len(queries), 0), np.float32)
    head = snap.extras.get("head")
    scale, offset = (None, None) if head is None else head_inputs(head, snap, queries)
    out: list[Any] = []
    for i in range(len(queries)):
        # Branch and bound reads only the routes that can pass (exact); measured cheaper per
        # turn than one matrix product over every row, even for batches of 64.
        slots, scores = pruned_passing_routes(
            queries[i],
            snap.vectors,
            snap.starts,
            cands,
            query_thresholds(thresholds, gated, i),
            st.top_k,
            st.aggregation,
            cent[i],
            st.centroid_weight,
            snap.caps,
            limit,
            scale,
            None if offset is None else offset[i],
        )
        out.append(format_choices(snap, slots, scores, limit))
    return out
