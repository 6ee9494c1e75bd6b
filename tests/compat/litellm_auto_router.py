"""Run by ``benchmarks/.venv-semantic-router`` (litellm comes with semantic-router there), not by
pytest: LiteLLM's auto router (``litellm/router_strategy/auto_router/``) on a fake embedding
function, routing a few turns; prints one JSON line ``{"choices": [...], "backend": ...}``.

    python litellm_auto_router.py fingerpost       # compat module substituted via sys.modules
    python litellm_auto_router.py semantic-router  # the real semantic-router 0.1.16
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BACKEND = sys.argv[1]
if BACKEND == "fingerpost":
    from fingerpost.compat.semantic_router import install

    install()  # before litellm imports semantic_router

import litellm  # noqa: E402
from litellm.router_strategy.auto_router.auto_router import AutoRouter  # noqa: E402

from fingerpost.encoders.testing import HashEncoder  # noqa: E402

ENC = HashEncoder(dim=64)
CONFIG = {
    "routes": [
        {
            "name": "gpt-code",
            "description": "coding",
            "utterances": [
                "write a python function",
                "fix this bug in my code",
                "refactor this class",
                "explain this stack trace",
            ],
            "score_threshold": 0.4,
        },
        {
            "name": "gpt-chat",
            "utterances": ["hello how are you", "tell me a joke", "what's up", "good morning"],
        },
    ]
}
TURNS = [
    "please write a python function that sorts",
    "can you fix the bug in this code",
    "hello there how are you today",
    "tell me a funny joke",
    "good morning friend",
    "quantum chromodynamics lecture",
    "refactor this class please",
    "what's up buddy",
]


class FakeCtx:
    """The routing context's embedding calls, answered by a deterministic local encoder."""

    def __init__(self) -> None:
        self.texts = 0

    def embedding(self, input: list[str], model: str, **kwargs: Any) -> Any:
        self.texts += len(input)
        data = [
            {"object": "embedding", "index": i, "embedding": v}
            for i, v in enumerate(ENC(list(input)).tolist())
        ]
        return litellm.EmbeddingResponse(model=model, data=data)

    async def aembedding(self, input: list[str], model: str, **kwargs: Any) -> Any:
        return self.embedding(input, model, **kwargs)


async def main() -> dict[str, Any]:
    ctx = FakeCtx()
    router = AutoRouter(
        model_name="auto",
        default_model="default-model",
        embedding_model="fake/embedding",
        ctx=ctx,  # type: ignore[arg-type]
        auto_router_config=json.dumps(CONFIG),
    )
    choices = []
    for turn in TURNS:
        resp = await router.async_pre_routing_hook(
            model="auto", request_kwargs={}, messages=[{"role": "user", "content": turn}]
        )
        choices.append(None if resp is None else resp.model)
    layer = router.routelayer
    return {
        "backend": BACKEND,
        "layer": f"{type(layer).__module__}.{type(layer).__name__}",
        "turns": TURNS,
        "choices": choices,
        "embedded_texts": ctx.texts,
    }


if __name__ == "__main__":
    logging.getLogger("semantic_router").setLevel(logging.ERROR)
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    out = asyncio.run(main())
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(out))
