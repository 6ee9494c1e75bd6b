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

import json
import os
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

import click

from .._exceptions import InvalidInputError
from ..index.base import RemoteIndex
from ._sources import ENCODERS, make_encoder

__all__ = ["migrate_command", "open_location"]


def _qdrant(parts: Any, layout: str, clients: dict[str, Any]) -> RemoteIndex:
    from ..index.qdrant import QdrantIndex

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
        name,
        url=f"{scheme}://{parts.netloc}",
        api_key=os.environ.get("QDRANT_API_KEY"),
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
        from ..index.pinecone import PineconeIndex

        namespace = parts.path.strip("/") or None
        return PineconeIndex(
            parts.netloc,
            host=pinecone_host,
            namespace=namespace,
            layout=layout,  # type: ignore[arg-type]
        )
    raise InvalidInputError(
        f"unknown location {location!r}: use qdrant://HOST:PORT/NAME, qdrant+path:///DIR/NAME "
        "or pinecone://NAME[/NAMESPACE]"
    )


@click.command(
    epilog="\b\nExample:\n  fingerpost migrate --from semantic-router "
    "--index qdrant://localhost:6333/old --to qdrant://localhost:6333/routes",
)
@click.option(
    "--from",
    "layout",
    type=click.Choice(["semantic-router", "fingerpost"]),
    required=True,
    help="the layout of the source index",
)
@click.option(
    "--index",
    "source",
    required=True,
    metavar="LOC",
    help="source: qdrant://, qdrant+path:// or pinecone://",
)
@click.option(
    "--to", "target", required=True, metavar="LOC", help="target (same forms); must be empty"
)
@click.option(
    "--encoder",
    type=click.Choice(ENCODERS),
    default="default",
    envvar="FINGERPOST_ENCODER",
    help="default: the ONNX model; hash: the deterministic test encoder",
)
@click.option("--dim", type=click.IntRange(min=1), help="width of the hash encoder (default 128)")
@click.option(
    "--reembed",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="auto: reuse stored vectors when they are the encoder's",
)
@click.option("--pinecone-host", metavar="URL", help="Pinecone control-plane URL (emulators)")
@click.option("--debug", is_flag=True, help="show the traceback of any error")
def migrate_command(
    layout: str,
    source: str,
    target: str,
    encoder: str,
    dim: int | None,
    reembed: str,
    pinecone_host: str | None,
    debug: bool,
) -> None:
    """Copy a semantic-router 0.1.x index into fingerpost's layout, reusing stored vectors
    when they are the encoder's. Prints the report as one JSON object."""
    from .._migrate import migrate

    enc = make_encoder(encoder, dim)
    again = {"auto": None, "always": True, "never": False}[reembed]
    clients: dict[str, Any] = {}
    opened: list[RemoteIndex] = []
    try:
        src = open_location(source, layout, clients, pinecone_host)
        opened.append(src)
        dst = open_location(target, "fingerpost", clients, pinecone_host)
        opened.append(dst)
        report = migrate(src, dst, enc, reembed=again)
    finally:
        for idx in opened:
            idx.close()
        for client in clients.values():
            client.close()
    click.echo(json.dumps(asdict(report)))
