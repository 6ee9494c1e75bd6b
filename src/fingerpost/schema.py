"""Declarative data: routes, choices, utterances, diffs and router configs (pydantic v2).

Validation failures raise :class:`~fingerpost.InvalidInputError` (a ``FingerpostError`` and a
``ValueError``) with pydantic's message, so one ``except FingerpostError`` covers bad input.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.composer import ComposerError

from ._content import content_key
from ._defaults import (
    DEFAULT_AGGREGATION,
    DEFAULT_CENTROID_WEIGHT,
    DEFAULT_TARGET_FPR,
    DEFAULT_TOP_K,
)
from ._exceptions import InvalidInputError
from ._sr_config import is_semantic_router_config, map_semantic_router_config, warn_ignored

__all__ = [
    "Aggregation",
    "CalibrationState",
    "FitState",
    "Route",
    "RouteChoice",
    "RouterConfig",
    "ThresholdReport",
    "Utterance",
    "UtteranceDiff",
]

JSONDict = dict[str, Any]

# Bounds on the free-form JSON a route carries (metadata, function schemas). They keep a
# hostile config from costing unbounded time or memory, and keep every check below (and
# json.dumps) far from Python's recursion limit. Real function schemas nest < 10 deep.
MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 1 << 20
# Nesting allowed in a YAML config document itself (routes > route > metadata > ...).
MAX_YAML_DEPTH = MAX_JSON_DEPTH + 8


def check_unicode(text: str, what: str) -> str:
    """``text``, or ``ValueError`` if it cannot be written as UTF-8 (lone surrogates).

    Tokenizers, SQLite and JSON all need UTF-8: refusing such text at the door keeps one bad
    string from failing a whole encoder batch or a store write later.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid unicode (lone surrogate at {exc.start})") from None
    return text


