"""Two agents in two processes share one remote index; a route added by one is used by the other.

    python examples/shared_remote_agents.py

Uses the Qdrant server at ``QDRANT_URL`` when set; otherwise starts the repository's loopback
Qdrant-compatible test server (``tests/servers/qdrant_rest.py``, an embedded Qdrant behind the
real REST API) on 127.0.0.1. Everything runs offline with the default ONNX encoder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFRESH_S = 0.5

AGENT = """
import json, sys, time
from fingerpost import Route, SemanticRouter
from fingerpost.index import QdrantIndex

url, role, refresh = sys.argv[1], sys.argv[2], float(sys.argv[3])
router = SemanticRouter(index=QdrantIndex(index_name="agents-demo", url=url), refresh_interval=refresh)
say = lambda **kw: print(json.dumps({"agent": role, **kw}), flush=True)
say(event="ready", routes=router.list_route_names())
turn = "I was charged twice for my order"
if role == "writer":
    sys.stdin.readline()
    router.add(Route(name="billing", utterances=["I need a refund", "why was I charged twice?",
                                                 "cancel my subscription"]))
    say(event="added", route="billing", at=time.time())
else:
    say(event="before", route=router(turn).name)
    deadline = time.time() + 30
    while router(turn).name != "billing" and time.time() < deadline:
        time.sleep(0.02)
    choice = router(turn)
    say(event="after", route=choice.name, score=round(choice.similarity_score or 0, 3), at=time.time())
router.close()
"""


def main() -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    server = None
    url = os.environ.get("QDRANT_URL")
    if not url:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.servers.qdrant_rest",
                "--port",
                "0",
                "--exit-on-stdin-eof",
            ],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = server.stdout.readline().strip()
    try:
        from fingerpost import Route, SemanticRouter
        from fingerpost.index import QdrantIndex

        seed = SemanticRouter(
            routes=[Route(name="chitchat", utterances=["how are you?", "lovely weather today"])],
            index=QdrantIndex(index_name="agents-demo", url=url),
            auto_sync="local",
        )
        seed.close()
        agents = {
            role: subprocess.Popen(
                [sys.executable, "-c", AGENT, url, role, str(REFRESH_S)],
                cwd=str(ROOT),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for role in ("writer", "reader")
        }
        events = []
        for role in ("writer", "reader"):
            events.append(json.loads(agents[role].stdout.readline()))  # type: ignore[union-attr]
        events.append(json.loads(agents["reader"].stdout.readline()))  # type: ignore[union-attr]
        agents["writer"].stdin.write("go\n")  # type: ignore[union-attr]
        agents["writer"].stdin.flush()  # type: ignore[union-attr]
        events.append(json.loads(agents["writer"].stdout.readline()))  # type: ignore[union-attr]
        events.append(json.loads(agents["reader"].stdout.readline()))  # type: ignore[union-attr]
        for p in agents.values():
            p.wait(timeout=60)
            p.stdout.close()  # type: ignore[union-attr]
            p.stdin.close()  # type: ignore[union-attr]
        for e in events:
            print(e)
        added, after = events[3], events[4]
        print(
            f"reader routed to {after['route']!r} {float(after['at']) - float(added['at']):.2f} s "
            f"after the writer added it (refresh interval {REFRESH_S} s), without a restart"
        )
        return events
    finally:
        if server is not None:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(timeout=30)
            server.stdout.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
