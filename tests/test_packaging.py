"""One source per fact in the packaging (issue 12): the version, the Python floor, the URLs."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    (ROOT, "fingerpost", "fingerpost"),
    (ROOT / "integrations" / "langchain", "langchain-fingerpost", "langchain_fingerpost"),
    (ROOT / "integrations" / "llama-index", "llama-index-selectors-fingerpost", "llama_index.selectors.fingerpost"),
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


def test_project_urls_point_at_the_docs_changelog_and_source() -> None:
    urls = _pyproject(ROOT)["project"]["urls"]
    assert {"Documentation", "Changelog", "Source"} <= set(urls)
    assert urls["Changelog"].endswith("/CHANGELOG.md") and (ROOT / "CHANGELOG.md").is_file()
    assert urls["Documentation"].endswith("/README.md")
