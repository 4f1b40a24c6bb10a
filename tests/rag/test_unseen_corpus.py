"""The engine on a document the fitted models never saw: short answers, bands and abstention."""

from __future__ import annotations

import pytest

from corpusqa.settings import Settings, load_settings
from rag import Engine
from rag.extractive import ABSTAIN_TEXT

# Written for this test; no eval corpus holds it, so rag/fitted.json was fitted without it.
DOCUMENT = """\
The Harwick Point Lighthouse

The Harwick Point Lighthouse stands on a granite headland north of the fishing town of Eldmouth.
It was designed by the engineer Margaret Osgood, who also built two bridges over the river Tell.
The tower was first lit on 14 October 1872, after four years of work on the rock.
Its lantern burned whale oil until 1911, when the keepers switched to paraffin.
The light could be seen from 22 nautical miles away in clear weather.
Three keepers lived at the station with their families, and a supply boat called every Thursday.
The station was automated in 1986 and the last keeper, Thomas Reddle, moved to Eldmouth.

Visiting the lighthouse

The tower is open to visitors from April to September.
A ticket costs 6 pounds for adults, and children under twelve enter free.
The climb to the gallery takes 142 steps.
The old keepers' cottages now house a small museum run by the Eldmouth Historical Society.
The museum's collection has three parts:

- the original Fresnel lens of 1872
- the keepers' logbooks
- a model of the supply boat
"""


@pytest.fixture(scope="module")
def unseen_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("unseen")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "lighthouse.md").write_text(DOCUMENT, encoding="utf-8")
    settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    return settings


@pytest.fixture
def unseen(unseen_index: Settings, embedder) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(unseen_index, embedder)


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("When was the Harwick Point Lighthouse first lit?", "14 October 1872"),
        ("Who designed the Harwick Point Lighthouse?", "Margaret Osgood"),
        ("How many steps does the climb to the gallery take?", "142"),
        ("In what year was the station automated?", "1986"),
        ("How far away could the light be seen?", "22 nautical miles"),
    ],
)
def test_unseen_corpus_short_answer_leads(unseen: Engine, question: str, short: str) -> None:
    answer = unseen.ask(question)
    assert answer.band in ("answer", "possibly"), (question, answer.confidence)
    assert not answer.abstained
    assert answer.short_answer == short
    sentence = answer.citations[0].highlight
    assert short in sentence and sentence in answer.citations[0].text
    assert answer.answer.removeprefix("Possibly: ").startswith(f"{short} — “{sentence}”")


def test_unseen_corpus_lead_in_answer_carries_its_list(unseen: Engine) -> None:
    # a sentence ending in a colon is answered with what it introduces, not as a dangling "... parts:"
    answer = unseen.ask("Which parts does the museum's collection have?")
    assert not answer.abstained
    highlight = answer.citations[0].highlight
    assert highlight.startswith("The museum's collection has three parts:")
    assert "Fresnel lens" in highlight and "supply boat" in highlight
    assert highlight in answer.citations[0].text


def test_lead_in_end_stops_at_the_word_budget() -> None:
    from rag.reader.sentences import LEAD_IN_WORDS, _lead_in_end

    long_item = " ".join(["word"] * LEAD_IN_WORDS) + "."
    text = f"Options are: A one. {long_item} Last one."
    sentences = ((0, 12), (13, 19), (20, 20 + len(long_item)), (21 + len(long_item), len(text)))
    assert _lead_in_end(text, sentences, 0) == 19  # the next item fits, the long one would not
    assert _lead_in_end(text, sentences, 1) == 19  # not a lead-in: its own end
    assert _lead_in_end("Only: x", ((0, 7),), 0) == 7  # nothing follows in the passage
    plain = f"Intro: {long_item}"
    assert _lead_in_end(plain, ((0, 6), (7, len(plain))), 0) == len(plain)  # at least one sentence


def test_unseen_corpus_what_question_gets_a_short_answer(unseen: Engine) -> None:
    # an untyped "what" question: the span model (rag.reader.span) gives the phrase, not the whole sentence
    answer = unseen.ask("What do the old keepers' cottages house now?")
    assert not answer.abstained
    assert answer.short_answer is not None and "museum" in answer.short_answer
    assert len(answer.short_answer) < len(answer.citations[0].highlight)
    assert answer.answer.removeprefix("Possibly: ").startswith(f"{answer.short_answer} — “")


def test_unseen_corpus_span_under_the_threshold_gives_the_sentence(unseen: Engine, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # the rule for giving none: a span model whose threshold no span reaches leaves the sentence alone
    import json

    from rag.reader import span
    from rag.reader.span import FITTED_SPANS_PATH, load_span_model

    raw = json.loads(FITTED_SPANS_PATH.read_text(encoding="utf-8"))
    raw["threshold"] = 1.01
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setattr(span, "load_span_model", lambda: load_span_model(strict))
    answer = unseen.ask("What do the old keepers' cottages house now?")
    assert answer.short_answer is None
    assert "museum" in answer.answer and " — “" not in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "What is the boiling point of mercury in kelvin?",
        "Which football club won the 2018 league title?",
    ],
)
def test_unseen_corpus_abstains_out_of_scope(unseen: Engine, question: str) -> None:
    answer = unseen.ask(question)
    assert answer.band == "abstain" and answer.abstained
    assert answer.answer == ABSTAIN_TEXT and answer.citations == []
    assert answer.retrieved, "the closest passages are still shown"


def test_unseen_corpus_json_bands_agree(unseen: Engine) -> None:
    for question in ("Who designed the Harwick Point Lighthouse?", "What is the boiling point of mercury in kelvin?"):
        data = unseen.ask(question).to_json()
        assert data["band"] in ("answer", "possibly", "abstain")
        assert data["abstained"] is (data["band"] == "abstain")
        assert 0.0 <= data["confidence"] <= 1.0
        assert "short_answer" in data


def test_unseen_corpus_thresholds_from_settings(unseen_index: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    never = Engine(unseen_index.model_copy(update={"abstain_threshold": 1.0}), embedder)
    assert never.ask("Who designed the Harwick Point Lighthouse?").band == "abstain"
    always = Engine(unseen_index.model_copy(update={"abstain_threshold": 0.0, "answer_threshold": 0.0}), embedder)
    assert always.ask("What is the boiling point of mercury in kelvin?").band == "answer"


def test_unseen_corpus_wrapped_sentence_is_quoted_on_one_line(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manual.txt").write_text(
        "TIDE GAUGE MANUAL\n\n1. Setup\n\nThe gauge records the water level every six minutes and keeps\n"
        "the readings of the last 400 days in its memory.\n",
        encoding="utf-8",
    )
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    engine = Engine(settings, embedder)
    engine.ingest([corpus])
    answer = engine.ask("How many days of readings does the gauge keep in its memory?")
    assert not answer.abstained, answer.answer
    assert "keeps the readings" in answer.answer and "\n" not in answer.answer
    assert " ".join(answer.citations[0].highlight.split()) in answer.answer  # the citation keeps the file's own text