def _check_json(value: Any, what: str) -> Any:
    """``value`` if it is JSON data within the depth and size bounds, else ``ValueError``.

    Walks iteratively (no recursion, so no ``RecursionError``) before ``json.dumps`` runs.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for k in item:
                    if isinstance(k, str):
                        check_unicode(k, f"a key in {what}")
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            check_unicode(item, f"a string in {what}")
    try:
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{what} is {size} bytes as JSON; at most {MAX_JSON_BYTES} are allowed")
    return value


def _not_bool(v: Any, what: str) -> Any:
    """Pydantic would read ``True`` as 1.0: a bool where a number belongs is a mistake."""
    if isinstance(v, bool):
        raise ValueError(f"{what} must be a number, not a bool")
    return v


class _Model(BaseModel):
    """Base model: pydantic errors surface as ``InvalidInputError``."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", validate_assignment=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid {type(self).__name__}: {exc}") from exc

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid {type(self).__name__}.{name}: {exc}") from exc

    # pydantic's other constructors bypass __init__: each maps its errors the same way, so
    # ``Route.model_validate(...)`` fails with InvalidInputError like ``Route(...)``.
    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid {cls.__name__}: {exc}") from exc

    @classmethod
    def model_validate_json(
        cls, json_data: str | bytes | bytearray, *args: Any, **kwargs: Any
    ) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid {cls.__name__} JSON: {exc}") from exc

    @classmethod
    def model_validate_strings(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_strings(obj, *args, **kwargs)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid {cls.__name__}: {exc}") from exc


class Aggregation(str, Enum):  # noqa: UP042 - StrEnum would change str(Aggregation.MAX)
    """How a route's nearest utterance similarities become one route score.

    ``max``: the best single match. ``mean``: the mean of the route's ``top_k`` best matches.
    ``sum``: the sum of the route's ``top_k`` best matches divided by ``top_k`` (a mean that
    counts missing neighbours as zero, so routes with fewer than ``top_k`` utterances score
    lower); dividing keeps every aggregation on the cosine scale, so one threshold fits all.
    """

    MAX = "max"
    MEAN = "mean"
    SUM = "sum"


class Route(_Model):
    """A named destination with example utterances.

    Attributes:
        name: Unique route name (any non-blank string: spaces, quotes, unicode are fine).
        utterances: Example turns; at least one, none blank. Duplicates are dropped in order.
        description: Free text, e.g. for a tool or a query engine.
        function_schemas: OpenAI-style function schemas for dynamic routes.
        score_threshold: Per-route threshold on the route score, -1..1 (cosine scale; after
            a fit, the fitted score's: similarity + a * log p);
            ``None``: the route's calibrated threshold (or the router's fixed one).
        target_fpr: Share of ordinary turns this route may catch when its threshold is
            calibrated (``None``: the router's ``target_fpr``). Kept by local stores,
            configs and remote indexes (every agent calibrates the route alike).
        metadata: JSON-serialisable data returned with every choice of this route.
    """

    name: str
    utterances: list[str]
    description: str | None = None
    function_schemas: list[JSONDict] | None = None
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    metadata: JSONDict = Field(default_factory=dict)
    target_fpr: float | None = Field(default=None, gt=0.0, le=0.5)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("route name must not be blank")
        return check_unicode(v, "route name")

    @field_validator("utterances", mode="before")
    @classmethod
    def _utterances_list(cls, v: Any) -> Any:
        if isinstance(v, str):  # list("hey") would be ['h', 'e', 'y']
            raise ValueError("utterances must be a list of strings, not one string")
        return v

    @field_validator("utterances")
    @classmethod
    def _utterances(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("a route needs at least one utterance")
        for i, u in enumerate(v):
            if not u.strip():
                raise ValueError(f"utterance {i} is blank")
            check_unicode(u, f"utterance {i}")
        return list(dict.fromkeys(v))

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | None) -> str | None:
        return None if v is None else check_unicode(v, "description")

    @field_validator("score_threshold", mode="before")
    @classmethod
    def _threshold_type(cls, v: Any) -> Any:
        return _not_bool(v, "score_threshold")

    @field_validator("score_threshold")
    @classmethod
    def _threshold(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("score_threshold must be finite")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: JSONDict) -> JSONDict:
        return _check_json(v, "metadata")  # type: ignore[no-any-return]

    @field_validator("function_schemas")
    @classmethod
    def _schemas(cls, v: list[JSONDict] | None) -> list[JSONDict] | None:
        return _check_json(v, "function_schemas")  # type: ignore[no-any-return]


def copy_route(route: Route) -> Route:
    """A private copy of ``route``: nothing mutable is shared with the original.

    Much cheaper than ``model_copy(deep=True)`` (the utterances are immutable strings: a new
    list is enough); only the free-form JSON is deep-copied.
    """
    return route.model_copy(
        update={
            "utterances": list(route.utterances),
            "metadata": copy.deepcopy(route.metadata) if route.metadata else {},
            "function_schemas": copy.deepcopy(route.function_schemas),
        }
    )


class RouteChoice(_Model):
    """Where a turn goes. ``name is None`` means no route passed its threshold."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    similarity_score: float | None = None
    function_call: list[JSONDict] | None = None
    metadata: JSONDict | None = None

    def __bool__(self) -> bool:
        return self.name is not None


class Utterance(_Model):
    """One (route, utterance) pair with the route-level fields, as stored in an index.

    ``diff_tag`` is set by :class:`UtteranceDiff`: ``"+"`` remote only, ``"-"`` local only,
    ``" "`` both.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", frozen=True)

    route: str
    utterance: str
    function_schemas: list[JSONDict] | None = None
    metadata: JSONDict = Field(default_factory=dict)
    description: str | None = None
    score_threshold: float | None = None
    target_fpr: float | None = None
    diff_tag: Literal["+", "-", " "] = " "

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the utterance: route name and text."""
        return (self.route, self.utterance)

    def to_str(self, include_metadata: bool = False) -> str:
        """``"route: utterance"``, optionally with the metadata appended."""
        base = f"{self.route}: {self.utterance}"
        return f"{base} | {json.dumps(self.metadata, sort_keys=True)}" if include_metadata else base

    def to_diff_str(self) -> str:
        """``"+ route: utterance"`` (remote only), ``"- route: utterance"`` (local only)."""
        return f"{self.diff_tag} {self.to_str()}"


class UtteranceDiff(_Model):
    """The utterance-level difference between local and remote contents."""

    diff: list[Utterance] = Field(default_factory=list)

    @classmethod
    def from_utterances(
        cls, local_utterances: Iterable[Utterance], remote_utterances: Iterable[Utterance]
    ) -> UtteranceDiff:
        """Tag every utterance: ``"-"`` local only, ``"+"`` remote only, ``" "`` both.

        Identity covers the route-level fields too (description, function schemas, metadata,
        threshold): an utterance whose fields differ appears twice, ``"-"`` with the local
        fields and ``"+"`` with the remote ones. So the diff is empty of changes exactly when
        the content hashes are equal.
        """
        local = {content_key(u): u for u in local_utterances}
        remote = {content_key(u): u for u in remote_utterances}
        out = [
            u.model_copy(update={"diff_tag": "-" if k not in remote else " "})
            for k, u in local.items()
        ]
        out.extend(
            u.model_copy(update={"diff_tag": "+"}) for k, u in remote.items() if k not in local
        )
        out.sort(key=lambda u: ({"-": 0, "+": 1, " ": 2}[u.diff_tag], u.route, u.utterance))
        return cls(diff=out)

    def get_tag(self, diff_tag: str) -> list[Utterance]:
        """All utterances carrying ``diff_tag`` (``"+"``, ``"-"`` or ``" "``)."""
        if diff_tag not in ("+", "-", " "):
            raise InvalidInputError(f"diff_tag must be '+', '-' or ' ', got {diff_tag!r}")
        return [u for u in self.diff if u.diff_tag == diff_tag]

    def to_utterance_str(self, include_metadata: bool = False) -> list[str]:
        """Readable lines, ``"- route: utterance"`` / ``"+ route: utterance"``, changes only."""
        return [
            f"{u.diff_tag} {u.to_str(include_metadata)}" for u in self.diff if u.diff_tag != " "
        ]


class FitState(_Model):
    """What ``SemanticRouter.fit`` learned; saved with configs and stores."""

    encoder_name: str
    thresholds: dict[str, float] = Field(default_factory=dict)
    head: JSONDict | None = None
    examples: dict[str, list[str]] = Field(default_factory=dict)
    """Labelled in-scope turns the head was trained on besides the routes' utterances (route
    name -> texts): a retrain after a restart trains on them too."""


class CalibrationState(_Model):
    """Calibrated thresholds of a router's routes, and the background that produced them.

    ``thresholds``: each calibrated route's threshold on its own scale, the cosine to its
    gate's direction a turn must exceed (what ``get_thresholds()`` shows for it).
    """

    background: str
    target_fpr: float = Field(gt=0.0, le=0.5)
    thresholds: dict[str, float] = Field(default_factory=dict)


class ThresholdReport(_Model):
    """Each route's effective threshold (``get_thresholds()``), where it comes from, and the
    calibration behind them, read from one snapshot (``SemanticRouter.threshold_report()``).

    ``kinds``: ``"own"`` (set on the route, or by ``fit``), ``"calibrated"`` (its threshold on
    its gate's own scale; the route also passes a turn whose similarity reaches
    ``score_threshold``) or ``"router"`` (the router's ``score_threshold``).
    ``calibration``: ``None`` when the router has a fixed threshold.
    """

    thresholds: dict[str, float]
    kinds: dict[str, Literal["own", "calibrated", "router"]]
    score_threshold: float
    calibration: CalibrationState | None = None


class RouterConfig(_Model):
    """Everything needed to rebuild a router (vectors aside): routes and scoring settings."""

    routes: list[Route] = Field(default_factory=list)
    encoder_name: str | None = None
    encoder_dim: int | None = None
    top_k: int = Field(default=DEFAULT_TOP_K, ge=1)
    aggregation: Aggregation = Aggregation(DEFAULT_AGGREGATION)
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    """A fixed router-wide threshold; ``None`` calibrates routes (``target_fpr``)."""
    target_fpr: float = Field(default=DEFAULT_TARGET_FPR, gt=0.0, le=0.5)
    centroid_weight: float = Field(default=DEFAULT_CENTROID_WEIGHT, ge=0.0, le=1.0)
    fit_state: FitState | None = None
    calibration: CalibrationState | None = None

    @field_validator("top_k", "score_threshold", "centroid_weight", "encoder_dim", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return _not_bool(v, "a router setting")

    @field_validator("routes")
    @classmethod
    def _unique(cls, v: list[Route]) -> list[Route]:
        seen: set[str] = set()
        for r in v:
            if r.name in seen:
                raise ValueError(f"duplicate route name {r.name!r}")
            seen.add(r.name)
        return v

    def to_utterances(self) -> list[Utterance]:
        """One :class:`Utterance` per (route, utterance), carrying the route-level fields."""
        return [
            Utterance(
                route=r.name,
                utterance=u,
                function_schemas=r.function_schemas,
                metadata=r.metadata,
                description=r.description,
                score_threshold=r.score_threshold,
                target_fpr=r.target_fpr,
            )
            for r in self.routes
            for u in r.utterances
        ]

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> JSONDict:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: JSONDict) -> RouterConfig:
        if not isinstance(data, dict):
            raise InvalidInputError(f"a router config must be a mapping, got {type(data).__name__}")
        if not all(isinstance(k, str) for k in data):
            raise InvalidInputError("a router config's keys must be strings")
        if is_semantic_router_config(data):
            return cls.from_semantic_router(data)
        return cls(**data)

    @classmethod
    def from_semantic_router(cls, source: str | Path | JSONDict) -> RouterConfig:
        """A semantic-router 0.1.x config: its ``to_json``/``to_yaml`` file, text, or dict.

        Routes map one to one and scoring takes semantic-router's (``mean`` over ``top_k=5``,
        no centroid blend); its encoder type/name and ``llm`` fields are ignored and named
        in one :class:`~fingerpost.SemanticRouterConfigWarning` (pass ``encoder=`` yourself).
        """
        data: Any = source
        if not isinstance(source, dict):
            try:
                data = yaml.load(
                    _read_source(source, "\n"), Loader=_ConfigLoader
                )  # JSON is YAML too
            except (yaml.YAMLError, RecursionError) as exc:
                raise InvalidInputError(f"invalid semantic-router config: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("a semantic-router config must be a mapping")
        fields, ignored = map_semantic_router_config(data)
        warn_ignored(ignored)
        return cls(**fields)

    def to_json(self, path: str | Path | None = None) -> str:
        """The config as JSON; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> RouterConfig:
        """Parse JSON text, or read a ``.json`` file when ``source`` is a path."""
        text = _read_source(source, "{")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise InvalidInputError(f"invalid router config JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, source: str | Path) -> RouterConfig:
        """Parse YAML text, or read a YAML file when ``source`` is a path.

        Aliases (``*name``) are refused: a few hundred bytes of them can expand to gigabytes
        (the "billion laughs"), and a router config never needs them.
        """
        text = _read_source(source, "\n")
        try:
            data = yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass
        except (yaml.YAMLError, RecursionError) as exc:
            raise InvalidInputError(f"invalid router config YAML: {exc}") from exc
        return cls.from_dict(data)


class _ConfigLoader(yaml.SafeLoader):
    """``SafeLoader`` without aliases and with bounded nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ComposerError(
                None,
                None,
                "YAML aliases are not allowed in a router config",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise ComposerError(
                None,
                None,
                f"YAML nests deeper than {MAX_YAML_DEPTH} levels",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _read_source(source: str | Path, text_marker: str) -> str:
    if not isinstance(source, (str, Path)):
        raise InvalidInputError(
            f"a router config source must be text or a path, got {type(source).__name__}"
        )
    if isinstance(source, Path) or (text_marker not in source and _is_file(source)):
        try:
            return Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read router config {source}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"router config {source} is not UTF-8 text: {exc}") from exc
    return source


def _is_file(source: str) -> bool:
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # a name too long, a NUL, a lone surrogate: not a file
        return False
