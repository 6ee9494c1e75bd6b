"""The layout shows the architecture (issue 12): the hot path in ``fingerpost.engine``,
fitting and evaluation in ``fingerpost.quality``, the router on top, and no import cycle.

``quality`` reached into ``router._local`` and ``router._encode`` and imported the router
(under ``TYPE_CHECKING``) while the router imported ``quality`` lazily to dodge the cycle. Now
``quality`` sees a :class:`~fingerpost.quality.FitTarget`, and these tests pin that down: by
the import graph, by importing ``quality`` with no router anywhere, and by fitting a bare
target that no router owns.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fingerpost import Route
from fingerpost._fit_target import RouterFitTarget
from fingerpost.encoders.testing import HashEncoder
from fingerpost.engine._decide import scoring_settings
from fingerpost.index import LocalIndex
from fingerpost.quality import FitTarget, RemoteFitTarget
from fingerpost.quality._quality import fit_router

SRC = Path(__file__).resolve().parents[1] / "src" / "fingerpost"


def _imported(module_file: Path) -> set[str]:
    """Absolute names of every module ``module_file`` imports, ``TYPE_CHECKING`` blocks and
    function bodies included (a lazy import is still a dependency)."""
    package = ["fingerpost", *module_file.parent.relative_to(SRC).parts]
    out: set[str] = set()
    for node in ast.walk(ast.parse(module_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _imports_of(package: str) -> dict[str, set[str]]:
    return {p.name: _imported(p) for p in sorted((SRC / package).glob("*.py"))}


@pytest.mark.parametrize("package", ["engine", "quality"])
def test_engine_and_quality_never_import_the_router(package: str) -> None:
    above = ("fingerpost.router", "fingerpost._fit_target", "fingerpost.sync._router")
    for module, names in _imports_of(package).items():
        assert not [n for n in names if n.startswith(above)], module


def test_the_engine_does_not_build_on_quality() -> None:
    for module, names in _imports_of("engine").items():
        assert not [n for n in names if n.startswith("fingerpost.quality")], module


def test_quality_reads_no_private_router_attribute() -> None:
    reach = re.compile(r"\brouter\._\w+")
    for path in (SRC / "quality").glob("*.py"):
        assert not reach.findall(path.read_text(encoding="utf-8")), path.name


@pytest.mark.slow
def test_quality_imports_with_no_router_loaded() -> None:
    """With the package's ``__init__`` (which imports the router) stubbed out, importing
    ``fingerpost.quality`` loads neither the router nor sync."""
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('fingerpost'); pkg.__path__ = [{str(SRC)!r}]\n"
        "sys.modules['fingerpost'] = pkg\n"
        "import fingerpost.quality\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('fingerpost'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(done.stdout.split())
    assert {"fingerpost.quality", "fingerpost.quality._quality", "fingerpost.engine"} <= loaded
    assert not {m for m in loaded if m.startswith(("fingerpost.router", "fingerpost.sync"))}


def test_fit_runs_on_a_target_no_router_owns() -> None:
    """The seam is real: ``fit_router`` tunes and publishes thresholds on a bare table."""
    encoder = HashEncoder()
    local = LocalIndex()
    local.bind(encoder.name, encoder.dim, scoring_settings(5, "max", 0.3, 0.0))
    target = RouterFitTarget(encoder, local)
    routes = [
        Route(name="greet", utterances=["hello there", "hi friend", "good morning"]),
        Route(name="bye", utterances=["goodbye now", "see you later", "farewell friend"]),
    ]
    local.apply(add=[(r, target.encode(r.utterances)) for r in routes])
    checked: FitTarget = target
    assert checked.remote is None
    X = ["hello friend", "hi there", "see you", "goodbye friend", "what is the tax rate"]
    y: list[str | None] = ["greet", "greet", "bye", "bye", None]
    report = fit_router(target, X, y, head=False)
    assert set(report.thresholds) == {"greet", "bye"}
    fitted = {r.name: r.score_threshold for r in local.snapshot().live_routes()}
    assert fitted == pytest.approx(report.thresholds)
    assert local.snapshot().extras.get("fitted") is True
    assert np.isfinite(list(report.thresholds.values())).all()


def test_a_remote_target_is_reached_only_through_remote() -> None:
    encoder = HashEncoder()
    local = LocalIndex()
    local.bind(encoder.name, encoder.dim, scoring_settings(5, "max", 0.3, 0.0))
    target = RouterFitTarget(encoder, local)
    assert target.remote is None and target.refresh() is False
    shared: RemoteFitTarget | None = target.remote
    assert shared is None
