"""Shared benchmark helpers: CLINC150, a cache of the default model's vectors, timing stats."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fingerpost import Route, limit_blas_threads
from fingerpost.encoders import DenseEncoder, OnnxEncoder

# The published numbers were measured with numpy's BLAS on one thread (routers used to set it
# as a side effect; now the application opts in, and the benchmarks are the application).
limit_blas_threads(1)

HERE = Path(__file__).resolve().parent
# ../shared beside the checkout (a git worktree may sit one level deeper: look upwards)
CLINC = next(
    (
        p / "shared" / "data" / "clinc150" / "data_full.json"
        for p in HERE.parents[1:]
        if (p / "shared" / "data" / "clinc150" / "data_full.json").exists()
    ),
    HERE.parent.parent / "shared" / "data" / "clinc150" / "data_full.json",
)
CACHE = HERE / "results" / "clinc_vectors.npz"


def clinc() -> dict[str, list[list[str]]]:
    return json.loads(CLINC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def clinc_routes(split: list[list[str]], per_intent: int | None = None) -> list[Route]:
    by: dict[str, list[str]] = {}
    for text, intent in split:
        by.setdefault(intent, []).append(text)
    return [Route(name=k, utterances=v[:per_intent]) for k, v in by.items()]


class CachedEncoder(DenseEncoder):
    """The default model with a lookup table in front: benchmarks that measure the router's own
    work (inserts, boots) must not re-measure the encoder. Unknown texts go to the model."""

    def __init__(self, model: OnnxEncoder, table: dict[str, np.ndarray]) -> None:
        self.model, self.table = model, table
        self.name, self.dim = model.name, model.dim
        self.encoded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.table]
        if missing:
            self.encoded += len(missing)
            self.table.update(zip(missing, self.model(missing), strict=True))
        return np.stack([self.table[t] for t in texts])


def cached_encoder(model: OnnxEncoder, data: dict[str, list[list[str]]]) -> CachedEncoder:
    """Vectors of CLINC150 train/test/oos_test by the default model, cached on disk."""
    texts = sorted({t for k in ("train", "test", "oos_test") for t, _ in data[k]})
    if CACHE.exists():
        z = np.load(CACHE, allow_pickle=False)
        if z["name"].item() == model.name and len(z["texts"]) == len(texts):
            return CachedEncoder(model, dict(zip(z["texts"].tolist(), z["vectors"], strict=True)))
    vecs = model(texts)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, texts=np.array(texts), vectors=vecs, name=np.array(model.name))
    return CachedEncoder(model, dict(zip(texts, vecs, strict=True)))


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    out = [f"### {title}", "", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out) + "\n"


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 10 else f"{c:.1f}"
    return "-" if c is None else str(c)
