"""Where a command's routes come from: a routes file, a SQLite store, a remote index.

``--routes routes.yaml`` (a router config or a plain list of routes, YAML or JSON),
``--store routes.db`` (``LocalIndex(path=...)``; with ``--routes`` too, the file's routes
become the store's content) and ``--index URL`` for a shared remote:

* ``qdrant://host:6333/collection`` (``qdrants://`` for TLS; ``QDRANT_API_KEY`` is used when
  set),
* ``pinecone://index-name`` (``PINECONE_API_KEY``; ``PINECONE_HOST`` for a local or private
  endpoint).

``--background turns.txt`` (route, thresholds, eval, fit, serve): the user's own ordinary turns, one per
line, joined to the shipped corpus that calibration measures false positives on.

The encoder is the ONNX model unless ``--encoder hash`` (or ``FINGERPOST_ENCODER=hash``)
picks the deterministic, model-free test encoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from .._exceptions import FingerpostError
from ..schema import Route, RouterConfig
from ._errors import EXIT_USAGE, CliError, read_text

if TYPE_CHECKING:
    from ..encoders.base import DenseEncoder
    from ..index.base import RemoteIndex
    from ..index.local import LocalIndex
    from ..router import SemanticRouter

__all__ = ["Sources", "make_encoder", "parse_index_url", "read_background", "read_routes"]

ENCODERS = ("default", "hash")


@dataclass(frozen=True)
class Sources:
    """The ``--routes``/``--store``/``--index`` options of one command."""

    routes: Path | None = None
    store: Path | None = None
    index: str | None = None
    encoder: str = "default"
    background: Path | None = None  # --background FILE: the user's ordinary turns

    def require(self, *, routes: bool = False, index: bool = False) -> None:
        if routes and self.routes is None:
            raise CliError("this command needs --routes FILE", EXIT_USAGE)
        if index and self.index is None:
            raise CliError(
                "this command needs --index URL (qdrant://host:port/name or pinecone://name)",
                EXIT_USAGE,
            )
        if self.routes is None and self.store is None and self.index is None:
            raise CliError(
                "say where the routes are: --routes FILE, --store FILE.db or --index URL",
                EXIT_USAGE,
            )
        if self.store is not None and self.index is not None:
            raise CliError(
                "--store and --index are two different homes for routes: give one", EXIT_USAGE
            )

    def config(self) -> RouterConfig | None:
        """The ``--routes`` file, read and validated (``None`` without one)."""
        return read_routes(self.routes) if self.routes is not None else None

    def router(
        self, encoder: DenseEncoder | None = None, config: RouterConfig | None = None, **kwargs: Any
    ) -> SemanticRouter:
        """Build the router these options describe (no sync: commands ask for that).

        ``config``: the ``--routes`` file already read (it is read here otherwise).
        """
        from ..index.local import LocalIndex

        self.require()
        if config is None:
            config = self.config()
        dim = config.encoder_dim if config is not None else None
        if self.background is not None:
            kwargs.setdefault("background", read_background(self.background))
        enc = encoder if encoder is not None else make_encoder(self.encoder, dim)
        index: LocalIndex | RemoteIndex | None = None
        if self.store is not None:
            index = LocalIndex(path=self.store)
        elif self.index is not None:
            index = parse_index_url(self.index)
        try:
            return self._build(config, enc, index, **kwargs)
        except BaseException:
            if index is not None:
                index.close()
            raise

    def _build(
        self,
        config: RouterConfig | None,
        enc: DenseEncoder,
        index: LocalIndex | RemoteIndex | None,
        **kwargs: Any,
    ) -> SemanticRouter:
        from ..index.local import LocalIndex
        from ..router import SemanticRouter, config_arguments, warn_if_other_background

        # The shell is the application here, so it opts in to one BLAS thread (the setting
        # docs/service.md and the README's latencies were measured with); the library never
        # sets it on its own.
        kwargs.setdefault("blas_threads", 1)
        if config is None:
            return SemanticRouter(encoder=enc, index=index, **kwargs)
        if isinstance(index, LocalIndex) or index is None:
            return SemanticRouter.from_config(config, encoder=enc, index=index, **kwargs)
        # A remote index: from_config takes only a LocalIndex; same refusal rule as it has.
        if config.encoder_name is not None and config.encoder_name != enc.name:
            from .._exceptions import EncoderMismatchError

            raise EncoderMismatchError(
                f"{self.routes} was made with encoder {config.encoder_name!r}; got {enc.name!r}"
            )
        router = SemanticRouter(encoder=enc, index=index, **config_arguments(config, kwargs))
        warn_if_other_background(router, config)
        return router


def read_background(path: Path) -> list[str]:
    """The ``--background`` file's turns: one per line, blank lines skipped."""
    turns = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if not turns:
        raise CliError(f"{path}: no turns (one per line)", EXIT_USAGE)
    return turns


def read_routes(path: Path) -> RouterConfig:
    """A router config from a file holding a config or a plain list of routes."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not YAML/JSON: {exc}", EXIT_USAGE) from exc
    try:
        if isinstance(data, list):
            for item in data:
                if not isinstance(item, dict):
                    raise CliError(
                        f"{path}: every route must be a mapping with 'name' and 'utterances'",
                        EXIT_USAGE,
                    )
            return RouterConfig(routes=[Route(**item) for item in data])
        if isinstance(data, dict):
            return RouterConfig.from_dict(data)
    except FingerpostError as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from exc
    raise CliError(
        f"{path}: expected a router config (mapping with 'routes') or a list of routes", EXIT_USAGE
    )


def make_encoder(kind: str, dim: int | None = None) -> DenseEncoder:
    """``default``: the ONNX model; ``hash``: the deterministic test encoder (no model)."""
    if kind == "hash":
        from ..encoders.testing import HashEncoder

        return HashEncoder(dim=dim or 128)
    if kind != "default":
        raise CliError(
            f"unknown encoder {kind!r}: expected one of {', '.join(ENCODERS)}", EXIT_USAGE
        )
    from ..encoders.onnx import OnnxEncoder

    return OnnxEncoder()


def parse_index_url(url: str) -> RemoteIndex:
    """``qdrant://host:port/name``, ``qdrants://...`` or ``pinecone://name`` as an index."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    name = parts.path.strip("/")
    if scheme in ("qdrant", "qdrants"):
        if not parts.hostname or not name or "/" in name:
            raise CliError(f"--index {url!r}: expected qdrant://host:port/collection", EXIT_USAGE)
        try:
            from ..index.qdrant import QdrantIndex
        except ModuleNotFoundError as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc
        http = "https" if scheme == "qdrants" else "http"
        port = f":{parts.port}" if parts.port else ""
        return QdrantIndex(
            index_name=name,
            url=f"{http}://{parts.hostname}{port}",
            api_key=os.environ.get("QDRANT_API_KEY") or None,
        )
    if scheme == "pinecone":
        name = parts.netloc or name
        if not name:
            raise CliError(f"--index {url!r}: expected pinecone://index-name", EXIT_USAGE)
        try:
            from ..index.pinecone import PineconeIndex
        except ModuleNotFoundError as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc
        return PineconeIndex(index_name=name, host=os.environ.get("PINECONE_HOST") or None)
    raise CliError(
        f"--index {url!r}: expected qdrant://host:port/collection, qdrants://... or pinecone://name",
        EXIT_USAGE,
    )
