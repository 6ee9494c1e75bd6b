"""One source per fact in the packaging (issue 12): the version, the Python floor, the URLs."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    (ROOT, "fingerpost", "fingerpost"),
    (ROOT / "integrations" / "langchain", "langchain-fingerpost", "langchain_fingerpost"),
    (
        ROOT / "integrations" / "llama-index",
        "llama-index-selectors-fingerpost",
        "llama_index.selectors.fingerpost",
    ),
]


def _pyproject(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("root", "dist", "module"), PACKAGES)
def test_the_version_is_written_once_in_the_package(root: Path, dist: str, module: str) -> None:
    meta = _pyproject(root)
    assert "version" not in meta["project"] and meta["project"]["dynamic"] == ["version"]
    source = root / meta["tool"]["hatch"]["version"]["path"]
    written = re.findall(r'^__version__ = "([^"]+)"$', source.read_text(encoding="utf-8"), re.M)
    assert len(written) == 1
    try:
        package = importlib.import_module(module)
    except ModuleNotFoundError:  # an integration not installed: the file check above stands
        return
    assert package.__version__ == written[0]
    assert importlib.metadata.version(dist) == written[0]


def test_one_python_floor_for_pyproject_ruff_and_mypy() -> None:
    meta = _pyproject(ROOT)
    floor = re.fullmatch(r">=3\.(\d+)", meta["project"]["requires-python"])
    assert floor is not None
    minor = floor.group(1)
    assert meta["tool"]["ruff"]["target-version"] == f"py3{minor}"
    assert meta["tool"]["mypy"]["python_version"] == f"3.{minor}"
    for root, _, _ in PACKAGES[1:]:
        assert _pyproject(root)["project"]["requires-python"] == meta["project"]["requires-python"]
    # The classifiers name the floor and nothing older, in all three distributions.
    for root, _, _ in PACKAGES:
        versions = [
            c.rsplit(" :: ", 1)[1]
            for c in _pyproject(root)["project"]["classifiers"]
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
        ]
        assert versions and min(versions, key=lambda v: int(v.split(".")[1])) == f"3.{minor}"
    assert sys.version_info >= (3, int(minor))  # the suite runs on the floor or later


def test_project_urls_point_at_the_docs_changelog_and_source() -> None:
    urls = _pyproject(ROOT)["project"]["urls"]
    assert {"Documentation", "Changelog", "Source"} <= set(urls)
    assert urls["Changelog"].endswith("/CHANGELOG.md") and (ROOT / "CHANGELOG.md").is_file()
    assert urls["Documentation"].endswith("/README.md")


def _imports(module_file: Path) -> set[str]:
    import ast

    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_schema_does_not_import_sync() -> None:
    """``schema`` and ``sync._hash`` imported each other (content_key); now both take it
    from ``fingerpost._content`` and only ``sync`` builds on ``schema``."""
    src = ROOT / "src" / "fingerpost"
    assert not any("sync" in m for m in _imports(src / "schema.py"))
    assert not any(
        "schema" in m or "sync" in m for m in _imports(src / "_content.py") - {".schema"}
    )
    from fingerpost._content import content_key
    from fingerpost.sync._hash import content_key as hashed

    assert hashed is content_key


def test_scoring_defaults_agree_everywhere() -> None:
    """The defaults are written once (fingerpost._defaults); every reader agrees."""
    import inspect

    from fingerpost import RouterConfig, SemanticRouter
    from fingerpost import _defaults as d
    from fingerpost.engine._table import ScoringSettings

    config, settings = RouterConfig(), ScoringSettings()
    params = inspect.signature(SemanticRouter).parameters
    assert config.top_k == settings.top_k == params["top_k"].default == d.DEFAULT_TOP_K
    assert (
        config.aggregation
        == settings.aggregation
        == params["aggregation"].default
        == d.DEFAULT_AGGREGATION
    )
    assert config.centroid_weight == settings.centroid_weight == params["centroid_weight"].default
    assert settings.score_threshold == d.DEFAULT_SCORE_THRESHOLD
    assert config.target_fpr == d.DEFAULT_TARGET_FPR


def test_array_aliases_are_defined_once() -> None:
    pattern = re.compile(r"^\w+\s*(?::\s*TypeAlias)?\s*=\s*NDArray\[np\.float32\]\s*$", re.M)
    src = ROOT / "src" / "fingerpost"
    defining = [
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert defining == ["_types.py"]
