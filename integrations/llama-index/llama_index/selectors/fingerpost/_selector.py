"""SemanticRouterSelector: a LlamaIndex ``BaseSelector`` that picks choices with fingerpost.

A call: plan (pure: choice -> route) -> make sure described routes exist (encodes only new
descriptions, once) -> score the query with the router(s) -> selections (pure). ``aselect``
goes through ``SemanticRouter.acall`` (choices split between the user's router and described
routes share one ``encoder.acall`` instead), so encoding never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llama_index.core.base.base_selector import BaseSelector, SelectorResult
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata

from fingerpost import InvalidInputError, Route, RouteChoice, SemanticRouter
from fingerpost.encoders import DenseEncoder

from ._selection import (
    ChoiceNameWarning,
    ChoicePlan,
    case_warnings,
    check_examples,
    described_route,
    plan_choices,
    to_selections,
)

__all__ = ["SemanticRouterSelector"]


class SemanticRouterSelector(BaseSelector):
    """Selects query engines, retrievers or tools by local embedding similarity: no LLM call.

    A choice whose ``ToolMetadata.name`` is a route of ``router`` is scored by that route; a
    name equal to exactly one route only ignoring case (``"IT"`` and ``it``) is too, with a
    :class:`ChoiceNameWarning` (once per selector and name). Any other choice gets a route of
    its own, built from its description plus ``examples[name]``
    and kept in a private router that shares ``router``'s encoder: each (name, description)
    is embedded once, not on every query.

    Args:
        router: Routes matched to choices by name. Default: an empty router over ``encoder``,
            so every choice is described.
        default: Name of the choice to select when no route passes its threshold.
        default_index: Index of that choice instead (for choices without names).
        top_k: Most selections per query, best first (RouterQueryEngine and RouterRetriever
            query each one and combine the results).
        examples: Example utterances per choice name, added to described routes.
        encoder: The encoder for the default router (only when ``router`` is not given);
            default ``OnnxEncoder()``.
        score_threshold: Threshold for described routes; default ``router.score_threshold``.
            Descriptions read less like queries than utterances do, so a lower value often
            suits description-only choices.

    Raises:
        InvalidInputError: Bad arguments (also later, on a ``default`` that names no choice).
        NoSelectionError: At select time, when nothing passes and there is no default.
    """

    def __init__(
        self,
        router: SemanticRouter | None = None,
        *,
        default: str | None = None,
        default_index: int | None = None,
        top_k: int = 1,
        examples: Mapping[str, Iterable[str]] | None = None,
        encoder: DenseEncoder | None = None,
        score_threshold: float | None = None,
    ) -> None:
        if router is not None and not isinstance(router, SemanticRouter):
            raise InvalidInputError("router must be a fingerpost.SemanticRouter")
        if router is not None and encoder is not None:
            raise InvalidInputError("pass router or encoder, not both (the router has one)")
        if default is not None and default_index is not None:
            raise InvalidInputError("pass default or default_index, not both")
        if default is not None and not isinstance(default, str):
            raise InvalidInputError(f"default must be a choice name (str), got {default!r}")
        if default_index is not None and (
            not isinstance(default_index, int)
            or isinstance(default_index, bool)
            or default_index < 0
        ):
            raise InvalidInputError(f"default_index must be an int >= 0, got {default_index!r}")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise InvalidInputError(f"top_k must be a positive int, got {top_k!r}")
        if score_threshold is not None and not (
            isinstance(score_threshold, (int, float)) and -1.0 <= score_threshold <= 1.0
        ):
            raise InvalidInputError(
                f"score_threshold must be within [-1, 1], got {score_threshold!r}"
            )
        self.router = router if router is not None else SemanticRouter(encoder=encoder)
        self.default = default
        self.default_index = default_index
        self.top_k = top_k
        self.examples = check_examples(examples)
        self.score_threshold = score_threshold
        self._described: SemanticRouter | None = None
        self._described_texts: dict[str, str] = {}  # route name -> description it was built from
        self._warned: set[tuple[str, ...]] = set()  # case warnings already given
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"SemanticRouterSelector(router={self.router!r}, default={self.default!r}, "
            f"default_index={self.default_index!r}, top_k={self.top_k})"
        )

    # ---- PromptMixin: a selector without prompts ---------------------------------------------
    def _get_prompts(self) -> dict[str, Any]:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """No prompts to update: fingerpost never asks an LLM."""

    # ---- selection ---------------------------------------------------------------------------
    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        plan = self._plan(choices)
        if self._stale(choices, plan):
            self._describe(choices, plan)
        text = query.query_str
        routed: list[RouteChoice] = []
        described: list[RouteChoice] = []
        if plan.routed and plan.described:  # one encoder call serves both routers
            vector = self.router.encoder([text])[0]
            routed = self.router(vector=vector, limit=None, route_filter=list(plan.routed))
            described = self._own()(vector=vector, limit=None, route_filter=list(plan.described))
        elif plan.routed:
            routed = self.router(text, limit=None, route_filter=list(plan.routed))
        else:
            described = self._own()(text, limit=None, route_filter=list(plan.described))
        return to_selections(choices, plan, routed, described, self.top_k)

    async def _aselect(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        plan = self._plan(choices)
        if self._stale(choices, plan):
            await asyncio.to_thread(self._describe, choices, plan)
        text = query.query_str
        routed: list[RouteChoice] = []
        described: list[RouteChoice] = []
        if plan.routed and plan.described:
            vector = (await self.router.encoder.acall([text]))[0]
            routed = self.router(vector=vector, limit=None, route_filter=list(plan.routed))
            described = self._own()(vector=vector, limit=None, route_filter=list(plan.described))
        elif plan.routed:
            routed = await self.router.acall(text, limit=None, route_filter=list(plan.routed))
        else:
            described = await self._own().acall(text, limit=None, route_filter=list(plan.described))
        return to_selections(choices, plan, routed, described, self.top_k)

    # ---- shared, no I/O unless something new must be embedded --------------------------------
    def _plan(self, choices: Sequence[ToolMetadata]) -> ChoicePlan:
        plan = plan_choices(
            choices,
            lambda name: self.router.get(name) is not None,
            route_names=self.router.list_route_names,
            default=self.default,
            default_index=self.default_index,
        )
        for key, message in case_warnings(plan).items():
            if key not in self._warned:
                self._warned.add(key)
                warnings.warn(message, ChoiceNameWarning, stacklevel=4)
        return plan

    def _stale(self, choices: Sequence[ToolMetadata], plan: ChoicePlan) -> bool:
        """Whether a described route is missing or was built from another description."""
        return any(
            self._described_texts.get(name) != choices[i].description
            for name, i in plan.described.items()
        )

    def _describe(self, choices: Sequence[ToolMetadata], plan: ChoicePlan) -> None:
        """Build or rebuild the described routes this call needs (one encoder call for new)."""
        with self._lock:
            own = self._own()
            new: list[Route] = []
            changed: list[Route] = []
            for name, i in plan.described.items():
                choice = choices[i]
                built = self._described_texts.get(name)
                if built == choice.description:
                    continue
                examples = self.examples.get(choice.name, ()) if choice.name is not None else ()
                route = described_route(choice, examples)
                (new if built is None else changed).append(route)
            own.add(new)
            for route in changed:
                own.update(route.name, utterances=route.utterances, description=route.description)
            for name, i in plan.described.items():
                self._described_texts[name] = choices[i].description

    def _own(self) -> SemanticRouter:
        """The private router of described routes, made on first use with ``router``'s settings."""
        if self._described is None:
            config = self.router.to_config()
            threshold = self.score_threshold
            self._described = SemanticRouter(
                encoder=self.router.encoder,
                top_k=config.top_k,
                aggregation=config.aggregation,
                score_threshold=config.score_threshold if threshold is None else threshold,
                centroid_weight=config.centroid_weight,
                blas_threads=None,
            )
        return self._described
