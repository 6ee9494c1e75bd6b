"""bench_overhead.main() returns the markdown tables the benchmark runner prints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fingerpost.encoders.testing import HashEncoder


def test_bench_overhead_returns_both_tables() -> None:
    path = Path(__file__).resolve().parents[1] / "bench_overhead.py"
    spec = importlib.util.spec_from_file_location("langchain_bench_overhead", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    table = bench.main([HashEncoder()], rounds=4)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == 4  # three per-turn rows and one batch row
    assert "`invoke` vs `router(text)`" in rows[0]
    assert rows[-1].endswith("x |")
