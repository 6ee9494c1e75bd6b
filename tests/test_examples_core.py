"""The core examples run offline and do what they say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    _load("quickstart").main()
    out = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert "politics" in lines["don't you love politics?"]
    assert "politics" in lines["who should I vote for in the election?"]
    assert (
        "politics" in lines["is the prime minister doing a good job?"]
    )  # calibrated, no shared words
    assert "(none)" in lines["what is 2+2?"]
    assert "billing" in lines["I was billed two times this month"]
    assert "same answers, one encoder call" in out
    shown = dict(
        item.rsplit(" ", 1)
        for item in out.split("calibrated thresholds: ")[1].split("\n")[0].split(", ")
    )
    assert float(shown["politics"]) < float(shown["billing"])  # a broad topic: a lower one


@pytest.mark.timeout(180)
def test_shared_remote_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("qdrant_client")
    monkeypatch.delenv("QDRANT_URL", raising=False)
    events = _load("shared_remote_agents").main()
    by = {(e["agent"], e["event"]): e for e in events}
    assert by[("reader", "before")]["route"] is None
    assert by[("reader", "after")]["route"] == "billing"
