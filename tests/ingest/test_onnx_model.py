"""MiniLM on ONNX Runtime gives sentence-transformers' vectors; a missing or corrupt export is rebuilt once."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.imports import cli_listing_modules

from corpusqa.errors import ModelLoadError
from ingest.embedder import Embedder, resolve_model_path
from ingest.onnx_model import export_path

MODEL = "all-MiniLM-L6-v2"
SAMPLE = [
    "How many Taliban prisoners were held in total?",
    "a",
    "Café naïve — “quoted” 13,000 to 14,000 " * 40,  # longer than the 256-token window: truncated alike
    "自然言語 ünïcödé ??? !!!",
    "The committee inspected the old bridge before dawn.",
    "Return a new sorted list from the items in iterable.",
    "",
]


@pytest.fixture(scope="module")
def reference() -> object:
    """sentence-transformers on torch: the reference implementation (and the bench's floor)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(resolve_model_path(MODEL)), device="cpu")


@pytest.fixture(scope="module")
def fp32(model_cache: Path) -> Embedder:
    """The fp32 export, beside the session's int8 one."""
    return Embedder(MODEL, 4, model_cache, "fp32")


def _reference_vectors(reference: object, texts: list[str]) -> np.ndarray:
    return np.asarray(reference.encode(texts, normalize_embeddings=True), dtype=np.float32)  # type: ignore[attr-defined]


def test_onnx_fp32_gives_sentence_transformers_vectors(fp32: Embedder, reference: object) -> None:
    ours = fp32.embed_texts(SAMPLE)
    expected = _reference_vectors(reference, SAMPLE)

    assert ours.shape == expected.shape == (len(SAMPLE), 384)
    cosine = (ours * expected).sum(axis=1)
    assert cosine.min() > 1 - 1e-4, cosine
    assert np.abs(ours - expected).max() < 1e-4


def test_onnx_int8_stays_close_to_sentence_transformers(embedder: Embedder, reference: object) -> None:
    # int8 is kept for its retrieval figures (README); per sentence it moves vectors a little.
    ours = embedder.embed_texts(SAMPLE)
    cosine = (ours * _reference_vectors(reference, SAMPLE)).sum(axis=1)
    assert embedder.precision == "int8"
    assert cosine.min() > 0.98, cosine
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_embed_query_is_the_batched_vector_of_the_same_text(fp32: Embedder) -> None:
    batched = fp32.embed_texts(SAMPLE)  # batches of 4, cut from length-sorted texts
    one_by_one = np.stack([fp32.embed_query(text) for text in SAMPLE])

    assert batched.shape == one_by_one.shape == (len(SAMPLE), 384)
    assert np.abs(batched - one_by_one).max() < 1e-5  # padding changes nothing, order is kept


def test_int8_batches_move_vectors_only_slightly(embedder: Embedder) -> None:
    # Dynamic quantisation scales activations per batch, so int8 vectors depend a little on the
    # batch a text is in (README, Performance); order is still kept.
    batched = Embedder(MODEL, 3, embedder.cache_dir).embed_texts(SAMPLE)
    one_by_one = np.stack([embedder.embed_query(text) for text in SAMPLE])

    cosine = (batched * one_by_one).sum(axis=1)
    assert cosine.min() > 0.97, cosine  # the lowest is the empty text ([CLS] [SEP] only)
    assert [int(i) for i in (batched @ one_by_one.T).argmax(axis=1)] == list(range(len(SAMPLE)))


def test_embed_texts_of_nothing_is_empty(embedder: Embedder) -> None:
    assert embedder.embed_texts([]).shape == (0, 384)


@pytest.mark.parametrize("damage", ["missing", "corrupt", "truncated"])
def test_a_missing_or_broken_export_is_rebuilt_with_one_message(
    damage: str, tmp_path: Path, model_cache: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    model_dir = resolve_model_path(MODEL)
    cache = tmp_path / "models"
    embedder.embed_query("warm up")  # the session's export exists
    if damage != "missing":  # a good fp32 export beside a damaged int8 one: only the quantisation reruns
        shutil.copytree(model_cache, cache)
        int8 = export_path(model_dir, cache, quantized=True)
        for broken in (int8, int8.with_suffix(".opt.onnx")):  # the export and its optimised graph
            data = broken.read_bytes()
            broken.write_bytes(b"not an onnx model" * 100 if damage == "corrupt" else data[: len(data) // 3])

    with caplog.at_level(logging.WARNING, logger="corpusqa.embedder"):
        fresh = Embedder(MODEL, 64, cache)
        vector = fresh.embed_query("How were the prisoners released?")

    messages = [r.getMessage() for r in caplog.records if r.name == "corpusqa.embedder"]
    assert len(messages) == 1, messages
    assert "Building the ONNX export" in messages[0] and str(cache) in messages[0]
    assert ("no export at" if damage == "missing" else "could not be read") in messages[0]
    assert np.abs(vector - embedder.embed_query("How were the prisoners released?")).max() < 1e-6
    assert export_path(model_dir, cache, quantized=True).is_file()
    assert export_path(model_dir, cache, quantized=True).with_suffix(".opt.onnx").is_file()
    assert not list(cache.glob("*.part"))  # written to a temporary name, then moved into place

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="corpusqa.embedder"):
        Embedder(MODEL, 64, cache).embed_query("again")
    assert not [r for r in caplog.records if r.name == "corpusqa.embedder"]  # the next run reuses it


def test_a_broken_optimised_graph_is_replaced_silently(tmp_path: Path, model_cache: Path, embedder: Embedder) -> None:
    embedder.embed_query("warm up")
    cache = tmp_path / "models"
    shutil.copytree(model_cache, cache)
    optimised = export_path(resolve_model_path(MODEL), cache, quantized=True).with_suffix(".opt.onnx")
    optimised.write_bytes(b"half a graph")

    vector = Embedder(MODEL, 64, cache).embed_query("How were the prisoners released?")

    assert np.abs(vector - embedder.embed_query("How were the prisoners released?")).max() < 1e-6
    assert optimised.stat().st_size > 1_000_000  # saved again from the export


@pytest.mark.parametrize(
    ("widths", "batch_size", "expected"),
    [
        ([10] * 100, 64, [64, 36]),  # short texts: batch_size alone cuts
        ([10] * 70 + [256] * 40, 64, [64, 16, 16, 14]),  # long ones: 16 texts padded to 256 fill the budget
        ([600] * 3, 64, [2, 1]),  # never an empty batch, even past the budget
        ([], 64, []),
    ],
)
def test_batches_keep_attention_within_budget(widths: list[int], batch_size: int, expected: list[int]) -> None:
    from ingest.onnx_model import _batches

    batches = _batches(list(range(len(widths))), widths, batch_size)
    assert [len(batch) for batch in batches] == expected
    assert [row for batch in batches for row in batch] == list(range(len(widths)))


# What the ingesting process must never import: the export's stack runs in a child process (#28).
EXPORT_STACK = ("torch", "transformers", "onnx", "sentence_transformers")

INGEST_AND_LIST_MODULES = cli_listing_modules(EXPORT_STACK)


def test_export_in_a_child_process_gives_a_working_model_and_ingest_never_imports_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: Embedder
) -> None:
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# Bridges\n\nThe committee inspected the old bridge before dawn.\n", encoding="utf-8")
    cache = tmp_path / "fresh-models"
    monkeypatch.setenv("CORPUSQA_MODEL_CACHE_DIR", str(cache))  # empty: this ingest must export the model

    result = subprocess.run(
        [sys.executable, "-c", INGEST_AND_LIST_MODULES, "ingest", "--index-dir", str(tmp_path / "index"), str(corpus)],
        capture_output=True, text=True, timeout=600, check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert json.loads(lines[-1]) == []  # the export ran, but not in this process
    assert sum("Building the ONNX export" in line for line in lines) == 1  # one message, no exporter noise
    assert not [line for line in lines if "Warning" in line or "Traceback" in line], lines
    model_dir = resolve_model_path(MODEL)
    assert export_path(model_dir, cache, quantized=True).is_file()
    assert not list(cache.glob("*.part"))
    question = "Who inspected the bridge?"
    vector = Embedder(MODEL, 64, cache).embed_query(question)
    assert np.abs(vector - embedder.embed_query(question)).max() < 1e-6  # the same model as an in-session export


def test_a_failed_export_ends_in_one_sentence(tmp_path: Path) -> None:
    broken = tmp_path / "model"
    shutil.copytree(resolve_model_path(MODEL), broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # a torn download: the child cannot load the weights

    with pytest.raises(ModelLoadError) as caught:
        Embedder(str(broken), 64, tmp_path / "models").embed_query("anything")

    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert "export" in message and str(broken) in message
    assert not list((tmp_path / "models").glob("*.onnx"))


def test_a_batch_that_gives_its_arena_back_gets_the_same_outputs(embedder: Embedder) -> None:
    # Batches run with arena shrinkage (#28: the arena no longer keeps the largest batch's memory): the
    # outputs must be those of ONNX Runtime's default run, batch after batch.
    from ingest.onnx_model import _shrinking

    model = embedder._load()
    encodings = model._tokenizer.encode_batch(SAMPLE)
    width = max(len(e.ids) for e in encodings)
    feed = {name: np.zeros((len(SAMPLE), width), dtype=np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
    for row, encoding in enumerate(encodings):
        feed["input_ids"][row, : len(encoding.ids)] = encoding.ids
        feed["attention_mask"][row, : len(encoding.ids)] = 1
    (default,) = model._session.run(None, feed)
    for _ in range(2):  # the second run allocates again after the first gave its arena back
        (shrunk,) = model._session.run(None, feed, _shrinking())
        assert np.array_equal(default, shrunk)
    assert np.array_equal(embedder.embed_texts(SAMPLE), model.encode(SAMPLE, embedder.batch_size))
