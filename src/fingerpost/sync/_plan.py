"""The six sync modes as pure functions: contents in, a plan (data) out. No I/O.

A plan says what both sides must hold afterwards (``result``) and the smallest set of writes
that gets each side there. Applying it is ``_apply``'s job; applying the plan recomputed
from the new state after a partial failure finishes the job (plans are idempotent).

Mode semantics (``sync-strategies-v2``):

* ``error``: differing sides raise ``SyncConflictError``.
* ``remote`` / ``local``: that side is the truth.
* ``merge-force-local``: routes of local only; a route that also exists remotely (whatever
  its utterances) gains the remote utterances; local route fields win.
* ``merge-force-remote``: the mirror image.
* ``merge``: every route of both sides, utterances united, local route fields win.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from .._exceptions import InvalidInputError, SyncConflictError
from ..schema import Route, RouterConfig, Utterance, UtteranceDiff
from ._hash import content_key

__all__ = ["SYNC_MODES", "SyncMode", "SyncPlan", "group_routes", "plan_sync", "same_route"]

SyncMode = Literal["error", "remote", "local", "merge-force-local", "merge-force-remote", "merge"]
SYNC_MODES: tuple[str, ...] = get_args(SyncMode)


@dataclass(frozen=True)
class SyncPlan:
    """Writes that make local and remote equal to ``result``."""

    mode: str
    result: tuple[Route, ...]
    remote_upsert: tuple[Utterance, ...] = ()
    remote_delete: tuple[tuple[str, str], ...] = ()
    local_upsert: tuple[Route, ...] = ()
    local_delete: tuple[str, ...] = ()
    touched: tuple[str, ...] = field(default=())

    @property
    def is_noop(self) -> bool:
        return not (
            self.remote_upsert or self.remote_delete or self.local_upsert or self.local_delete
        )


def check_mode(mode: str) -> SyncMode:
    if mode not in SYNC_MODES:
        raise InvalidInputError(f"sync_mode must be one of {', '.join(SYNC_MODES)}; got {mode!r}")
    return mode  # type: ignore[return-value]


def group_routes(utterances: Iterable[Utterance]) -> list[Route]:
    """Remote points -> routes. Route fields come from the most common value among the
    route's points (a half-propagated change still yields one route); order: by name."""
    by: dict[str, list[Utterance]] = {}
    for u in utterances:
        by.setdefault(u.route, []).append(u)
    routes = []
    for name in sorted(by):
        pts = sorted(by[name], key=lambda u: u.utterance)
        fields = Counter(_fields_key(u) for u in pts).most_common(1)[0][0]
        rep = next(u for u in pts if _fields_key(u) == fields)
        routes.append(
            Route(
                name=name,
                utterances=[u.utterance for u in pts],
                description=rep.description,
                function_schemas=rep.function_schemas,
                score_threshold=rep.score_threshold,
                target_fpr=rep.target_fpr,
                metadata=rep.metadata,
            )
        )
    return routes


def _fields_key(u: Utterance) -> str:
    return content_key(u.model_copy(update={"utterance": ""}))


def _merge(priority: Route, other: Route | None) -> Route:
    if other is None:
        return priority
    extra = [u for u in other.utterances if u not in set(priority.utterances)]
    if not extra:
        return priority
    return priority.model_copy(update={"utterances": [*priority.utterances, *extra]})


def same_route(a: Route, b: Route) -> bool:
    """Equal as contents: utterance order does not matter."""
    return set(a.utterances) == set(b.utterances) and a.model_dump(
        exclude={"utterances"}
    ) == b.model_dump(exclude={"utterances"})


def plan_sync(
    mode: str, local: Sequence[Route], remote_utterances: Sequence[Utterance]
) -> SyncPlan:
    """Plan a sync between the local routes and the remote's utterance points."""
    mode = check_mode(mode)
    remote = group_routes(remote_utterances)
    L = {r.name: r for r in local}
    R = {r.name: r for r in remote}
    if mode == "error":
        local_utts = RouterConfig(routes=list(local)).to_utterances()
        diff = UtteranceDiff.from_utterances(
            local_utterances=local_utts, remote_utterances=remote_utterances
        )
        changes = diff.to_utterance_str()
        if changes:
            shown = "\n  ".join(changes[:10]) + ("\n  ..." if len(changes) > 10 else "")
            raise SyncConflictError(
                f"local and remote differ ({len(changes)} lines; sync_mode='error'):\n  {shown}"
            )
        return SyncPlan(mode=mode, result=tuple(local))
    if mode == "local":
        result = list(local)
    elif mode == "remote":
        result = list(remote)
    elif mode == "merge-force-local":
        result = [_merge(r, R.get(n)) for n, r in L.items()]
    elif mode == "merge-force-remote":
        result = [_merge(r, L.get(n)) for n, r in R.items()]
    else:  # merge
        result = [_merge(r, R.get(n)) for n, r in L.items()]
        result += [r for n, r in R.items() if n not in L]
    return _writes(mode, result, L, remote_utterances)


def _writes(
    mode: str, result: list[Route], local: dict[str, Route], remote_utterances: Sequence[Utterance]
) -> SyncPlan:
    desired = RouterConfig(routes=result).to_utterances()
    have = {u.key: content_key(u) for u in remote_utterances}
    want_keys = {u.key for u in desired}
    remote_upsert = tuple(u for u in desired if have.get(u.key) != content_key(u))
    remote_delete = tuple(sorted(k for k in have if k not in want_keys))
    res = {r.name: r for r in result}
    local_upsert = tuple(
        r for r in result if r.name not in local or not same_route(local[r.name], r)
    )
    local_delete = tuple(n for n in local if n not in res)
    touched = sorted(
        {u.route for u in remote_upsert}
        | {k[0] for k in remote_delete}
        | {r.name for r in local_upsert}
        | set(local_delete)
    )
    return SyncPlan(
        mode=mode,
        result=tuple(result),
        remote_upsert=remote_upsert,
        remote_delete=remote_delete,
        local_upsert=local_upsert,
        local_delete=local_delete,
        touched=tuple(touched),
    )
