"""Diff and sync over HTTP with a remote index (the in-memory RemoteIndex of the sync tests)."""

from __future__ import annotations

import httpx

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.server import create_app

from ..conftest import CHITCHAT, POLITICS
from ..sync.memory_remote import MemoryRemote
from ._serve import serving
from .conftest import AUTH, TOKEN


def test_diff_then_sync_then_synced() -> None:
    remote = MemoryRemote()
    encoder = HashEncoder(dim=128)
    # another agent put "politics" on the remote; this service starts with "chitchat" only
    with SemanticRouter(
        routes=[Route(name="politics", utterances=POLITICS)],
        encoder=encoder,
        index=remote,
        auto_sync="local",
    ):
        pass
    router = SemanticRouter(
        routes=[Route(name="chitchat", utterances=CHITCHAT)], encoder=encoder, index=remote
    )
    app = create_app(router, token=TOKEN)
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            diff = client.get("/v1/diff").json()
            assert diff["synced"] is False
            assert {f"+ politics: {u}" for u in POLITICS} | {
                f"- chitchat: {u}" for u in CHITCHAT
            } == set(diff["lines"])
            refused = client.post("/v1/sync", json={"mode": "error"}, headers=AUTH)
            assert (
                refused.status_code == 409
                and refused.json()["error"]["type"] == "SyncConflictError"
            )
            done = client.post("/v1/sync", json={"mode": "merge"}, headers=AUTH)
            assert done.status_code == 200, done.text
            assert (
                set(done.json()["resolved"]) == set(diff["lines"])
                and done.json()["mode"] == "merge"
            )
            assert client.get("/v1/diff").json() == {"lines": [], "synced": True}
            names = sorted(r["name"] for r in client.get("/v1/routes").json()["routes"])
            assert names == ["chitchat", "politics"]
            conflict = client.post("/v1/sync", json={"mode": "error"}, headers=AUTH)
            assert (
                conflict.status_code == 200 and conflict.json()["resolved"] == []
            )  # synced: no conflict
            text = client.get("/metrics").text
            assert 'fingerpost_sync_runs_total{mode="merge",outcome="ok"} 1.0' in text
            assert 'fingerpost_sync_runs_total{mode="error",outcome="ok"} 1.0' in text
            assert (
                'fingerpost_sync_runs_total{mode="error",outcome="SyncConflictError"} 1.0' in text
            )
    finally:
        router.close()
