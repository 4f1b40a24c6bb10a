"""The grounding check: replies real models write, from a real local OpenAI-protocol server, through the
real Engine over the bundled index; each gets the verdict it must get (issue #12)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import EXAMPLE_QUESTION
from support.openai_server import FakeOpenAIServer

from corpusqa.errors import LLMError
from corpusqa.types import Answer
from rag import Engine
from rag.citations import canonical_markers, split_claims
from rag.extractive import ABSTAIN_TEXT
from rag.facts import claim_facts, missing_facts
from rag.grounding import THRESHOLDS, UNSUPPORTED_MARK, support

# A passage of the bundled corpus states each phrase; `{n:PHRASE}` makes the server cite it.
NUMBERS = "{n:13,000 to 14,000}"
EXCHANGE = "{n:in exchange for engaging}"

# Correct answers as models write them: quoted, shortened, paraphrased, split in two claims.
SUPPORTED_SCRIPTS = [
    f"Between 13,000 and 14,000 prisoners were held, and the Taliban wanted 5,000 of them released [{NUMBERS}].",
    (
        f"Khalilzad said the Taliban demanded the release of 5,000 prisoners in exchange for talks with the Afghan "
        f"side [{EXCHANGE}]. The government held 13,000 to 14,000 prisoners [{NUMBERS}]."
    ),
    f"The government held 13,000 to 14,000 prisoners in total, according to passage {NUMBERS}.",
]
# Inventions behind valid markers, as the issue saw them from a 1.5B model.
INVENTED_SCRIPTS = [
    ("The population of Kabul is 2.4 million people, as stated in [1].", "“2.4 million”"),
    ("The Taliban's supreme leader is Khalilzad. [{n:Khalilzad}]", "no sentence of"),
    ("The US won the 2020 United States presidential election. This can be seen from passage [{n:Taliban}].", "not in"),
    (f"The government held 31,000 prisoners [{NUMBERS}].", "“31,000”"),
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def _llm(engine: Engine, server: FakeOpenAIServer) -> Engine:
    return engine.with_settings(
        backend="openai", openai_base_url=server.base_url, openai_model="fake-model", llm_timeout=10.0
    )


def _ask(engine: Engine, server: FakeOpenAIServer, mode: str, script: str = "") -> tuple[list[str], Answer]:
    server.mode, server.script = mode, script
    events = list(_llm(engine, server).stream(EXAMPLE_QUESTION))
    answer = events[-1]
    assert isinstance(answer, Answer)
    return [event for event in events if isinstance(event, str)], answer


def _assert_supported(answer: Answer) -> None:
    assert not answer.abstained and not answer.unsupported, answer.claims
    assert answer.claims and all(claim.supported for claim in answer.claims)
    assert UNSUPPORTED_MARK not in answer.answer
    by_id = {citation.id: citation for citation in answer.citations}
    for claim in answer.claims:
        assert claim.evidence and claim.evidence_id in claim.citations
        # every supported claim has its sentence highlighted in the cited passage
        assert claim.evidence in by_id[claim.evidence_id].text
    assert any(citation.highlight for citation in answer.citations)


def _assert_abstained(answer: Answer, reason: str) -> None:
    assert answer.abstained and answer.unsupported
    assert answer.answer == ABSTAIN_TEXT and answer.citations == []
    assert answer.model_answer and answer.retrieved, "the model's text and the closest passages stay available"
    assert answer.claims and not any(claim.supported for claim in answer.claims)
    assert all(claim.evidence is None for claim in answer.claims)
    assert any(reason in claim.reason for claim in answer.claims), [c.reason for c in answer.claims]


def test_grounding_supports_a_correct_cited_answer(engine: Engine, server: FakeOpenAIServer) -> None:
    deltas, answer = _ask(engine, server, "normal")
    _assert_supported(answer)
    assert len(answer.claims) == 1
    # tokens stream as they come; a reply that holds needs no note after it
    assert "".join(deltas) == answer.answer and len(deltas) > 2
    data = answer.to_json()
    assert data["claims"] == [claim.to_json() for claim in answer.claims]
    assert data["claims"][0]["supported"] is True and data["unsupported"] is False
    assert set(data["claims"][0]) >= {"text", "citations", "supported", "evidence"}


@pytest.mark.parametrize("script", SUPPORTED_SCRIPTS)
def test_grounding_supports_paraphrased_answers(engine: Engine, server: FakeOpenAIServer, script: str) -> None:
    _, answer = _ask(engine, server, "script", script)
    _assert_supported(answer)


@pytest.mark.parametrize(("script", "reason"), INVENTED_SCRIPTS)
def test_grounding_never_supports_an_invention_behind_a_valid_marker(
    engine: Engine, server: FakeOpenAIServer, script: str, reason: str
) -> None:
    deltas, answer = _ask(engine, server, "script", script)
    _assert_abstained(answer, reason)
    assert deltas[-1].strip().startswith("Not supported by the documents")
    assert answer.to_json()["model_answer"] == answer.model_answer


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("made_up_number", "not in"), ("wrong_passage_name", "not in"), ("uncited_paraphrase", "no citation")],
)
def test_grounding_rejects_scripted_failures(engine: Engine, server: FakeOpenAIServer, mode: str, reason: str) -> None:
    _, answer = _ask(engine, server, mode)
    _assert_abstained(answer, reason)


@pytest.mark.parametrize("mode", ["cite_list", "cite_adjacent", "cite_range", "cite_passage", "cite_source"])
def test_grounding_reads_every_citation_format(engine: Engine, server: FakeOpenAIServer, mode: str) -> None:
    _, answer = _ask(engine, server, mode)
    _assert_supported(answer)
    assert answer.citations and all(f"[{c.id}]" in answer.answer for c in answer.citations)


def test_grounding_marks_only_the_failing_claim(engine: Engine, server: FakeOpenAIServer) -> None:
    script = f"{SUPPORTED_SCRIPTS[0]} Kabul has 2.4 million people [{NUMBERS}]."
    deltas, answer = _ask(engine, server, "script", script)
    assert not answer.abstained and answer.unsupported
    assert [claim.supported for claim in answer.claims] == [True, False]
    assert answer.answer.count(UNSUPPORTED_MARK) == 1 and answer.answer.endswith(UNSUPPORTED_MARK)
    assert answer.citations[0].highlight == answer.claims[0].evidence
    assert "1 of 2 claims supported" in deltas[-1]


def test_grounding_mid_stream_disconnect_is_an_error_not_an_answer(engine: Engine, server: FakeOpenAIServer) -> None:
    server.mode = "disconnect"
    events: list[object] = []
    with pytest.raises(LLMError) as info:
        events.extend(_llm(engine, server).stream(EXAMPLE_QUESTION))
    assert events and all(isinstance(event, str) for event in events), "part of the reply streamed, no verdict"
    assert "broke off its reply midway" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "clean", "cited"),
    [
        ("A [1].", "A [1].", [1]),
        ("A [1, 2].", "A [1][2].", [1, 2]),
        ("A [1][2].", "A [1][2].", [1, 2]),
        ("A [1-3].", "A [1][2][3].", [1, 2, 3]),
        ("A [2–4].", "A [2][3][4].", [2, 3, 4]),
        ("As passage 2 says, A.", "As passage [2] says, A.", [2]),
        ("A (Source 3).", "A [3].", [3]),
        ("A (source 9).", "A.", []),
        ("A [1-300].", "A.", []),
        ("A (see 1). A {1}. A source: 2.", "A (see 1). A {1}. A source: 2.", []),
    ],
)
def test_canonical_markers_reads_the_formats_models_write(text: str, clean: str, cited: list[int]) -> None:
    assert canonical_markers(text, 5) == (clean, cited)


def test_split_claims_attaches_pointer_sentences_and_skips_abstentions() -> None:
    text, _ = canonical_markers(
        "The US won. This can be seen from passage [2]. Talks begin in March. [1] The documents do not say more.", 3
    )
    claims = split_claims(text)
    assert [(claim.core, claim.citations) for claim in claims] == [("The US won", (2,)), ("Talks begin in March", (1,))]


@pytest.mark.parametrize(
    ("claim", "passage", "missing"),
    [
        ("The envoy met 13000 prisoners.", "The envoy met 13,000 prisoners.", []),
        ("They met on Feb. 29.", "They met on February 29.", []),
        ("The city has 2.4 million people.", "The city has 2,400,000 people.", []),
        ("Five thousand were freed.", "5,000 were freed.", []),
        ("They met on March 29.", "They met on February 29.", ["March"]),
        ("The city has 2.4 million people.", "The city has 2.4 percent of people.", ["2.4 million"]),
        ("Zalmay Khalilzad spoke.", "Khalilzad spoke.", ["Zalmay"]),
        ("President Ghani of the U.S. spoke.", "Ghani of the US spoke.", []),
    ],
)
def test_missing_facts_normalises_numbers_dates_and_names(claim: str, passage: str, missing: list[str]) -> None:
    assert missing_facts(claim_facts([claim])[0], [passage]) == missing


def test_thresholds_separate_the_scripted_replies(engine: Engine, embedder) -> None:  # type: ignore[no-untyped-def]
    """The table the thresholds were chosen from: supported scripts clear both bounds, borrowed-name inventions do not."""
    retrieved = engine.retrieve(EXAMPLE_QUESTION)
    snapshot = engine._current()
    vectors = snapshot.store.sentence_vectors([scored.chunk for scored in retrieved])
    texts = [" ".join(scored.chunk.text.split()) for scored in retrieved]

    def verdicts(script: str) -> list[tuple[bool, float, float, str]]:
        # resolve {n:PHRASE} as the server does
        import re

        def number(match: re.Match[str]) -> str:
            hit = [i for i, text in enumerate(texts, 1) if (match.group(2).lower() in text.lower()) == (match.group(1) == "n")]
            return str(hit[0]) if hit else "99"

        text, _ = canonical_markers(re.sub(r"\{(n|not):([^}]*)\}", number, script), len(retrieved))
        claims = split_claims(text)
        out = []
        for claim, facts in zip(claims, claim_facts([c.core for c in claims])):
            result = support(claim, facts, embedder.embed_query, retrieved, vectors, snapshot.keyword.idf, always_embed=True)
            out.append((result.supported, result.similarity, result.overlap, claim.core))
        return out

    rows = [("supported", row) for script in SUPPORTED_SCRIPTS for row in verdicts(script)]
    rows += [("invented", row) for script, _ in INVENTED_SCRIPTS for row in verdicts(script)]
    print(f"\nthresholds: similarity >= {THRESHOLDS.min_similarity}, overlap >= {THRESHOLDS.min_overlap}")
    for group, (ok, similarity, overlap, core) in rows:
        print(f"{group:10} {'pass' if ok else 'fail'}  sim {similarity:.2f}  overlap {overlap:.2f}  {core[:70]}")
    assert all(ok for group, (ok, *_) in rows if group == "supported")
    assert not any(ok for group, (ok, *_) in rows if group == "invented")


def test_support_features_equal_the_extractive_features_of_a_parsed_claim(engine: Engine, embedder) -> None:  # type: ignore[no-untyped-def]
    """The check skips the claim's spaCy parse; the similarity and overlap it reads must equal what
    `candidates` gives for the same claim parsed as a question."""
    from rag.reader.sentences import candidates

    retrieved = engine.retrieve(EXAMPLE_QUESTION)
    snapshot = engine._current()
    vectors = snapshot.store.sentence_vectors([scored.chunk for scored in retrieved])
    text = " ".join(f"{' '.join(scored.chunk.text[a:b].split())} [{n}]" for n, scored in enumerate(retrieved, 1) for a, b in scored.chunk.sentences[:1])
    claims = split_claims(text)
    assert len(claims) == len(retrieved)
    for claim, facts in zip(claims, claim_facts([c.core for c in claims])):
        result = support(claim, facts, embedder.embed_query, retrieved, vectors, snapshot.keyword.idf, always_embed=True)
        cited = [retrieved[n - 1] for n in claim.citations]
        _, parsed = candidates(claim.core, embedder.embed_query(claim.core), cited, vectors, snapshot.keyword.idf)
        same = [c for c in parsed if c.text == result.evidence]
        assert same, claim.core
        assert same[0].features["dense"] == pytest.approx(result.similarity, abs=1e-6)
        assert same[0].features["lex"] == pytest.approx(result.overlap, abs=1e-9)


def test_claim_facts_proper_nouns_by_tag_equal_the_pipeline_part_of_speech(engine: Engine) -> None:
    """rag/facts.py reads NNP/NNPS tags instead of running the attribute ruler; on the bundled corpus
    every token it counts as a proper noun is PROPN by the full pipeline, and the other way round."""
    from ingest.text import nlp

    texts = [chunk.text for chunk in engine._current().store.all_chunks()]
    tokens = [(t.tag_ in ("NNP", "NNPS"), t.pos_ == "PROPN") for doc in nlp().pipe(texts) for t in doc]
    assert len(tokens) > 1000
    assert all(by_tag == by_pos for by_tag, by_pos in tokens)
