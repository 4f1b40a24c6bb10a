"""`python -m evals.fit_spans` runs end to end on a slice of a real corpus and writes a loadable model."""

from __future__ import annotations

import json
from pathlib import Path

from corpusqa.settings import load_settings
from evals.fit_spans import _Answered, choose_threshold, main, score_spans
from rag.reader.span import load_span_model, span_feature_names


def test_choose_threshold_maximises_mean_f1() -> None:
    rows = [
        _Answered("c", True, True, 0.2, 1.0, 0.9, "a"),  # a good span with a high score
        _Answered("c", True, True, 0.2, 0.0, 0.3, "b"),  # a wrong span with a low score: keep the sentence
        _Answered("c", True, False, 0.1, 0.0, 0.1, "c"),
    ]
    threshold = choose_threshold(rows)
    assert 0.3 < threshold <= 0.9
    figures = score_spans(rows, threshold)
    assert figures["f1"] == round((1.0 + 0.2 + 0.1) / 3, 4)
    assert figures["short_share"] == round(1 / 3, 4)
    assert figures["f1_sentence_right"] == 0.6 and figures["f1_sentence_wrong"] == 0.1


def test_fit_spans_main_writes_a_loadable_model(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "spans.json"
    settings = load_settings(index_dir=tmp_path / "index")
    assert main(["--only", "news", "--limit", "12", "--out", str(out)], settings) == 0
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert raw["dev_sentences"] > 0 and "rule" in raw
    model = load_span_model(out)
    assert model.model.features == span_feature_names()
    assert (tmp_path / "index" / "fit" / "news.features.pickle").is_file()  # the features it asked for, cached
