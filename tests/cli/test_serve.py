"""``fingerpost serve`` as a user runs it: a process on loopback, answering, then stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fingerpost import Route, SemanticRouter
from fingerpost.cli import main
from fingerpost.encoders.testing import HashEncoder

from ..conftest import CHITCHAT, POLITICS

pytest.importorskip("fastapi")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_stops(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    SemanticRouter(
        routes=[
            Route(name="politics", utterances=POLITICS),
            Route(name="chitchat", utterances=CHITCHAT),
        ],
        encoder=HashEncoder(128),
    ).to_yaml(routes)
    token = tmp_path / "token.txt"
    token.write_text("t0ken\n", encoding="utf-8")
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "fingerpost",
        "serve",
        "--routes",
        str(routes),
        "--port",
        str(port),
        "--token-file",
        str(token),
        "--quiet",
    ]
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "FINGERPOST_ENCODER": "hash"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:  # wait (bounded) until the process listens
                try:
                    ready = client.get("/readyz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.communicate()[1]
                    assert time.monotonic() < deadline, "serve never listened"
                    time.sleep(0.05)
            assert ready.json() == {"status": "ready", "routes": 2}
            assert (
                client.post("/v1/route", json={"text": "lovely weather today"}).json()["choices"][
                    0
                ]["name"]
                == "chitchat"
            )
            new = {"name": "music", "utterances": ["play some jazz"]}
            assert client.post("/v1/routes", json=new).status_code == 401
            assert (
                client.post(
                    "/v1/routes", json=new, headers={"Authorization": "Bearer t0ken"}
                ).status_code
                == 201
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM)


def test_serve_refuses_an_empty_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token.txt"
    token.write_text("\n", encoding="utf-8")
    assert (
        main(["serve", "--routes", "x.yaml", "--token-file", str(token), "--encoder", "hash"]) == 2
    )
    assert "is empty" in capsys.readouterr().err
