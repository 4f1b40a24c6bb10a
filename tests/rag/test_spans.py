"""The short-answer span model: candidates, features, the rule for giving none, the fitted file."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from ingest.text import annotate
from rag.reader.fitted import LinearModel
from rag.reader.question import _NOUN_TYPES, analyse_question
from rag.reader.span import (
    FITTED_SPANS_PATH,
    SpanModel,
    balanced,
    best_span,
    described_person,
    load_span_model,
    short_span,
    span_candidates,
    span_feature_names,
)

# General English sentences written for these tests (no eval corpus text).
CASES = [
    ("When did the museum open?", "The museum opened in June 1931 after years of delay.", {"June 1931"}),
    ("How long did the voyage take?", "The voyage took three weeks because of the storms.", {"three weeks"}),
    ("Who designed the lighthouse?", "The lighthouse was designed by the engineer Thomas Reed and built in 1870.", {"Thomas Reed"}),
    ("Where did the orchestra perform?", "The orchestra performed in Oslo and later in Bergen.", {"Oslo", "Oslo and later in Bergen"}),
    ("Which instrument did Clara play?", "Clara played the cello in the city orchestra for ten years.", {"the cello", "cello"}),
    ("What does the pump use to cool the engine?", "The pump uses cold sea water to cool the engine.", {"cold sea water", "sea water"}),
    ("How many bridges cross the river?", "Seven bridges cross the river near the old town.", {"Seven", "Seven bridges"}),
]


@pytest.mark.parametrize(("question", "sentence", "expected"), CASES)
def test_short_span_answers_what_which_who_when_where_how(question: str, sentence: str, expected: set[str]) -> None:
    assert short_span(sentence, annotate([sentence])[0], analyse_question(question)) in expected


def test_span_candidates_leave_out_the_question_and_the_whole_sentence() -> None:
    sentence = "The committee published a short report on river pollution in 1998."
    found = span_candidates(sentence, annotate([sentence])[0], analyse_question("What did the committee publish?"))
    texts = {c.text for c in found}
    assert "1998" in texts and "a short report on river pollution" in texts
    assert "The committee" not in texts  # only the question's own words
    assert not any(c.text.rstrip(".") == sentence.rstrip(".") for c in found)
    assert not any(re.match(r"(in|on|of)\b", c.text) for c in found)  # no leading preposition
    assert all(set(c.features) <= set(span_feature_names()) for c in found)
    entity = next(c for c in found if c.text == "1998")
    assert entity.features["is_ent"] == 1.0 and entity.features["kind=date"] == 1.0


def test_no_span_candidate_opens_or_closes_a_bracket_across_its_edge() -> None:
    sentence = "The release (version 4.2, from 2019) added a faster parser [see Parsers], page 12 of the guide."
    found = span_candidates(sentence, annotate([sentence])[0], analyse_question("Which release added a faster parser?"))
    texts = {c.text for c in found}
    assert texts and all(balanced(text) for text in texts)
    assert any("(" in text for text in texts)  # a whole bracketed phrase stays a candidate
    assert balanced("f(n) in [a, b]") and not balanced("Parsers], page 12") and not balanced("version 4.2 (from") and not balanced(")(")


@pytest.mark.parametrize(
    ("question", "sentence", "describing"),
    [
        # a title before the name, an apposition after it, the predicate of a copula
        ("Who is Mira Holt?", "The harbour master Mira Holt met the ferry captain Jonas Berg on the pier.", {"The harbour master", "harbour master"}),
        ("Who was Jonas Berg?", "Mira Holt greeted Jonas Berg, a retired ferry captain, at the gate.", {"a retired ferry captain"}),
        ("Who is Mira Holt?", "Mira Holt is the harbour master of Eastport.", {"the harbour master", "the harbour master of Eastport"}),
    ],
)
def test_who_is_a_person_is_answered_by_what_the_sentence_calls_them_never_by_another_name(
    question: str, sentence: str, describing: set[str]
) -> None:
    found = span_candidates(sentence, annotate([sentence])[0], analyse_question(question))
    texts = {c.text.strip(" ,") for c in found}
    assert texts and texts <= describing | {"harbour", "master", "captain", "ferry captain", "retired ferry captain"}
    assert not texts & {"Jonas Berg", "Mira Holt", "the ferry captain Jonas Berg", "Eastport", "the pier"}
    # a person with no description in the sentence: no short answer, the sentence answers
    other = "A meeting was held between Mr. Mira Holt and Mr. Jonas Berg on Monday."
    assert short_span(other, annotate([other])[0], analyse_question("Who is Mira Holt?")) is None
    # asked anything more than who the person is, the spans are the usual ones
    assert described_person(analyse_question("Who did Mira Holt meet on the pier?")) == set()


def test_no_span_candidate_hands_back_a_name_the_question_gives() -> None:
    sentence = "The harbour master Mira Holt, seen on Monday, signed the ferry contract with Eastport."
    found = span_candidates(sentence, annotate([sentence])[0], analyse_question("What did Mira Holt sign?"))
    texts = {c.text for c in found}
    assert "the ferry contract" in texts
    assert not any("Mira Holt" in text for text in texts)  # "The harbour master Mira Holt, seen on Monday" was one
    assert "Eastport" in texts  # a name the question does not give stays


def _model(threshold: float) -> SpanModel:
    names = span_feature_names()
    coef = tuple(1.0 if name == "type_match" else 0.0 for name in names)
    return SpanModel(LinearModel(names, (0.0,) * len(names), (1.0,) * len(names), coef, 0.0), threshold)


def test_best_span_scores_by_the_model_and_the_threshold_rule_gives_none(tmp_path: Path) -> None:
    sentence = "The bridge was finished in May 1904 by a local firm."
    analysis = analyse_question("When was the bridge finished?")
    text, score = best_span(sentence, annotate([sentence])[0], analysis, _model(0.5)) or ("", 0.0)
    assert text == "May 1904" and score == pytest.approx(1 / (1 + math.exp(-1)))
    # the same sentence under a file whose threshold the best score cannot reach: no short answer
    raw = json.loads(FITTED_SPANS_PATH.read_text(encoding="utf-8"))
    raw["threshold"] = 1.01
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(raw), encoding="utf-8")
    model = load_span_model(strict)
    assert model.threshold == 1.01
    found = best_span(sentence, annotate([sentence])[0], analysis, model)
    assert found is not None and found[1] < model.threshold


def test_shipped_span_model_loads_with_its_rule_and_figures() -> None:
    raw = json.loads(FITTED_SPANS_PATH.read_text(encoding="utf-8"))
    assert {"fitted", "protocol", "rule", "threshold", "model", "figures"} <= set(raw)
    assert "leave-one-corpus-out" in raw["protocol"]
    model = load_span_model()
    assert model.model.features == span_feature_names()
    assert 0.0 < model.threshold < 1.0
    assert set(raw["figures"]) == {"news", "squad2-complexity", "sqlite-docs", "bash-manual"}


# General English that some questions capitalise: a preposition, the answer-type nouns, `python -m` in a
# docstring, and a comment's made-up example ("the council X speaks for").
GENERAL = {"among", "python", "council"} | set(_NOUN_TYPES)


def test_span_module_holds_no_corpus_vocabulary() -> None:
    # Distinctive words of each eval corpus's questions must not appear in the engine's span code.
    root = Path(__file__).resolve().parents[2]
    code = "\n".join((root / "rag" / "reader" / name).read_text(encoding="utf-8").lower() for name in ("span.py", "question.py", "syntax.py"))
    code_words = set(re.findall(r"[a-z]+", code))
    for corpus in (root / "evals" / "corpora").iterdir():
        questions = corpus / "questions.jsonl"
        if not questions.is_file():
            continue
        names = set()
        for line in questions.read_text(encoding="utf-8").splitlines():
            # capitalised words inside a question (not its first word): the corpus's names
            names |= {w.lower() for w in re.findall(r"(?<=[a-z,] )[A-Z][a-z]{4,}\b", json.loads(line)["question"])}
        leaked = names & code_words - GENERAL
        assert not leaked, f"{corpus.name}: {sorted(leaked)}"


def test_parse_sentence_parses_without_touching_the_shared_pipeline() -> None:
    from ingest.text import nlp
    from rag.reader.syntax import parse_sentence

    doc = parse_sentence("The museum opened in June 1931.")
    assert [t.dep_ for t in doc][:3] == ["det", "nsubj", "ROOT"]
    assert "ner" in nlp().pipe_names and [e.text for e in nlp()("Anna moved to Paris.").ents] == ["Anna", "Paris"]


def test_a_short_answer_wrapped_across_lines_is_shown_on_one() -> None:
    from corpusqa.types import Chunk, ScoredChunk
    from rag.answer_shape import extractive_answer
    from rag.extractive import ExtractiveResult
    from rag.reader.sentences import Candidate

    text = "The variable sets a maximum\nfunction nesting level for the shell."
    chunk = Chunk("c1", text, "manual.txt", "Manual", "article", 1, 2, 0, len(text), "h", sentences=((0, len(text)),))
    best = Candidate(0, 0, text, ())
    result = ExtractiveResult(best, "a maximum\nfunction nesting level", 0.5, "possibly", [best])
    answer = extractive_answer("What does the variable set?", result, [ScoredChunk(chunk, 1.0)])
    assert answer.short_answer == "a maximum function nesting level"
    assert answer.answer.startswith("Possibly: a maximum function nesting level — “The variable sets a maximum function")
