"""RouteBranch: send each turn to the runnable of its route, or to a default runnable.

Tracing: the branch opens one run; under it the routing step (tag ``fingerpost:router``) and
the chosen runnable (tag ``route:<name>``, or ``fingerpost:default`` when nothing matched),
whose config metadata carries ``route`` and ``route_score``. A batch routes every input with
ONE router call and calls each target's ``batch`` once with its group, keeping input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import partial
from typing import Any

from fingerpost import RouteChoice, RouteNotFoundError, SemanticRouter
from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.base import coerce_to_runnable
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    patch_config,
)
from pydantic import ConfigDict

from ._runnable import LC_NAMESPACE, SemanticRouterRunnable

__all__ = ["DEFAULT_TAG", "ROUTER_TAG", "RouteBranch", "route_tag"]

ROUTER_TAG = "fingerpost:router"
"""Tag of the routing step's run inside a branch."""
DEFAULT_TAG = "fingerpost:default"
"""Tag of the default runnable's run when no route matched."""

RunManager = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun


def route_tag(choice: RouteChoice) -> str:
    """``route:<name>`` for a matched turn, ``fingerpost:default`` otherwise."""
    return DEFAULT_TAG if choice.name is None else f"route:{choice.name}"


def _route_names(router: Runnable[Any, Any]) -> list[str] | None:
    """Route names known to ``router`` (also through ``configurable_fields``), if readable."""
    inner = getattr(router, "default", router)
    if isinstance(inner, SemanticRouterRunnable):
        return inner.router.list_route_names()
    return None


class _Accumulator:
    """Adds up streamed chunks for the run's output, giving up on chunks that cannot add."""

    def __init__(self) -> None:
        self.value: Any = None
        self._ok = True

    def add(self, chunk: Any) -> None:
        if not self._ok:
            return
        if self.value is None:
            self.value = chunk
            return
        try:
            self.value = self.value + chunk
        except TypeError:
            self.value, self._ok = None, False


