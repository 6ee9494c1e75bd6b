"""Issue 10 fuzzing (hypothesis): config loaders and the public API get random and hostile
input. Every failure must be a ``FingerpostError``; nothing hangs (the test timeout); a failed
call changes nothing, in memory or in the store; memory and store always agree.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerpost import FingerpostError, Route, RouterConfig, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index import LocalIndex

from ._local_helpers import ROUTES, state

pytestmark = pytest.mark.timeout(600)

NASTY = [
    "\ud800",
    "bad \udfff",
    "\x00",
    " ",
    "",
    "\n",
    "will it rain today",
    "order a pizza",
    "food",
    "weather",
]
texts = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(NASTY)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | texts
    | st.binary(max_size=4)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts, inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=12,
)
utterance_lists = st.lists(
    st.sampled_from([*NASTY[6:], "play jazz", "is it sunny"]), min_size=1, max_size=3
)
routes = st.builds(
    Route,
    name=st.sampled_from(["weather", "food", "music", "travel"]),
    utterances=utterance_lists,
    score_threshold=st.none() | st.floats(-1, 1),
    metadata=st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
names = st.sampled_from(["weather", "food", "music", "nosuch"]) | values
FIELDS = {
    "utterances": utterance_lists | values,
    "description": st.none() | st.text(max_size=5) | values,
    "function_schemas": st.none()
    | st.lists(st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), max_size=2)
    | values,
    "score_threshold": st.none() | st.floats(-1, 1) | values,
    "metadata": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2) | values,
}
vectors = st.none() | st.lists(st.floats(-1, 1), min_size=128, max_size=128) | values


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    op = draw(
        st.sampled_from(
            ["add", "update", "call", "batch", "set_threshold", "delete", "add_utterances", "get"]
        )
    )
    if op == "add":
        return op, (draw(routes | st.lists(routes, max_size=3) | values),), {}
    if op == "update":
        keys = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=3))
        return op, (draw(names),), {k: draw(FIELDS[k]) for k in keys}
    if op == "call":
        kw: dict[str, Any] = {}
        if draw(st.booleans()):
            kw["limit"] = draw(st.none() | st.integers(-2, 3) | values)
        if draw(st.booleans()):
            kw["route_filter"] = draw(st.none() | st.lists(names, max_size=2) | values)
        if draw(st.booleans()):
            kw["vector"] = draw(vectors)
        return op, (draw(texts | values),), kw
    if op == "batch":
        return op, (draw(st.lists(texts, max_size=3) | values),), {}
    if op == "set_threshold":
        return (
            op,
            (draw(st.floats() | values),),
            ({"route_name": draw(names)} if draw(st.booleans()) else {}),
        )
    if op in ("delete", "get"):
        return op, (draw(names),), {}
    return op, (draw(names), draw(st.lists(texts, max_size=2) | values)), {}


def _stored(r: SemanticRouter) -> list[dict[str, Any]]:
    return sorted((route.model_dump() for route, _ in r._local.stored()), key=lambda d: d["name"])


def _memory(r: SemanticRouter) -> list[dict[str, Any]]:
    return sorted((route.model_dump() for route in r.routes), key=lambda d: d["name"])


def fuzz_api(max_examples: int) -> None:
    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(calls(), min_size=1, max_size=6))
    def run(sequence: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            r = SemanticRouter(
                routes=ROUTES,
                encoder=HashEncoder(),
                index=LocalIndex(path=Path(tmp) / "s.db", synchronous="OFF"),
                score_threshold=0.3,
            )
            try:
                for op, args, kwargs in sequence:
                    before = state(r)
                    method = r.__call__ if op == "call" else getattr(r, op)
                    try:
                        method(*args, **kwargs)
                    except FingerpostError:
                        assert state(r) == before, (op, args, kwargs)
                    assert _memory(r) == _stored(r)
                    assert r.score_threshold == r._local._store.get_meta_json(
                        "score_threshold"
                    ) or (  # type: ignore[union-attr]
                        r._local._store.get_meta_json("score_threshold") is None
                        and r.score_threshold == 0.3  # type: ignore[union-attr]
                    )
            finally:
                r.close()

    run()


def test_public_api_fuzz() -> None:
    fuzz_api(60)


@pytest.mark.soak
def test_public_api_fuzz_soak() -> None:
    fuzz_api(2000)


# ---- config loaders --------------------------------------------------------------------------

route_dicts = st.fixed_dictionaries(
    {"name": texts | values, "utterances": st.lists(texts, max_size=3) | values},
    optional={k: v for k, v in FIELDS.items() if k != "utterances"},
)
config_dicts = st.fixed_dictionaries(
    {},
    optional={
        "routes": st.lists(route_dicts, max_size=3) | values,
        "top_k": st.integers(-1, 5) | values,
        "aggregation": st.sampled_from(["max", "mean", "sum", "median"]) | values,
        "score_threshold": st.floats() | values,
        "centroid_weight": st.floats() | values,
        "encoder_name": st.none() | st.text(max_size=5) | values,
        "fit_state": values,
        "surprise": values,
    },
)
HOSTILE = [
    "a: &a [1,2]\nb: *a\n",
    "a: &a ["
    + ",".join(["1"] * 10)
    + "]\n"
    + "\n".join(f"b{i}: &b{i} [*a, *a, *a]" for i in range(5)),
    "[" * 5000,
    "a: " + "[" * 3000 + "]" * 3000,
    "!!python/object/apply:os.system ['echo pwned']",
    "routes: !!binary aGVsbG8=",
    "{" * 3000,
    '{"routes": [' + "[" * 4000 + "]" * 4000 + "]}",
    "routes:\n- name: a\n  utterances: [x]\n  metadata: {k: .nan}\n",
    "\ufeffroutes: []",
]


def _check_loader(loader: Any, source: Any) -> None:
    try:
        config = loader(source)
    except FingerpostError:
        return
    assert isinstance(config, RouterConfig)
    assert RouterConfig.from_json(config.to_json()) == config  # whatever loads, round-trips
    assert RouterConfig.from_yaml(config.to_yaml()) == config


def fuzz_configs(max_examples: int) -> None:
    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(config_dicts, st.sampled_from(["json", "yaml", "dict"]))
    def structured(data: dict[str, Any], how: str) -> None:
        if how == "dict":
            _check_loader(RouterConfig.from_dict, data)
            return
        try:
            text = json.dumps(data) if how == "json" else yaml.safe_dump(data)
        except (TypeError, ValueError, yaml.YAMLError, RecursionError):
            return  # not representable as text: nothing to load
        _check_loader(RouterConfig.from_json if how == "json" else RouterConfig.from_yaml, text)

    @settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.text(st.characters(exclude_categories=()), max_size=200) | st.sampled_from(HOSTILE),
        st.booleans(),
    )
    def raw(text: str, as_yaml: bool) -> None:
        _check_loader(RouterConfig.from_yaml if as_yaml else RouterConfig.from_json, text)

    structured()
    raw()


def test_config_loader_fuzz() -> None:
    fuzz_configs(80)


def test_hostile_configs_are_typed_errors_and_never_run_code(tmp_path: Path) -> None:
    for text in HOSTILE:
        for loader in (RouterConfig.from_yaml, RouterConfig.from_json):
            _check_loader(loader, text)
    for text in HOSTILE[:2] + HOSTILE[4:6]:  # aliases and tags, read from a file
        path = tmp_path / "c.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(FingerpostError):
            RouterConfig.from_yaml(path)


@pytest.mark.soak
def test_config_loader_fuzz_soak() -> None:
    fuzz_configs(3000)
