"""Whether a supported claim of an LLM answer holds what its question asks for (issue #27).

A claim can be true and cited and still not answer: a "how many" question answered by a sentence without
a number, a "which X" question answered with another X of the passage. Two judgements, both needed:

1. the answer type (rag/reader/question.py): a question that expects a number or a date is answered only by a
   claim that adds one the question does not already hold; one that expects a person, a place, an
   organisation or a name, only by a claim that adds a name;
2. the extractive reader's own judgement of the claim's evidence sentence, over the passages the model was
   shown: the confidence the fitted model gives that sentence as the answer (rag/reader/confidence.py
   `confidence_row`, as if the reader had picked it) must reach the reader's "possibly" band; the reader must
   rank the sentence near its own pick (at least READER_SHARE of its score); and a negated question
   ("Which X did not ...?") needs a sentence with a negation. The band is used as fitted, not re-tuned
   here; READER_SHARE is a round half, chosen before the labelled replies were scored, not fitted to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from corpusqa.types import Claim, ScoredChunk
from ingest.text import entity_spans, nlp, words
from rag.citations import strip_markers
from rag.facts import numbers_in
from rag.reader.confidence import confidence_row
from rag.reader.fitted import Bands, Fitted
from rag.reader.question import TYPE_LABELS, QuestionAnalysis, analyse_question
from rag.reader.ranking import rank
from rag.reader.sentences import Candidate, candidates, typed_spans

__all__ = ["READER_SHARE", "holds_answer_type", "judge_answers", "reader_confidence"]

# Answer types a number in the claim satisfies (spaCy tags "the past 40 years" DATE, "five years" DATE).
_NUMERIC = frozenset({"number", "money", "percent", "duration", "frequency", "date"})
# Any name satisfies a question that asks for a person, a place, an organisation or a name: the small spaCy
# model tags many places and bodies ORG ("Capitol Hill"), so the type is a veto on claims without one,
# not a judge of which kind of name it is.
_NAMES = TYPE_LABELS["named"]
#: The reader must rank the evidence sentence at least this share of its own best sentence's score.
READER_SHARE = 0.5


def holds_answer_type(claim_text: str, analysis: QuestionAnalysis, evidence: Candidate | None = None) -> bool:
    """Whether the claim adds what the question's answer type needs (True when it asks for no type): a number
    or date for a numeric or date question, a name for the others; the claim's own entities count, and so
    do the evidence sentence's (tagged at ingest, in context) whose words the claim repeats."""
    if not analysis.labels:
        return True
    numeric = analysis.answer_type in _NUMERIC
    if numeric:
        asked = {value for _, value in numbers_in(analysis.text)}
        if any(value not in asked for _, value in numbers_in(claim_text)):
            return True
    wanted = analysis.labels if numeric else _NAMES
    typed = replace(analysis, answer_type="named" if not numeric else analysis.answer_type)
    if evidence is not None:  # the spans tagged at ingest first: no parse
        claim_words = set(words(claim_text))
        found = [(s, e, label) for s, e, label in evidence.spans if label in wanted]
        if any(set(words(evidence.text[s:e])) <= claim_words for s, e, _ in typed_spans(evidence.text, found, typed)):
            return True
    spans = [(s, e, label) for s, e, label in entity_spans(nlp()(claim_text)) if label in wanted]
    return bool(typed_spans(claim_text, spans, typed))


def reader_confidence(analysis: QuestionAnalysis, evidence: Candidate, ranked: list[Candidate], fitted: Fitted) -> float:
    """The reader's confidence that `evidence` answers the question, as if it had picked that sentence."""
    chosen = next((c for c in ranked if (c.chunk_index, c.sentence_index) == (evidence.chunk_index, evidence.sentence_index)), evidence)
    order = [chosen] + [c for c in ranked if c is not chosen]
    return fitted.confidence.probability(confidence_row(analysis, order))


def _reader_accepts(analysis: QuestionAnalysis, evidence: Candidate, ranked: list[Candidate], fitted: Fitted, floor: float) -> bool:
    """The reader's judgement of the evidence sentence: ranked near its own pick, confident enough (its
    "possibly" band), and negated where the question is.

    The rank comes first: the confidence model was fitted on the reader's own picks, and it rates a sentence
    the ranker put far down as if it were one (0.85 for a sentence with 1% of the ranker's share, measured
    2026-12-03), so it is read only for sentences the ranker put near the top."""
    if analysis.negated and evidence.features.get("neg_mismatch", 0.0):
        return False  # "Which X did not ...?" is answered by a sentence that says "not"
    if evidence.score < READER_SHARE * ranked[0].score:
        return False
    return reader_confidence(analysis, evidence, ranked, fitted) >= floor


def judge_answers(
    claims: list[Claim],
    question: str | QuestionAnalysis,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    fitted: Fitted,
    bands: Bands | None = None,
) -> list[Claim]:
    """The claims with `answers_question` set on each supported one (unsupported claims stay None)."""
    if not any(claim.supported for claim in claims):
        return claims
    analysis = question if isinstance(question, QuestionAnalysis) else analyse_question(question)
    analysis, found = candidates(analysis, vector, retrieved, sentence_vectors, idf)
    ranked = rank(found, fitted) if found else []
    floor = (bands or fitted.bands).possibly
    out = []
    for claim in claims:
        if not claim.supported or claim.evidence_id is None:
            out.append(claim)
            continue
        evidence = next(
            (c for c in ranked if c.chunk_index == claim.evidence_id - 1 and " ".join(c.text.split()) == " ".join((claim.evidence or "").split())),
            None,
        )
        read = evidence is not None and _reader_accepts(analysis, evidence, ranked, fitted, floor)
        out.append(replace(claim, answers_question=read and holds_answer_type(strip_markers(claim.text), analysis, evidence)))
    return out
