"""Answer types of questions, range merging, and the short span of a sentence that answers."""

from __future__ import annotations

import pytest

from ingest.text import annotate, terms, words
from rag.reader.question import analyse_question
from rag.reader.span import short_span


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many Taliban prisoners were held in total?", "number"),
        ("How much did the bridge cost?", "number"),
        ("How long did the siege last?", "duration"),
        ("How often does the ferry leave the harbour?", "frequency"),
        ("When did the council sign the decree?", "date"),
        ("In what year was the theorem proved?", "date"),
        ("On what date was the deal signed?", "date"),
        ("Who wrote the report?", "agent"),
        ("Which scientist proposed the model?", "person"),
        ("Where did the talks take place?", "place"),
        ("In which city did they rally?", "place"),
        ("Which company built the engine?", "organisation"),
        ("What percentage of voters agreed?", "percent"),
        ("What is the name of the river?", "named"),
        ("Why did the committee resign?", None),
        ("What did the mayor say about the plan?", None),
        # the question word of the main clause, not of a fronted "when"/"where" clause before a comma
        ("When the museum opens, which city hosts the fair?", "place"),
        ("When the talks ended, who signed the decree?", "agent"),
        ("Where the river bends, what year was the bridge built?", "date"),
        ("When the votes were counted, how many seats did the party win?", "number"),
        # "what X Y": the head noun, past a name used as a modifier
        ("What Python version is required by the library?", "number"),
    ],
)
def test_analyse_question_answer_type(question: str, kind: str | None) -> None:
    assert analyse_question(question).answer_type == kind


def test_a_fronted_clause_does_not_set_the_question_word() -> None:
    assert analyse_question("When the museum opens, which door do visitors use?").wh == "which"
    assert analyse_question("When does the museum open, and which door do visitors use?").wh == "when"


def test_analyse_question_constraints_and_negation() -> None:
    analysis = analyse_question("Which country did not sign the treaty in 1999?")
    assert analysis.negated
    assert ("1999", "DATE") in analysis.entities
    assert not any("which" in text.lower() for text, _ in analysis.entities)
    assert not analyse_question("Which country signed the treaty in 1999?").negated


def test_annotate_merges_number_ranges() -> None:
    spans = annotate(["Between 5 and 7 ships and 13,000 to 14,000 sailors sailed in March 2020."])[0]
    texts = {"Between 5 and 7 ships and 13,000 to 14,000 sailors sailed in March 2020."[s:e] for s, e, _ in spans}
    assert "13,000 to 14,000" in texts
    assert "Between 5 and 7" in texts  # spaCy keeps this range whole itself
    assert "March 2020" in texts


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        (
            "How many Taliban prisoners were held in total?",
            (
                "The Taliban wanted 5,000 of its prisoners to be released by the government--out of 13,000 to 14,000 "
                "prisoners--on the day of the talks."
            ),
            "13,000 to 14,000",
        ),
        ("When was the harbour reopened?", "The harbour was reopened on 3 May 1921 after repairs.", "3 May 1921"),
        ("Who founded the observatory?", "The observatory was founded by Maria Keller in Vienna.", "Maria Keller"),
        ("Where is the observatory?", "The observatory stands in Vienna, founded by Maria Keller.", "Vienna"),
        ("What percentage of the grain was lost?", "About 40% of the grain was lost to the flood.", "About 40%"),
        # the only name is the one the question gives, and the rest is the whole sentence: no short answer
        ("Who did Maria Keller marry?", "Maria Keller never married.", None),
    ],
)
def test_short_span(question: str, sentence: str, expected: str | None) -> None:
    spans = annotate([sentence])[0]
    assert short_span(sentence, spans, analyse_question(question)) == expected


def test_terms_and_words_share_one_tokeniser() -> None:
    assert words("The 13,000 prisoners' release") == ["the", "13000", "prisoners", "release"]
    assert terms("The prisoners were released") == ["prison", "releas"]
