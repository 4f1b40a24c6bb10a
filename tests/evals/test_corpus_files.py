"""The shipped eval corpora are sound: counts, kinds, splits, and every evidence in its corpus's ingested chunks."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from corpusqa.settings import load_settings
from evals.corpora import CORPORA_DIR, corpus_names, load_corpus
from evals.metrics import normalise, supports
from evals.questions import TYPES, UNANSWERABLE_KINDS
from ingest.chunker import chunk_file
from ingest.loader import SUPPORTED_SUFFIXES, file_hash, read_file

# name: (at least this many questions, at least this many unanswerable); news and squad are fixed sets.
MINIMUM = {"news": (153, 42), "squad2-complexity": (418, 221), "sqlite-docs": (80, 30), "bash-manual": (60, 20)}
# Corpora whose every answerable question must carry hand-written rewordings (`paraphrases`, issue #22);
# add a corpus here when its rewordings land. Any other corpus with rewordings is checked as well.
PARAPHRASED = ("news", "sqlite-docs", "bash-manual", "squad2-complexity")


def _rows(name: str) -> list[dict[str, object]]:
    text = (CORPORA_DIR / name / "questions.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(normalise(phrase))}(?!\w)", normalise(text)) is not None


_WITH_PARAPHRASES = sorted(set(PARAPHRASED) | {n for n in corpus_names() if any("paraphrases" in r for r in _rows(n))})


def _chunk_texts(name: str) -> list[str]:
    corpus = load_corpus(name)
    chunk_tokens = load_settings().chunk_tokens
    texts = []
    for path in sorted(corpus.documents.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            data = path.read_bytes()
            loaded = read_file(data, path, path.relative_to(corpus.documents).as_posix(), 50 * 1024 * 1024)
            texts.extend(chunk.text for chunk in chunk_file(loaded, file_hash(data), chunk_tokens))
    return texts


def test_the_four_corpora_are_shipped_each_with_readme_docs_questions_and_gate() -> None:
    assert set(MINIMUM) <= set(corpus_names())
    for name in MINIMUM:
        folder = CORPORA_DIR / name
        assert (folder / "README.md").is_file() and (folder / "gate.toml").is_file(), name
        assert any(p.suffix.lower() in SUPPORTED_SUFFIXES for p in (folder / "docs").iterdir()), name


@pytest.mark.parametrize("name", sorted(MINIMUM))
def test_corpus_counts_kinds_and_balanced_splits(name: str) -> None:
    questions = load_corpus(name).questions
    unanswerable = [q for q in questions if not q.answerable]
    least, least_unanswerable = MINIMUM[name]
    assert len(questions) >= least and len(unanswerable) >= least_unanswerable
    assert len({q.id for q in questions}) == len(questions)
    assert len({q.question for q in questions}) == len(questions)
    assert all(q.unanswerable in UNANSWERABLE_KINDS and q.type == "unanswerable" and not q.accept for q in unanswerable)
    assert all(q.type in TYPES for q in questions)
    if name != "squad2-complexity":  # SQuAD 2.0 wrote every unanswerable question as a near miss
        assert set(Counter(q.unanswerable for q in unanswerable)) == set(UNANSWERABLE_KINDS)
    for group in ([q for q in questions if q.answerable], unanswerable):
        splits = Counter(q.split for q in group)
        assert set(splits) == {"dev", "test"} and abs(splits["dev"] - splits["test"]) <= max(2, len(group) // 20), splits


@pytest.mark.parametrize("name", sorted(MINIMUM))
def test_every_accept_is_in_its_evidence_and_every_evidence_in_one_chunk(name: str) -> None:
    texts = _chunk_texts(name)
    missing = []
    for q in load_corpus(name).questions:
        if not q.answerable:
            continue
        assert q.accept and any(normalise(a) in normalise(q.evidence or "") for a in q.accept), q.id
        if not any(supports(text, q.evidence) for text in texts):
            missing.append(q.id)
    assert missing == [], f"evidence not inside any ingested chunk of {name}: {missing}"


def test_new_corpora_have_varied_answer_types() -> None:
    for name in ("sqlite-docs", "bash-manual"):
        kinds = Counter(q.type for q in load_corpus(name).questions if q.answerable)
        assert {"numeric", "fact", "date", "person"} <= set(kinds), (name, kinds)


@pytest.mark.parametrize("name", _WITH_PARAPHRASES)
def test_paraphrases_are_two_or_more_distinct_rewordings_that_do_not_leak_the_answer(name: str) -> None:
    problems = []
    for row in _rows(name):
        paraphrases = row.get("paraphrases")
        if row["evidence"] is None and paraphrases is None:
            continue
        if not isinstance(paraphrases, list) or not all(isinstance(p, str) and p.strip() for p in paraphrases):
            problems.append((row["id"], "no list of rewordings"))
            continue
        question = str(row["question"])
        wordings = [normalise(question), *(normalise(p) for p in paraphrases)]
        if len(paraphrases) < 2 or len(set(wordings)) != len(wordings):
            problems.append((row["id"], "fewer than two distinct rewordings"))
        accept = [str(a) for a in row["accept"]]  # type: ignore[attr-defined]
        leaks = [p for p in paraphrases for a in accept if _mentions(p, a) and not _mentions(question, a)]
        if leaks:
            problems.append((row["id"], f"answer given away in {leaks}"))
    assert problems == []
