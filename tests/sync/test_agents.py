"""Four agent processes share one remote served on 127.0.0.1: a route added by one is routed
by the other three within 2x the refresh interval, with no restart."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")

from fingerpost import Route, SemanticRouter
from fingerpost.encoders.testing import HashEncoder
from fingerpost.index.qdrant import QdrantIndex
from tests.servers._http import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 1.0

AGENT = textwrap.dedent(
    """
    import json, sys, time
    from fingerpost import Route, SemanticRouter
    from fingerpost.encoders.testing import HashEncoder
    from fingerpost.index.qdrant import QdrantIndex
    url, interval = sys.argv[1], float(sys.argv[2])
    router = SemanticRouter(encoder=HashEncoder(), index=QdrantIndex(index_name="shared", url=url),
                            score_threshold=0.3, refresh_interval=interval)
    print(json.dumps({"ready": router.list_route_names()}), flush=True)
    cmd = sys.stdin.readline().strip()
    if cmd == "add":
        router.add(Route(name="billing", utterances=["refund my order", "i was charged twice"]))
        print(json.dumps({"added": time.time()}), flush=True)
    else:
        deadline = time.time() + 30
        while time.time() < deadline:
            if router("please refund my order").name == "billing":
                print(json.dumps({"seen": time.time()}), flush=True)
                break
            time.sleep(0.01)  # probing the router's answer, not synchronising
    sys.stdin.readline()
    router.close()
    """
)


def _reader(proc: subprocess.Popen[str], out: queue.Queue[tuple[int, dict]], i: int) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put((i, json.loads(line)))


@pytest.mark.timeout(120)
def test_four_agents_see_a_new_route_without_restart(tmp_path: Path) -> None:
    with ServerProcess("tests.servers.qdrant_rest", ["--path", str(tmp_path / "q")]) as server:
        seed = SemanticRouter(
            routes=[Route(name="chitchat", utterances=["how are you", "lovely weather"])],
            encoder=HashEncoder(),
            index=QdrantIndex(index_name="shared", url=server.url),
            auto_sync="local",
        )
        seed.close()
        env = {"PYTHONPATH": str(ROOT / "src")}
        import os

        env = {**os.environ, **env}
        agents = [
            subprocess.Popen(
                [sys.executable, "-c", AGENT, server.url, str(INTERVAL)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=str(ROOT),
                env=env,
            )
            for _ in range(4)
        ]
        events: queue.Queue[tuple[int, dict]] = queue.Queue()
        readers = [
            threading.Thread(target=_reader, args=(p, events, i), daemon=True)
            for i, p in enumerate(agents)
        ]
        for r in readers:
            r.start()
        try:
            ready = [events.get(timeout=60) for _ in agents]
            assert all(msg["ready"] == ["chitchat"] for _, msg in ready)
            for i, p in enumerate(agents):
                assert p.stdin is not None
                p.stdin.write("add\n" if i == 0 else "watch\n")
                p.stdin.flush()
            got: dict[int, dict] = {}
            deadline = time.monotonic() + 60
            while len(got) < 4 and time.monotonic() < deadline:
                i, msg = events.get(timeout=max(0.1, deadline - time.monotonic()))
                got[i] = msg
            added = got[0]["added"]
            delays = [got[i]["seen"] - added for i in (1, 2, 3)]
            assert all(d <= 2 * INTERVAL for d in delays), delays
        finally:
            for p in agents:
                if p.stdin is not None:
                    try:
                        p.stdin.write("\n")
                        p.stdin.close()
                    except BrokenPipeError:
                        pass
            for p in agents:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                if p.stdout is not None:
                    p.stdout.close()
