"""``fingerpost migrate``: the command-line face of :func:`fingerpost.migrate`.

    fingerpost migrate --from semantic-router --index qdrant://localhost:6333/old \\
        --to qdrant://localhost:6333/routes [--encoder default|hash] [--dim N] \\
        [--reembed auto|always|never]

Locations: ``qdrant://HOST:PORT/NAME`` (``qdrants://`` for https; ``QDRANT_API_KEY`` is used
when set), ``qdrant+path:///DIR/NAME`` (embedded on-disk Qdrant; both sides may share one
directory), ``pinecone://NAME[/NAMESPACE]`` (``PINECONE_API_KEY``; ``--pinecone-host`` for an
emulator). Prints the report as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import InvalidInputError
from .index.base import RemoteIndex

__all__ = ["add_parser", "open_location", "run"]


def add_parser(sub: Any) -> None:
    """Register ``migrate`` on an ``argparse`` subparsers object."""
    mg = sub.add_parser(
        "migrate",
        help="copy a semantic-router 0.1.x index into fingerpost's layout",
        description="Copy every route of a remote index (semantic-router 0.1.x's layout, or "
        "fingerpost's) into an empty fingerpost remote; stored vectors are reused when they "
        "are the encoder's.",
    )
    mg.add_argument("--from", dest="layout", choices=["semantic-router", "fingerpost"], required=True)
    mg.add_argument("--index", required=True, help="source location (qdrant://, qdrant+path://, pinecone://)")
    mg.add_argument("--to", dest="target", required=True, help="target location (same forms)")
    mg.add_argument("--encoder", choices=["default", "hash"], default="default",
                    help="default: the ONNX model; hash: the deterministic test encoder")
    mg.add_argument("--dim", type=int, help="width of the hash encoder (default 128)")
    mg.add_argument("--reembed", choices=["auto", "always", "never"], default="auto",
                    help="auto: reuse stored vectors when they are the encoder's")
    mg.add_argument("--pinecone-host", help="Pinecone control-plane URL (emulators)")


def _qdrant(parts: Any, layout: str, clients: dict[str, Any]) -> RemoteIndex:
    from .index.qdrant import QdrantIndex

    path, _, name = parts.path.rpartition("/")
    if not name:
        raise InvalidInputError(f"no collection name in {parts.geturl()!r}")
    if parts.scheme == "qdrant+path":
        if not path:
            raise InvalidInputError(f"no directory in {parts.geturl()!r}")
        from qdrant_client import QdrantClient

        if path not in clients:  # an embedded directory can be opened once per process
            clients[path] = QdrantClient(path=path)
        return QdrantIndex(name, client=clients[path], layout=layout)  # type: ignore[arg-type]
    scheme = "https" if parts.scheme == "qdrants" else "http"
    return QdrantIndex(
        name, url=f"{scheme}://{parts.netloc}", api_key=os.environ.get("QDRANT_API_KEY"),
        layout=layout,  # type: ignore[arg-type]
    )


def open_location(
    location: str, layout: str, clients: dict[str, Any], pinecone_host: str | None = None
) -> RemoteIndex:
    """The remote index a location names (see the module docstring)."""
    parts = urlsplit(location)
    if parts.scheme in ("qdrant", "qdrants", "qdrant+path"):
        return _qdrant(parts, layout, clients)
    if parts.scheme == "pinecone":
        from .index.pinecone import PineconeIndex

        namespace = parts.path.strip("/") or None
        return PineconeIndex(
            parts.netloc, host=pinecone_host, namespace=namespace, layout=layout  # type: ignore[arg-type]
        )
    raise InvalidInputError(
        f"unknown location {location!r}: use qdrant://HOST:PORT/NAME, qdrant+path:///DIR/NAME "
        "or pinecone://NAME[/NAMESPACE]"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``migrate``; prints the report as JSON."""
    from ._migrate import migrate

    if args.encoder == "hash":
        from .encoders.testing import HashEncoder

        encoder: Any = HashEncoder(dim=args.dim or 128)
    else:
        from .encoders.onnx import OnnxEncoder

        encoder = OnnxEncoder()
    reembed = {"auto": None, "always": True, "never": False}[args.reembed]
    clients: dict[str, Any] = {}
    opened: list[RemoteIndex] = []
    try:
        source = open_location(args.index, args.layout, clients, args.pinecone_host)
        opened.append(source)
        target = open_location(args.target, "fingerpost", clients, args.pinecone_host)
        opened.append(target)
        report = migrate(source, target, encoder, reembed=reembed)
    finally:
        for idx in opened:
            idx.close()
        for client in clients.values():
            client.close()
    print(json.dumps(asdict(report)))
    return 0
