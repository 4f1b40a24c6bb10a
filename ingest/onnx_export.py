"""The one-time export of MiniLM's packaged weights to ONNX (and int8), run in a child process.

The export imports torch, transformers and onnx (about a gigabyte of memory that is never given back
to the system); a child process does it, so the process that ingests or answers never holds them (#28).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from corpusqa.errors import ModelLoadError

__all__ = ["EXPORT_VERSION", "atomic_target", "export_model", "export_path", "load_errors", "open_session"]

# Bump when the export recipe changes, so older exports are rebuilt instead of reused.
EXPORT_VERSION = 2
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The child's exit status for an error it explains in one sentence (its last line on stderr).
_EXPLAINED = 3


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


def atomic_target(target: Path) -> Path:
    """A fresh temporary file beside `target`, to be written whole and then moved onto it."""
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
    partial = atomic_target(target)
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

    partial = atomic_target(target)
    try:
        # MatMul weights only, one scale per output channel, and each layer's feed-forward output
        # projection kept in fp32: on eval retrieval that mix held MRR and hit@5 within 0.01 of fp32,
        # where quantising every MatMul lost 0.0102 hit@5 on one eval corpus and quantising the embedding Gather
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


def _export_here(model_dir: Path, cache_dir: Path, quantized: bool, reusable: Callable[[Path], bool]) -> Path:
    """Export (and, for int8, quantize) in this process; `reusable` says whether an fp32 export on disk loads."""
    fp32 = export_path(model_dir, cache_dir, quantized=False)
    try:
        if not reusable(fp32):
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


def load_errors() -> tuple[type[Exception], ...]:
    """What onnxruntime raises for an unreadable model (its own types, subclasses of Exception only)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "RuntimeException")
    return (OSError, RuntimeError, *(getattr(state, name) for name in names if hasattr(state, name)))


def _loads(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        open_session(path, 1)
    except load_errors():  # unreadable: export again
        return False
    return True


def open_session(path: Path, threads: int, optimise: bool = True, save_to: Path | None = None) -> Any:
    """An ONNX Runtime CPU session on `path` (its optimised graph saved to `save_to`, when given)."""
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


# The child is started with this process's sys.path, so it imports this same code (a checkout or a venv).
_CHILD = "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); from ingest.onnx_export import _child; _child(sys.argv[2:])"


def export_model(model_dir: Path, cache_dir: Path, quantized: bool) -> Path:
    """Export (and, for int8, quantize) the model into the cache directory in a child process; the result's path."""
    target = export_path(model_dir, cache_dir, quantized)
    args = [json.dumps(sys.path), str(model_dir), str(cache_dir), "int8" if quantized else "fp32"]
    try:
        # stdin closed: the child never waits on the user's terminal; its output is the exporters' noise
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", check=False,
        )
    except OSError as exc:
        raise ModelLoadError(
            f"Could not start a process to export the embedding model ({exc}); check that {sys.executable} still runs."
        ) from exc
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == _EXPLAINED and lines:
        raise ModelLoadError(lines[-1])
    if done.returncode != 0 or not target.is_file():
        said = f": {lines[-1].strip()[:300]}" if lines else ""
        raise ModelLoadError(
            f"Exporting the embedding model from {model_dir} to {cache_dir} failed (exit status {done.returncode}{said}); "
            "check that the model package is whole and that memory and disk space are free, then run the command again."
        )
    return target


def _child(argv: list[str]) -> None:
    """The child process's entry point: export, or end with one sentence on stderr and status 3."""
    model_dir, cache_dir, precision = argv
    try:
        # an fp32 export that loads is quantized again, not exported again
        _export_here(Path(model_dir), Path(cache_dir), precision == "int8", _loads)
    except ModelLoadError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        sys.exit(_EXPLAINED)
