"""The background corpus of ordinary turns, and its vectors, embedded once per encoder.

The default corpus ships with the package (``data/background.txt.gz``): 3,100 short English
user turns from CLINC150's ``train`` and ``oos_train`` splits (Larson et al., 2019; CC BY 3.0,
see ``data/NOTICE``); no validation or test turn of CLINC150 is in it. Users may pass their
own turns (``SemanticRouter(background=[...])``), e.g. their production traffic: they are
*added* to the shipped corpus (``Background.parts``), and a gate's level holds the target
on the whole and on the shipped corpus alone (``Gate.cutoff``). A user's traffic is often
one domain (a bank's turns): a gate fitted against it alone learns "not banking" (with one
CLINC150 domain's train turns alone, the seed's politics guardrail flagged 17 % of the other
domains' turns as politics on average: ``benchmarks/run.py --only fewshot``, "Your own
traffic as background=").

Vectors are looked up per corpus, cheapest first: this process's memory; the store of a
``LocalIndex(path=)``; vectors shipped for the default encoder (float16, checked by encoder
name and corpus id); the cache directory (``$FINGERPOST_CACHE_DIR``, else
``$XDG_CACHE_HOME/fingerpost``, else ``~/.cache/fingerpost``), keyed by encoder name,
dimension and corpus id. Only when all miss is
the corpus encoded: once, never per turn. Vectors are rounded through float16 whichever way
they came, so every agent calibrates on the same numbers.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ._exceptions import InvalidInputError
from ._types import F32
from .encoders.base import DenseEncoder, check_texts

__all__ = [
    "Background",
    "background_vectors",
    "cache_dir",
    "default_background",
    "make_background",
    "part_ranges",
]

log = logging.getLogger("fingerpost")

_DATA = "fingerpost.data"
_SHIPPED = {  # encoder name -> file of precomputed vectors of the default corpus
    "sentence-transformers/all-MiniLM-L6-v2:onnx-int8": "background-minilm-l6-v2-int8.npz",
}


@dataclass(frozen=True)
class Background:
    """Ordinary turns a route is calibrated against; ``id`` names them (a content hash).

    ``parts``: the corpora it joins, in order (their texts concatenated are ``texts``): the
    shipped corpus, then the user's turns it lacks; empty for one corpus."""

    texts: tuple[str, ...]
    id: str
    parts: tuple[Background, ...] = ()


def _content_id(prefix: str, texts: Sequence[str]) -> str:
    h = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}:{h}"


@lru_cache(maxsize=1)
def default_background() -> Background:
    """The corpus shipped with the package."""
    raw = resources.files(_DATA).joinpath("background.txt.gz").read_bytes()
    texts = tuple(t for t in gzip.decompress(raw).decode("utf-8").splitlines() if t.strip())
    return Background(texts, _content_id("clinc150-train", texts))


def make_background(texts: Sequence[str] | None) -> Background:
    """The shipped corpus for ``None``, else the shipped corpus joined by the user's turns
    (deduplicated, in order, without those the shipped corpus holds) as a second part; the
    shipped corpus alone when they add nothing (``[]`` among them)."""
    shipped = default_background()
    if texts is None:
        return shipped
    if isinstance(texts, str):
        raise InvalidInputError("background must be a list of turns, not a str")
    items = tuple(dict.fromkeys(check_texts(texts))) if len(texts) else ()
    known = set(shipped.texts)
    own = tuple(t for t in items if t not in known)
    if not own:
        return shipped
    mine = Background(own, _content_id("custom", own))
    return Background(shipped.texts + own, f"{shipped.id}+{mine.id}", (shipped, mine))


def part_ranges(bg: Background) -> list[tuple[int, int]]:
    """The rows of each of ``bg``'s parts, as ``(start, stop)`` (one range for one corpus)."""
    out, at = [], 0
    for part in bg.parts or (bg,):
        out.append((at, at + len(part.texts)))
        at += len(part.texts)
    return out


