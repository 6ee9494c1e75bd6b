#!/usr/bin/env bash
# Create the peer virtualenvs used by benchmarks/peers/*_bench.py.  Idempotent: re-running
# reuses existing venvs and lets pip skip what is already satisfied.
#
#   bash benchmarks/setup_peers.sh            # both peers
#   bash benchmarks/setup_peers.sh sr         # only semantic-router
#   bash benchmarks/setup_peers.sh synapto    # only synaptoroute
#
# Venvs (gitignored by `benchmarks/.venv-*/`):
#   benchmarks/.venv-semantic-router   semantic-router[qdrant,pinecone]==0.1.16 + fingerpost (-e)
#                                      (also used by tests/compat/test_sr_real.py)
#   benchmarks/.venv-synaptoroute      synaptoroute (latest 0.x)  + fingerpost (-e)
#
# Heavy dependencies (checked against the wheels' Requires-Dist; neither default install pulls
# torch -- torch only sits behind the `local`, `vision`, `all` extras of semantic-router and
# `rerank`/`all` of synaptoroute, which we never install):
#   semantic-router 0.1.16: litellm (+ its openai, tiktoken, jinja2, jsonschema, httpx, ...),
#     aurelio-sdk, aiohttp, tornado.  `[qdrant]` extra = qdrant-client>=1.11.1,<2 (grpcio,
#     protobuf, portalocker); the embedded `:memory:` / `path=` mode needs nothing else.
#     `[pinecone]` extra = pinecone[asyncio]>=7,<8 (runs against tests/servers' loopback server).
#   synaptoroute: fastembed>=0.8 (onnxruntime, tokenizers, huggingface-hub, pillow, mmh3,
#     py-rust-stemmers, loguru), scikit-learn (+ scipy).  fastembed is only used by its default
#     encoder, which downloads a model from a hub and cannot work offline; we plug fingerpost's
#     OnnxEncoder in through synaptoroute.encoder.BaseEncoder instead.
# After install the script asserts that `torch` is NOT importable in either venv.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
WHICH="${1:-all}"

PY="$(command -v python3.11 || command -v python3)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export LITELLM_LOCAL_MODEL_COST_MAP=True

make_venv() {  # $1 = venv dir
    if [ ! -x "$1/bin/python" ]; then
        echo "[setup_peers] creating $1 with $PY" >&2
        "$PY" -m venv "$1"
    else
        echo "[setup_peers] reusing $1" >&2
    fi
}

no_torch() {  # $1 = venv dir
    if "$1/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torch') is not None)"; then
        echo "[setup_peers] OK: no torch in $1" >&2
    else
        echo "[setup_peers] ERROR: torch got installed into $1" >&2
        exit 1
    fi
}

if [ "$WHICH" = all ] || [ "$WHICH" = sr ]; then
    V="$HERE/.venv-semantic-router"
    make_venv "$V"
    "$V/bin/python" -m pip install -q --upgrade pip
    "$V/bin/python" -m pip install -q \
        "semantic-router[qdrant,pinecone]==0.1.16" \
        "qdrant-client>=1.11.1,<2" \
        -e "$REPO"
    LITELLM_LOCAL_MODEL_COST_MAP=True "$V/bin/python" -c \
        "import semantic_router, qdrant_client, fingerpost; from importlib.metadata import version as v; print('[setup_peers] semantic-router', v('semantic-router'), 'qdrant-client', v('qdrant-client'))" >&2
    no_torch "$V"
fi

if [ "$WHICH" = all ] || [ "$WHICH" = synapto ]; then
    V="$HERE/.venv-synaptoroute"
    make_venv "$V"
    "$V/bin/python" -m pip install -q --upgrade pip
    "$V/bin/python" -m pip install -q \
        "synaptoroute>=0.4,<0.5" \
        -e "$REPO"
    "$V/bin/python" -c \
        "import synaptoroute, fingerpost; from importlib.metadata import version as v; print('[setup_peers] synaptoroute', v('synaptoroute'))" >&2
    no_torch "$V"
fi
echo "[setup_peers] done" >&2
