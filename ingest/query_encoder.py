"""MiniLM for one question at a time in plain numpy: the same vectors as sentence-transformers, no torch.

Hand-written because a cold `corpusqa ask` must finish in a few seconds and importing
sentence-transformers (torch, transformers, sklearn) alone costs ~7 s on this CPU (STACK-NOTES).
The model is small (6 BERT layers, 384 wide), its weights are read from the packaged safetensors
file and its tokenizer from the packaged tokenizer.json (the `tokenizers` library); a test checks the
vectors against sentence-transformers. Ingest still embeds in batches through sentence-transformers.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["QueryEncoder"]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU, x * Phi(x), with erf from the standard library (vectorised).
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (max error 1.5e-7, below float32 noise); math.erf per element is 50x slower.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


class QueryEncoder:
    """Encode short texts with a BERT-style sentence-transformers model (mean pooling, normalised)."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._weights: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[dict[str, np.ndarray], Any]:
        with self._lock:
            if self._weights is None:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
                st_config = json.loads((self.model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
                if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
                    raise ValueError(f"{self.model_dir} is not a BERT model with GELU")
                self._config = config
                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(int(st_config.get("max_seq_length", 256)))
                tokenizer.no_padding()
                self._tokenizer = tokenizer
                self._weights = load_file(str(self.model_dir / "model.safetensors"))
        assert self._weights is not None
        return self._weights, self._tokenizer

    def encode(self, text: str) -> np.ndarray:
        """The normalised embedding of one text."""
        w, tokenizer = self._load()
        config = self._config
        eps = float(config.get("layer_norm_eps", 1e-12))
        heads = int(config["num_attention_heads"])
        ids = np.asarray(tokenizer.encode(text).ids, dtype=np.int64)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        width = x.shape[1]
        size = width // heads
        for layer in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def dense(name: str, inputs: np.ndarray, p: str = p) -> np.ndarray:
                return inputs @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = dense("attention.self.query", x).reshape(-1, heads, size).transpose(1, 0, 2)
            k = dense("attention.self.key", x).reshape(-1, heads, size).transpose(1, 0, 2)
            v = dense("attention.self.value", x).reshape(-1, heads, size).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(-1, width)
            x = _layer_norm(
                dense("attention.output.dense", context) + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            hidden = _gelu(dense("intermediate.dense", x))
            x = _layer_norm(
                dense("output.dense", hidden) + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
            )
        pooled = x.mean(axis=0)
        return (pooled / (np.linalg.norm(pooled) or 1.0)).astype(np.float32)
