"""A real client no one here wrote: LiteLLM's auto router (``litellm/router_strategy/
auto_router/``, built on semantic-router's ``SemanticRouter``, ``Route`` and ``RouteChoice``
with ``auto_sync="local"``) runs on fingerpost.compat.semantic_router, substituted for
``semantic_router`` through ``sys.modules`` in a separate virtualenv
(``benchmarks/.venv-semantic-router``, where litellm comes with semantic-router), and picks the
same models as on the real semantic-router 0.1.16 for the same turns and vectors (a fake,
deterministic embedding function). Two subprocesses of ~20 s each (importing litellm): soak.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SR_PYTHON = ROOT / "benchmarks" / ".venv-semantic-router" / "bin" / "python"
SCRIPT = Path(__file__).with_name("litellm_auto_router.py")


def _run(backend: str) -> dict[str, Any]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [str(SR_PYTHON), str(SCRIPT), backend],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.soak
def test_litellm_auto_router_on_fingerpost_matches_semantic_router() -> None:
    if not SR_PYTHON.exists():
        pytest.skip(f"{SR_PYTHON} absent: `bash benchmarks/setup_peers.sh sr`")
    fp, real = _run("fingerpost"), _run("semantic-router")
    assert fp["layer"] == "fingerpost.compat.semantic_router.SemanticRouter"
    assert real["layer"].startswith("semantic_router.")
    assert fp["choices"] == real["choices"]
    assert {"default-model"} < set(fp["choices"])  # matches and fallbacks both exercised
    assert fp["embedded_texts"] <= real["embedded_texts"]  # no text embedded twice
