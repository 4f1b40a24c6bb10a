"""The bundled question set is well formed and every evidence string is really in the corpus."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import CORPUS_DIR

from corpusqa.errors import CorpusQAError
from evals.metrics import normalise
from evals.questions import BUNDLED_QUESTIONS, TYPES, load_questions

CORPUS = "\n".join(path.read_text(encoding="utf-8") for path in sorted(CORPUS_DIR.iterdir()))


def test_question_file_has_the_required_shape() -> None:
    lines = [json.loads(line) for line in BUNDLED_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) >= 60
    for raw in lines:
        keys = {"id", "question", "accept", "evidence", "type", "split"}
        assert set(raw) - {"paraphrases"} == (keys | {"unanswerable"} if raw["evidence"] is None else keys), raw
        assert raw["type"] in TYPES and raw["split"] in ("dev", "test")
    assert len({raw["id"] for raw in lines}) == len(lines)


def test_every_evidence_string_occurs_verbatim_in_the_corpus() -> None:
    for item in load_questions():
        if item.evidence is not None:
            assert item.evidence in CORPUS, item.id
            assert any(normalise(a) in normalise(item.evidence) for a in item.accept), item.id
        else:
            assert item.type == "unanswerable" and not item.accept, item.id


def test_question_set_covers_types_splits_and_unanswerables() -> None:
    items = load_questions()
    types = Counter(item.type for item in items)
    assert types["unanswerable"] >= 10
    assert all(types[kind] > 0 for kind in TYPES if kind != "squad")
    for split in ("dev", "test"):
        part = load_questions(split=split)
        assert sum(item.type == "unanswerable" for item in part) >= 5


def test_question_set_covers_every_article_and_comments() -> None:
    evidence_lines = set()
    corpus_lines = CORPUS.splitlines()
    for item in load_questions():
        if item.evidence:
            evidence_lines.update(n for n, line in enumerate(corpus_lines, start=1) if item.evidence in line)
    for start, end in ((4, 32), (33, 144), (145, 172), (173, 201)):
        assert any(start <= n <= end for n in evidence_lines), (start, end)
    comments = {1, 3, 31, 142, 144, 168, 170, 171, 172, 199, 201}
    assert len(evidence_lines & comments) >= 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "is not a valid question line"),
        ('{"question": "no id"}\n', "is not a valid question line"),
    ],
)
def test_load_questions_reports_bad_lines(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusQAError, match=message):
        load_questions(path)


def test_load_questions_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusQAError, match="No question file"):
        load_questions(tmp_path / "none.jsonl")