class RouteBranch(RunnableSerializable[Any, Any]):
    """Dispatch each input to ``routes[choice.name]``; ``default`` when nothing (mapped) matched.

    Serialisable with ``dumpd``/``loads`` when its router and targets are (LangChain's rule
    for any composed runnable); see :class:`SemanticRouterRunnable` for the router.

    Args:
        router: A :class:`SemanticRouterRunnable`, a ``SemanticRouter`` (wrapped), or any
            runnable returning a ``RouteChoice`` (e.g. a ``configurable_fields`` wrapper).
            Positional or keyword, like ``routes`` and ``default``.
        routes: Route name -> runnable (or anything ``coerce_to_runnable`` accepts). Names must
            be routes of the router.
        default: Runnable for turns that matched no route or a route not in ``routes``.
        pass_choice: Targets receive ``{"input": input, "choice": RouteChoice}`` instead of the
            input (e.g. to read a dynamic route's ``function_call``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Runnable[Any, RouteChoice]
    routes: dict[str, Runnable[Any, Any]]
    default: Runnable[Any, Any]
    pass_choice: bool = False

    def __init__(
        self,
        router: Runnable[Any, RouteChoice] | SemanticRouter,
        routes: Mapping[str, Any],
        default: Any,
        **kwargs: Any,
    ) -> None:
        if isinstance(router, SemanticRouter):
            router = SemanticRouterRunnable(router)
        known = _route_names(router)
        unknown = sorted(set(routes) - set(known)) if known is not None else []
        if unknown:
            raise RouteNotFoundError(f"routes name no route of the router: {unknown}")
        fields: dict[str, Any] = {
            "router": router,
            "routes": {name: coerce_to_runnable(r) for name, r in routes.items()},
            "default": coerce_to_runnable(default),
        }
        super().__init__(**fields, **kwargs)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return list(LC_NAMESPACE)

    # ---- decisions (no I/O) -----------------------------------------------------------------
    def _target(self, choice: RouteChoice) -> Runnable[Any, Any]:
        if choice.name is not None and choice.name in self.routes:
            return self.routes[choice.name]
        return self.default

    def _target_input(self, input: Any, choice: RouteChoice) -> Any:
        return {"input": input, "choice": choice} if self.pass_choice else input

    @staticmethod
    def _router_config(config: RunnableConfig, run_manager: RunManager) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(ROUTER_TAG))

    @staticmethod
    def _target_config(
        config: RunnableConfig, run_manager: RunManager, choice: RouteChoice
    ) -> RunnableConfig:
        child = patch_config(config, callbacks=run_manager.get_child(route_tag(choice)))
        child["metadata"] = {
            **child.get("metadata", {}),
            "route": choice.name,
            "route_score": choice.similarity_score,
        }
        return child

    def _groups(
        self, choices: list[RouteChoice | Exception]
    ) -> list[tuple[Runnable[Any, Any], list[int]]]:
        """(target, input indices) per target, each target once, indices in input order."""
        groups: dict[int, tuple[Runnable[Any, Any], list[int]]] = {}
        for i, choice in enumerate(choices):
            if isinstance(choice, RouteChoice):
                target = self._target(choice)
                groups.setdefault(id(target), (target, []))[1].append(i)
        return list(groups.values())

    # ---- sync -------------------------------------------------------------------------------
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    def _invoke(
        self,
        input: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        choice = self.router.invoke(input, self._router_config(config, run_manager))
        return self._target(choice).invoke(
            self._target_input(input, choice),
            self._target_config(config, run_manager, choice),
            **kwargs,
        )

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Any]:
        """Route all inputs at once, then call each target's ``batch`` once with its group."""
        return self._batch_with_config(
            partial(self._batch, return_exceptions=return_exceptions),
            inputs,
            config,
            return_exceptions=return_exceptions,
            **kwargs,
        )

    def _batch(
        self,
        inputs: list[Any],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        choices: list[Any] = self.router.batch(
            inputs,
            [self._router_config(c, rm) for c, rm in zip(config, run_manager, strict=True)],
            return_exceptions=return_exceptions,
        )
        out: list[Any] = list(choices)  # routing errors stay in place
        for target, idx in self._groups(choices):
            results = target.batch(
                [self._target_input(inputs[i], choices[i]) for i in idx],
                [self._target_config(config[i], run_manager[i], choices[i]) for i in idx],
                return_exceptions=return_exceptions,
                **kwargs,
            )
            for i, result in zip(idx, results, strict=True):
                out[i] = result
        return out

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Route, then stream the chosen runnable's chunks."""
        config = ensure_config(config)
        run_manager = get_callback_manager_for_config(config).on_chain_start(
            None,
            input,
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )
        final = _Accumulator()
        try:
            choice = self.router.invoke(input, self._router_config(config, run_manager))
            for chunk in self._target(choice).stream(
                self._target_input(input, choice),
                self._target_config(config, run_manager, choice),
                **kwargs,
            ):
                yield chunk
                final.add(chunk)
        except BaseException as exc:
            run_manager.on_chain_error(exc)
            raise
        run_manager.on_chain_end(final.value)

    # ---- async ------------------------------------------------------------------------------
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    async def _ainvoke(
        self,
        input: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        choice = await self.router.ainvoke(input, self._router_config(config, run_manager))
        return await self._target(choice).ainvoke(
            self._target_input(input, choice),
            self._target_config(config, run_manager, choice),
            **kwargs,
        )

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Any]:
        """Async twin of :meth:`batch`; the targets' batches run concurrently."""
        return await self._abatch_with_config(
            partial(self._abatch, return_exceptions=return_exceptions),
            inputs,
            config,
            return_exceptions=return_exceptions,
            **kwargs,
        )

    async def _abatch(
        self,
        inputs: list[Any],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        choices: list[Any] = await self.router.abatch(
            inputs,
            [self._router_config(c, rm) for c, rm in zip(config, run_manager, strict=True)],
            return_exceptions=return_exceptions,
        )
        groups = self._groups(choices)
        # Every group finishes (no orphaned tasks) before a group's failure is raised.
        results = await asyncio.gather(
            *(
                target.abatch(
                    [self._target_input(inputs[i], choices[i]) for i in idx],
                    [self._target_config(config[i], run_manager[i], choices[i]) for i in idx],
                    return_exceptions=return_exceptions,
                    **kwargs,
                )
                for target, idx in groups
            ),
            return_exceptions=True,
        )
        out: list[Any] = list(choices)
        for (_, idx), group in zip(groups, results, strict=True):
            if isinstance(group, BaseException):
                raise group
            for i, result in zip(idx, group, strict=True):
                out[i] = result
        return out

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Route, then stream the chosen runnable's chunks."""
        config = ensure_config(config)
        run_manager = await get_async_callback_manager_for_config(config).on_chain_start(
            None,
            input,
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )
        final = _Accumulator()
        try:
            choice = await self.router.ainvoke(input, self._router_config(config, run_manager))
            async for chunk in self._target(choice).astream(
                self._target_input(input, choice),
                self._target_config(config, run_manager, choice),
                **kwargs,
            ):
                yield chunk
                final.add(chunk)
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise
        await run_manager.on_chain_end(final.value)
