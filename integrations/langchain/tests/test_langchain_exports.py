"""The public surface of langchain_fingerpost is pinned."""

from __future__ import annotations

import tomllib
from pathlib import Path

import fingerpost
from packaging.requirements import Requirement

import langchain_fingerpost

EXPORTS = [
    "DEFAULT_REFUSAL",
    "DEFAULT_TAG",
    "EXTRACT_TAG",
    "GUARDRAIL_NAME",
    "ROUTER_TAG",
    "FingerpostEmbeddings",
    "FingerpostGuardrailMiddleware",
    "RouteBranch",
    "SemanticRouterRunnable",
    "ToolCallingUnsupportedError",
    "Turn",
    "__version__",
    "guardrail",
    "parse_turn",
    "refusal_message",
    "route_tag",
]


def test_exports_are_pinned_and_sorted() -> None:
    assert langchain_fingerpost.__all__ == EXPORTS
    # isort style (as ruff's RUF022): CONSTANTS, then Classes, then functions.
    assert (
        sorted(EXPORTS, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
        == EXPORTS
    )
    for name in EXPORTS:
        assert getattr(langchain_fingerpost, name) is not None


def test_sync_and_async_twins_come_in_pairs() -> None:
    for cls in (langchain_fingerpost.SemanticRouterRunnable, langchain_fingerpost.RouteBranch):
        own = {n for n in vars(cls) if not n.startswith("__")}
        for name in own & {"invoke", "batch", "stream", "_invoke", "_batch"}:
            twin = "_a" + name[1:] if name.startswith("_") else "a" + name
            assert twin in own, f"{cls.__name__}.{name} has no async twin"


def test_the_fingerpost_dependency_is_bounded_on_a_0x_core() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    dependencies = tomllib.loads(text)["project"]["dependencies"]
    [spec] = [Requirement(r) for r in dependencies if r.startswith("fingerpost")]
    assert any(s.operator == "<" for s in spec.specifier)  # a 0.x minor may break the API
    assert fingerpost.__version__ in spec.specifier
    assert "1.0" not in spec.specifier
