"""Weights saved on one machine (`train.reader --state-only`) become the ONNX reader here (`train.export`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpusqa.settings import DEFAULT_EMBEDDING_MODEL
from ingest.embedder import resolve_model_path
from rag.reader.trained import TrainedReader

torch = pytest.importorskip("torch")


def test_a_saved_fp16_state_exports_to_a_reader_that_loads(tmp_path: Path) -> None:
    from train.export import main
    from train.network import network

    torch.manual_seed(5)
    model = network()
    torch.save({k: v.half() for k, v in model.state_dict().items()}, tmp_path / "reader-state.pt")
    (tmp_path / "reader.json").write_text(json.dumps({"pairs_fitted": 0}), encoding="utf-8")
    result = CliRunner().invoke(main, [str(tmp_path / "reader-state.pt")])
    assert result.exit_code == 0, (result.output, repr(result.exception))
    record = json.loads((tmp_path / "reader.json").read_text(encoding="utf-8"))
    assert record["pairs_fitted"] == 0 and set(record["files"]) == {"reader-fp32.onnx", "reader-int8.onnx"}
    reader = TrainedReader(tmp_path / "reader-int8.onnx", resolve_model_path(DEFAULT_EMBEDDING_MODEL) / "tokenizer.json")
    found = reader.scores("What does the planner choose?", [("The planner chooses a plan.", 0, 27)])
    assert len(found) == 1 and found[0][1] is not None  # a logit and a span inside the sentence


def test_the_pack_travels_small_and_trains_the_same_network(tmp_path: Path) -> None:
    from train.network import network
    from train.pack import pack
    from train.reader import _read_rows

    rows = [{"question": "What runs?", "sentence": "The planner runs.", "label": 1}]
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    sizes = pack(data, tmp_path / "pack", tmp_path / "base")
    assert _read_rows(str(tmp_path / "pack" / "pairs.jsonl.gz")) == rows
    assert sizes["base_mb"] < 50  # fp16: half the packaged 87 MB
    carried, packaged = network(str(tmp_path / "base")), network()
    for (name, a), (_, b) in zip(carried.bert.state_dict().items(), packaged.bert.state_dict().items(), strict=True):
        assert a.dtype == torch.float32, name
        assert torch.allclose(a, b, atol=1e-2, rtol=1e-2), name  # fp16 rounding only
