"""The distribution's shape: public exports, namespace layout, overhead benchmark."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import tomllib
from pathlib import Path
from typing import Any

import llama_index.selectors.fingerpost as package
from llama_index.selectors.fingerpost import SemanticRouterSelector
from packaging.requirements import Requirement

import fingerpost
from fingerpost.encoders.testing import HashEncoder

ROOT = Path(__file__).resolve().parents[1]


def test_exports_are_pinned() -> None:
    assert package.__all__ == [
        "ChoiceNameWarning",
        "FingerpostEmbedding",
        "FingerpostSelection",
        "NoSelectionError",
        "SemanticRouterSelector",
    ]


def test_llama_index_and_selectors_are_namespace_packages() -> None:
    assert not (ROOT / "llama_index" / "__init__.py").exists()
    assert not (ROOT / "llama_index" / "selectors" / "__init__.py").exists()
    assert (ROOT / "llama_index" / "selectors" / "fingerpost" / "__init__.py").exists()
    # and llama_index.core (another distribution) still imports beside it
    assert importlib.util.find_spec("llama_index.core") is not None


def test_select_and_aselect_are_twins() -> None:
    sync = inspect.signature(SemanticRouterSelector._select)
    asynchronous = inspect.signature(SemanticRouterSelector._aselect)
    assert sync.parameters.keys() == asynchronous.parameters.keys()
    assert inspect.iscoroutinefunction(SemanticRouterSelector._aselect)


def test_overhead_benchmark_returns_a_markdown_table() -> None:
    spec = importlib.util.spec_from_file_location("bench_overhead", ROOT / "bench_overhead.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = bench.main([HashEncoder()], rounds=8)
    lines = table.splitlines()
    assert lines[2] == "| encoder: call | bare router | selector | overhead | relative |"
    assert len(lines) == 4 + 3
    assert all(line.startswith("| `fingerpost-hash-v1-128`: ") for line in lines[4:])


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_llamahub_metadata_names_the_package_and_its_classes() -> None:
    hub = _pyproject()["tool"]["llamahub"]
    assert hub["contains_example"] is False
    assert importlib.import_module(hub["import_path"]) is package
    authors = hub["class_authors"]
    assert (
        {"SemanticRouterSelector", "FingerpostEmbedding"} <= authors.keys() <= set(package.__all__)
    )
    assert all(isinstance(a, str) and a for a in authors.values())


def test_the_fingerpost_dependency_is_bounded_on_a_0x_core() -> None:
    [spec] = [
        Requirement(r)
        for r in _pyproject()["project"]["dependencies"]
        if r.startswith("fingerpost")
    ]
    assert any(s.operator == "<" for s in spec.specifier)  # a 0.x minor may break the API
    assert fingerpost.__version__ in spec.specifier
    assert "1.0" not in spec.specifier