def cache_dir() -> Path:
    env = os.environ.get("FINGERPOST_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fingerpost"


_memory: dict[tuple[str, int, str], F32] = {}
_memory_lock = threading.Lock()
_encode_lock = threading.Lock()


def _f16(vectors: Any) -> F32:
    return np.asarray(vectors, dtype=np.float16).astype(np.float32)


def _file_key(encoder: DenseEncoder, bg: Background) -> str:
    return hashlib.sha256(f"{encoder.name}\n{encoder.dim}\n{bg.id}".encode()).hexdigest()[:24]


def _shipped(encoder: DenseEncoder, bg: Background) -> F32 | None:
    name = _SHIPPED.get(encoder.name)
    if name is None:
        return None
    try:
        with resources.files(_DATA).joinpath(name).open("rb") as f, np.load(f) as z:
            if str(z["encoder"]) != encoder.name or str(z["background"]) != bg.id:
                return None
            vecs = z["vectors"]
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return None
    return _f16(vecs) if vecs.shape == (len(bg.texts), encoder.dim) else None


def _from_disk(path: Path, n: int, dim: int) -> F32 | None:
    try:
        vecs = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return _f16(vecs) if vecs.shape == (n, dim) else None


def _to_disk(path: Path, vectors: F32) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with tmp.open("wb") as f:
            np.save(f, vectors.astype(np.float16))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not break routing
        log.warning("fingerpost: could not cache background vectors in %s: %s", path.parent, exc)


def encode_vectors(vectors: F32) -> dict[str, Any]:
    """A JSON-able record of float16 vectors (for a store's meta table)."""
    return {
        "shape": list(vectors.shape),
        "float16": base64.b64encode(vectors.astype("<f2").tobytes()).decode("ascii"),
    }


def decode_vectors(record: Any, n: int, dim: int) -> F32 | None:
    try:
        if list(record["shape"]) != [n, dim]:
            return None
        raw = base64.b64decode(record["float16"])
        return np.frombuffer(raw, dtype="<f2").reshape(n, dim).astype(np.float32)
    except (KeyError, TypeError, ValueError):
        return None


def background_vectors(
    encoder: DenseEncoder,
    bg: Background,
    encode: Any = None,
    stored: Callable[[Background], F32 | None] | None = None,
) -> tuple[F32, bool]:
    """The corpus's unit vectors by ``encoder``, and whether any were encoded just now.

    ``encode`` (texts -> vectors) replaces ``encoder.__call__``; ``stored`` reads the vectors a
    store may hold for a corpus (asked only when memory misses; the store checked encoder and
    corpus). A background of parts is its parts' vectors, each found (or encoded and cached)
    on its own, one after the other: the shipped corpus's vectors serve every user's.
    """
    key = (encoder.name, encoder.dim, bg.id)
    with _memory_lock:
        hit = _memory.get(key)
    if hit is not None:
        return hit, False
    if bg.parts:
        found = [background_vectors(encoder, part, encode, stored) for part in bg.parts]
        joined = np.concatenate([vecs for vecs, _ in found])
        with _memory_lock:
            joined = _memory.setdefault(key, joined)
        return joined, any(fresh for _, fresh in found)
    with _encode_lock:  # two routers starting together encode once
        with _memory_lock:
            hit = _memory.get(key)
        if hit is not None:
            return hit, False
        fresh = False
        vecs = None if stored is None else stored(bg)
        if vecs is not None and vecs.shape != (len(bg.texts), encoder.dim):
            vecs = None
        if vecs is None:
            vecs = _shipped(encoder, bg)
        path = cache_dir() / f"background-{_file_key(encoder, bg)}.npy"
        if vecs is None:
            vecs = _from_disk(path, len(bg.texts), encoder.dim)
        if vecs is None:
            vecs = _f16((encode or encoder)(list(bg.texts)))
            _to_disk(path, vecs)
            fresh = True
        with _memory_lock:
            _memory[key] = vecs
        return vecs, fresh
