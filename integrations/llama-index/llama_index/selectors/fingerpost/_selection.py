"""Pure selection logic: LlamaIndex choices -> fingerpost routes -> LlamaIndex selections.

Nothing here encodes, locks or awaits: the selector feeds it route choices and gets back
selections, so every rule (which choice maps to which route, ranking, the default fallback)
is tested without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from llama_index.core.base.base_selector import SelectorResult, SingleSelection
from llama_index.core.tools.types import ToolMetadata

from fingerpost import FingerpostError, InvalidInputError, Route, RouteChoice

__all__ = [
    "UNNAMED_PREFIX",
    "ChoiceNameWarning",
    "ChoicePlan",
    "FingerpostSelection",
    "NoSelectionError",
    "case_warnings",
    "check_examples",
    "described_name",
    "described_route",
    "plan_choices",
    "to_selections",
]

# Route name given to a choice without a name (plain-string choices): its description.
UNNAMED_PREFIX = "description: "
_LABEL_CHARS = 60


class NoSelectionError(FingerpostError, ValueError):
    """No route passed its threshold and the selector has no default choice to fall back to.

    Also a ``ValueError``, the type LlamaIndex's routers use for "Failed to select".
    """


class ChoiceNameWarning(UserWarning):
    """A choice's name equals a route's name only ignoring case.

    Route names are case-sensitive, so this is worth knowing either way: the choice is scored
    by that route (one such route), or by its description (several, e.g. ``It`` and ``it``).
    """


class FingerpostSelection(SingleSelection):
    """A ``SingleSelection`` that also carries the route, its score and whether it fell back.

    LlamaIndex reads only ``index`` and ``reason``; the extra fields are for callers that want
    the numbers (``response.metadata["selector_result"].selections[0].score``).
    """

    route: str | None = None
    score: float | None = None
    fallback: bool = False


@dataclass(frozen=True)
class ChoicePlan:
    """How one call's choices map to routes.

    Attributes:
        routed: Route name in the user's router -> choice index (matched by ``ToolMetadata.name``).
        described: Route name in the selector's own router (built from the choice's
            description and examples) -> choice index.
        default: The choice to fall back to when no route passes, or ``None``.
        case_matched: Choice name -> the route of the user's router it was matched to
            ignoring case (it is in ``routed`` under the route's name).
        case_ambiguous: Choice name -> the routes it matches ignoring case, when there are
            several (it is described instead).
    """

    routed: dict[str, int]
    described: dict[str, int]
    default: int | None
    case_matched: dict[str, str] = field(default_factory=dict)
    case_ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)


def choice_label(choice: ToolMetadata) -> str:
    """A short human name for a choice: its name, else the start of its description."""
    if choice.name is not None:
        return choice.name
    text = " ".join(choice.description.split())
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 3] + "..."


def described_name(choice: ToolMetadata) -> str:
    """Name of the route built for a choice the user's router does not know."""
    return choice.name if choice.name is not None else UNNAMED_PREFIX + choice.description


def described_route(choice: ToolMetadata, examples: Sequence[str] = ()) -> Route:
    """One route for a choice: its description plus any example utterances."""
    description = choice.description or ""
    utterances = [description] if description.strip() else []
    utterances.extend(examples)
    if not utterances:
        raise InvalidInputError(
            f"choice {choice_label(choice)!r} has no route, no description and no examples"
        )
    return Route(name=described_name(choice), utterances=utterances, description=description)


def check_examples(examples: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    """Validate ``examples={"choice name": [...]}`` into an immutable copy."""
    if examples is None:
        return {}
    if not isinstance(examples, Mapping):
        raise InvalidInputError("examples must map choice names to lists of utterances")
    out: dict[str, tuple[str, ...]] = {}
    for name, texts in examples.items():
        if not isinstance(name, str) or isinstance(texts, str):
            raise InvalidInputError(
                f"examples must map choice names to lists of utterances; got {name!r}: {texts!r}"
            )
        items = tuple(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError(f"example {i} of {name!r} must be a non-blank str")
        out[name] = items
    return out


def _default_index(
    choices: Sequence[ToolMetadata], default: str | None, default_index: int | None
) -> int | None:
    if default is not None:
        for i, choice in enumerate(choices):
            if choice.name == default:
                return i
        names = [c.name for c in choices]
        raise InvalidInputError(f"default {default!r} names none of the choices {names}")
    if default_index is not None and not 0 <= default_index < len(choices):
        raise InvalidInputError(
            f"default_index {default_index} is out of range for {len(choices)} choices"
        )
    return default_index


def plan_choices(
    choices: Sequence[ToolMetadata],
    is_route: Callable[[str], bool],
    *,
    route_names: Callable[[], Iterable[str]] = tuple,
    default: str | None = None,
    default_index: int | None = None,
) -> ChoicePlan:
    """Map each choice to a route of the user's router (by name) or to a described route.

    A name that matches no route exactly but exactly one route ignoring case (``"IT"`` and
    ``it``) is matched to that route: the user passed a router to be used. The plan records it
    so the selector can say so.

    Args:
        choices: The selector's choices, in LlamaIndex order (selections index into it).
        is_route: Whether the user's router has a route of that name.
        route_names: The router's route names; only read when a name matches none exactly.
        default: Name of the fallback choice.
        default_index: Index of the fallback choice (when ``default`` is not given).
    """
    if not choices:
        raise InvalidInputError("a selector needs at least one choice")
    routed: dict[str, int] = {}
    described: dict[str, int] = {}
    case_matched: dict[str, str] = {}
    case_ambiguous: dict[str, tuple[str, ...]] = {}
    folded: dict[str, list[str]] | None = None
    for i, choice in enumerate(choices):
        target, key = described, described_name(choice)
        if choice.name is not None and is_route(choice.name):
            target, key = routed, choice.name
        elif choice.name is not None:
            if folded is None:
                folded = {}
                for name in route_names():
                    folded.setdefault(name.casefold(), []).append(name)
            alike = folded.get(choice.name.casefold(), [])
            if len(alike) == 1:
                target, key = routed, alike[0]
                case_matched[choice.name] = alike[0]
            elif alike:
                case_ambiguous[choice.name] = tuple(sorted(alike))
        if key in target:
            raise InvalidInputError(f"two choices map to the same route {key!r}")
        target[key] = i
    return ChoicePlan(
        routed,
        described,
        _default_index(choices, default, default_index),
        case_matched,
        case_ambiguous,
    )


def case_warnings(plan: ChoicePlan) -> dict[tuple[str, ...], str]:
    """One message per choice whose name matches routes only ignoring case, keyed for dedup."""
    out: dict[tuple[str, ...], str] = {
        (choice, route): (
            f"choice {choice!r} has no route of that name; it is scored by the router's route "
            f"{route!r}, matched ignoring case (name them alike to silence this)"
        )
        for choice, route in plan.case_matched.items()
    }
    out.update(
        {
            (choice, *routes): (
                f"choice {choice!r} matches the router's routes {list(routes)} only ignoring "
                "case, so it is scored by its description, not by the router (rename the "
                "choice to one of them)"
            )
            for choice, routes in plan.case_ambiguous.items()
        }
    )
    return out


def to_selections(
    choices: Sequence[ToolMetadata],
    plan: ChoicePlan,
    routed: Sequence[RouteChoice],
    described: Sequence[RouteChoice],
    top_k: int,
) -> SelectorResult:
    """Turn passing route choices into at most ``top_k`` selections, best first.

    Never returns zero selections: with nothing passing it falls back to ``plan.default``,
    or raises :class:`NoSelectionError` when there is none.
    """
    scored = [
        (c.similarity_score, plan.routed[c.name], c.name)
        for c in routed
        if c.name is not None and c.similarity_score is not None and c.name in plan.routed
    ]
    scored.extend(
        (c.similarity_score, plan.described[c.name], c.name)
        for c in described
        if c.name is not None and c.similarity_score is not None and c.name in plan.described
    )
    scored.sort(key=lambda item: (-item[0], item[1]))
    selections: list[SingleSelection] = [
        FingerpostSelection(
            index=index,
            reason=f"fingerpost route {choice_label(choices[index])!r} scored {score:.3f}",
            route=name,
            score=score,
        )
        for score, index, name in scored[:top_k]
    ]
    if selections:
        return SelectorResult(selections=selections)
    if plan.default is None:
        raise NoSelectionError(
            "no fingerpost route passed its threshold for this query and the selector has no "
            "default; pass default='<choice name>' or default_index=<int>"
        )
    label = choice_label(choices[plan.default])
    return SelectorResult(
        selections=[
            FingerpostSelection(
                index=plan.default,
                reason=f"no fingerpost route passed its threshold; fell back to default {label!r}",
                fallback=True,
            )
        ]
    )
