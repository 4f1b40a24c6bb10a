"""The trained reader's plumbing: an ONNX file exported by the trainer loads with onnxruntime and rereads sentences.

The weights here are a tiny randomly initialised network exported by train.reader's own export step, so
these tests check loading, tokenising, span and band choice, not answer quality (that is docs/trained-reader.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpusqa.errors import ModelLoadError
from corpusqa.settings import DEFAULT_EMBEDDING_MODEL
from ingest.embedder import resolve_model_path
from rag.reader.confidence import BANDS
from rag.reader.fitted import Bands
from rag.reader.sentences import Candidate
from rag.reader.trained import TrainedReader, context_of

torch = pytest.importorskip("torch")


def _tiny_reader(target: Path) -> None:
    from train.export import export_onnx as _export

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(30522, 8)
            self.answerable = torch.nn.Linear(8, 1)
            self.span = torch.nn.Linear(8, 2)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            states = self.embed(input_ids) + token_type_ids.unsqueeze(-1).float()
            spans = self.span(states)
            masked = (1 - attention_mask) * -1e4
            return self.answerable(states[:, 0]).squeeze(-1), spans[..., 0] + masked, spans[..., 1] + masked

    torch.manual_seed(3)
    _export(Tiny(), target)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> TrainedReader:
    target = tmp_path_factory.mktemp("reader") / "reader.onnx"
    _tiny_reader(target)
    return TrainedReader(target, resolve_model_path(DEFAULT_EMBEDDING_MODEL) / "tokenizer.json")


def test_trained_reader_missing_file_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"python -m train\.reader"):
        TrainedReader(tmp_path / "absent.onnx", tmp_path / "tokenizer.json")


def test_trained_reader_damaged_file_is_one_sentence(tmp_path: Path) -> None:
    broken = tmp_path / "reader.onnx"
    broken.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        TrainedReader(broken, resolve_model_path(DEFAULT_EMBEDDING_MODEL) / "tokenizer.json")


def test_trained_reader_picks_a_span_inside_the_sentence(reader: TrainedReader) -> None:
    sentence = "The planner chooses the cheapest plan for each query."
    context, start = context_of("Queries arrive as text.", sentence, "Then the executor runs it.")
    [(logit, span)] = reader.scores("What does the planner choose?", [(context, start, start + len(sentence))])
    assert span is not None
    assert start <= span[0] < span[1] <= start + len(sentence)
    assert isinstance(logit, float)


def test_trained_reader_rereads_the_top_sentences_into_a_band(reader: TrainedReader) -> None:
    ranked = [
        Candidate(0, 1, "The planner chooses the cheapest plan for each query.", ()),
        Candidate(0, 0, "Queries arrive as text.", ()),
        Candidate(1, 4, "Backups run every night at two.", ()),
    ]
    reread = reader.reread("What does the planner choose?", ranked, Bands(answer=0.7, possibly=0.4))
    assert reread is not None
    assert reread.best in ranked
    assert 0.0 <= reread.confidence <= 1.0
    assert reread.band in BANDS
    assert reread.short_answer is None or reread.short_answer in reread.best.text
    assert reader.reread("What does the planner choose?", [], Bands(answer=0.7, possibly=0.4)) is None


def test_engine_with_trained_reader_and_no_weights_says_how_to_build_them(bundled_index: Any, embedder: Any,
                                                                            tmp_path: Path) -> None:
    from rag import Engine

    settings = bundled_index.model_copy(update={"reader": "trained", "reader_path": tmp_path / "absent.onnx"})
    with pytest.raises(ModelLoadError, match=r"python -m train\.reader"):
        Engine(settings, embedder).ask("When did the storm reach the coast?")


def test_engine_with_trained_reader_answers_in_a_band(bundled_index: Any, embedder: Any, tmp_path: Path) -> None:
    from rag import Engine

    target = tmp_path / "reader.onnx"
    _tiny_reader(target)
    settings = bundled_index.model_copy(update={"reader": "trained", "reader_path": target})
    answer = Engine(settings, embedder).ask("When did the storm reach the coast?")
    assert answer.band in BANDS
    assert 0.0 <= answer.confidence <= 1.0
    if not answer.abstained:
        assert answer.citations and (answer.short_answer is None or answer.short_answer in answer.answer)
