"""fingerpost.migrate: reuse stored vectors only when they are the encoder's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fingerpost import EncoderMismatchError, InvalidInputError, migrate
from fingerpost.encoders.base import DenseEncoder, Vectors
from fingerpost.encoders.testing import HashEncoder
from tests.index.sr_writers import qdrant_write, sr_rows, texts

qdrant_client = pytest.importorskip("qdrant_client")
from fingerpost.index.qdrant import QdrantIndex  # noqa: E402

DIM = 16
ENCODER = HashEncoder(dim=DIM)


class OtherModel(DenseEncoder):
    """Same name and width as ENCODER, other vectors: what a changed model looks like."""

    name, dim = ENCODER.name, DIM

    def encode(self, texts: list[str]) -> Vectors:
        return ENCODER([t[::-1] for t in texts])


@pytest.fixture
def client() -> Iterator[object]:
    c = qdrant_client.QdrantClient(location=":memory:")
    rows = sr_rows()
    qdrant_write(c, "old", rows, ENCODER(list(texts(rows))))
    yield c
    c.close()


def test_matching_encoder_copies_vectors(client: object) -> None:
    with (
        QdrantIndex("old", client=client, layout="semantic-router") as src,  # type: ignore[arg-type]
        QdrantIndex("new", client=client) as dst,  # type: ignore[arg-type]
    ):
        enc = HashEncoder(dim=DIM)
        report = migrate(src, dst, enc, sample=2)
        assert report.encoder_matches and (report.copied_vectors, report.encoded) == (4, 0)
        assert enc.encoded == 2  # only the check sample
        got = {p.utterance.key: p.vector for p in dst.fetch()}
        assert len(got) == 4 and np.allclose(got[("weather", "forecast")], ENCODER(["forecast"])[0])
        with pytest.raises(InvalidInputError, match="empty"):
            migrate(src, dst, enc)


def test_other_model_reembeds_or_refuses(client: object) -> None:
    with (
        QdrantIndex("old", client=client, layout="semantic-router") as src,  # type: ignore[arg-type]
        QdrantIndex("new", client=client) as dst,  # type: ignore[arg-type]
    ):
        with pytest.raises(EncoderMismatchError, match="reembed"):
            migrate(src, dst, OtherModel(), reembed=False)
        assert not client.collection_exists("new")  # type: ignore[attr-defined]  # nothing written
        report = migrate(src, dst, OtherModel())
        assert not report.encoder_matches and (report.copied_vectors, report.encoded) == (0, 4)
        got = {p.utterance.key: p.vector for p in dst.fetch()}
        assert np.allclose(got[("weather", "forecast")], OtherModel()(["forecast"])[0], atol=1e-6)


def test_cli_migrate_embedded_qdrant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fingerpost.__main__ import main

    store = tmp_path / "q"
    c = qdrant_client.QdrantClient(path=str(store))
    rows = sr_rows()
    qdrant_write(c, "old", rows, ENCODER(list(texts(rows))))
    c.close()
    argv = [
        "migrate",
        "--from",
        "semantic-router",
        "--index",
        f"qdrant+path://{store}/old",
        "--to",
        f"qdrant+path://{store}/new",
        "--encoder",
        "hash",
        "--dim",
        str(DIM),
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["utterances"] == report["copied_vectors"] == report["target_count"] == 4
    assert report["encoded"] == 0 and report["routes"] == 2
    assert main(argv) == 2  # the target is no longer empty: a usage error, one line, no traceback
    assert "empty" in capsys.readouterr().err
    bad = ["migrate", "--from", "semantic-router", "--index", "ftp://x/y", "--to", "qdrant://h:1/z"]
    assert main(bad) == 2 and "unknown location" in capsys.readouterr().err
