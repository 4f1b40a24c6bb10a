"""Check every claim of an LLM answer against the passages it cites before it is shown as supported.

A claim (one sentence) holds when (1) every number, date and proper name in it appears in one of its
cited passages (rag/facts.py) and (2) one sentence of those passages is close to it: MiniLM
similarity and idf-weighted term overlap, the `dense` and `lex` features the extractive answerer
computes for a question and a sentence (rag/reader/sentences.py `candidates`, over ingest/text.py
`terms`/`stem` and the BM25 idf). One notion of "this sentence supports that", not two; `support`
is the one function to re-point when those features move to a shared module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from corpusqa.types import Claim, ScoredChunk
from ingest.keyword import terms
from ingest.text import words
from rag.citations import SplitClaim, split_claims
from rag.extractive import ABSTAIN_TEXT
from rag.facts import Facts, claim_facts, missing_facts
from rag.reader.question import QuestionAnalysis
from rag.reader.sentences import Candidate, candidates

__all__ = [
    "MAY_NOT_SAY",
    "NOT_ANSWERED_NOTE",
    "TERSE_TERMS",
    "THRESHOLDS",
    "UNSUPPORTED_MARK",
    "GroundingThresholds",
    "Support",
    "attribute",
    "check_claims",
    "mark_unsupported",
    "support",
    "verdict_note",
]

#: A claim of at most this many terms ("Jane Roe.", "Five years.") is judged together with its question.
TERSE_TERMS = 3

#: How a reply whose supported claims do not hold what the question asks for is shown (issue #27).
MAY_NOT_SAY = "The documents may not say; the model wrote:"
#: The note streamed after such a reply.
NOT_ANSWERED_NOTE = "The documents may not say: the passages support the reply, but it does not hold what the question asks for."

#: Put after each claim that failed the check, in the answer's text.
UNSUPPORTED_MARK = " [unsupported]"


@dataclass(frozen=True)
class GroundingThresholds:
    """How close a claim must be to one sentence of a cited passage."""

    min_similarity: float
    min_overlap: float


# Chosen on the test server's scripted replies (tests/support/openai_server.py; the table is printed by
# tests/rag/test_grounding.py::test_thresholds_separate_the_scripted_replies), never on eval questions,
# 2026-11-30. Correct claims, quoted or paraphrased, scored similarity 0.57-0.97 and term overlap
# 0.56-1.00 against their best sentence. Inventions that borrow a passage's words scored overlap
# 0.00-0.17 but similarity up to 0.62 (a passage's two names joined by an invented relation): MiniLM alone
# does not separate them, overlap does. The overlap bound sits near the middle of the gap (0.17-0.56);
# the similarity bound is a floor below every correct claim, for paraphrases that share words but
# not meaning. Numbers, dates and names are checked first and exactly (rag/facts.py).
THRESHOLDS = GroundingThresholds(min_similarity=0.5, min_overlap=0.4)


@dataclass(frozen=True)
class Support:
    """The verdict of `support` for one claim."""

    supported: bool
    evidence: str | None  # the closest sentence of a cited passage
    passage: int | None  # its citation number
    similarity: float
    overlap: float
    reason: str


def _label(numbers: tuple[int, ...]) -> str:
    return "".join(f"[{n}]" for n in numbers)


def _as_question(claim: SplitClaim) -> QuestionAnalysis:
    """The claim in the shape `candidates` reads, without a spaCy parse of its own.

    The check reads two features, `dense` (the claim's vector against a sentence's) and `lex` (idf-weighted
    term overlap), and both depend on the claim's text alone; the answer type, entities and negation a
    parse would give feed other features of the extractive ranker. The claim's names, numbers and dates
    are checked exactly by rag/facts.py. Parsing every claim here again cost ~6 ms a claim, twice.
    """
    return QuestionAnalysis(claim.core, None, (), False, "", frozenset(words(claim.core)))


def _with_similarity(
    ranked: list[Candidate], vector: np.ndarray, cited: list[ScoredChunk], sentence_vectors: dict[str, np.ndarray]
) -> list[Candidate]:
    """The candidates with `dense` filled in for the claim's vector: the one dot product `candidates`
    computes for it, so the term features of a claim are computed once, not again for its vector."""
    out = []
    for candidate in ranked:
        matrix = sentence_vectors.get(cited[candidate.chunk_index].chunk.id)
        dense = float(matrix[candidate.sentence_index] @ vector) if matrix is not None else 0.0
        out.append(replace(candidate, features={**candidate.features, "dense": dense}))
    return out


def support(
    claim: SplitClaim,
    facts: Facts,
    embed: Callable[[str], np.ndarray],
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    thresholds: GroundingThresholds = THRESHOLDS,
    *,
    always_embed: bool = False,
) -> Support:
    """Whether the passages a claim cites state its facts and hold a sentence close to it.

    The claim is embedded only when its facts and term overlap already pass (the MiniLM vector is most of
    the cost); `always_embed` computes the similarity anyway, for reports.
    """
    if not claim.citations:
        return Support(False, None, None, 0.0, 0.0, "no citation")
    cited = [retrieved[number - 1] for number in claim.citations]
    missing = missing_facts(facts, [f"{scored.chunk.title}\n{scored.chunk.text}" for scored in cited])
    width = next((matrix.shape[1] for matrix in sentence_vectors.values()), 1)
    _, ranked = candidates(_as_question(claim), np.zeros(width, dtype=np.float32), cited, sentence_vectors, idf)
    overlap = max((candidate.features["lex"] for candidate in ranked), default=0.0)
    if always_embed or (not missing and overlap >= thresholds.min_overlap):
        ranked = _with_similarity(ranked, embed(claim.core), cited, sentence_vectors)
    best = max(
        ranked,
        key=lambda c: min(c.features["dense"] / thresholds.min_similarity, c.features["lex"] / thresholds.min_overlap),
        default=None,
    )
    evidence = best.text if best else None
    passage = claim.citations[best.chunk_index] if best else None
    similarity, overlap = (best.features["dense"], best.features["lex"]) if best else (0.0, 0.0)
    if missing:
        shown = ", ".join(f"“{fact}”" for fact in missing[:3])
        return Support(False, evidence, passage, similarity, overlap, f"{shown} not in {_label(claim.citations)}")
    if best is None or similarity < thresholds.min_similarity or overlap < thresholds.min_overlap:
        said = f"similarity {similarity:.2f}, " if similarity else ""
        return Support(
            False, evidence, passage, similarity, overlap,
            f"no sentence of {_label(claim.citations)} says this ({said}term overlap {overlap:.0%})",
        )
    return Support(True, evidence, passage, similarity, overlap, "")


def _with_question(claim: SplitClaim, question: str | None) -> SplitClaim:
    """A terse claim read as the answer to its question ("Jane Roe" -> "Who said ...? Jane Roe"), so that the
    sentence it is compared with is the one that says who said it. Its facts stay the claim's own: the
    question's words are never evidence for what the answer adds (`check_claims` checks those alone)."""
    if not question or len(terms(claim.core)) > TERSE_TERMS:
        return claim
    return replace(claim, core=f"{question.strip().rstrip('?')} {claim.core}")


def _states_numbers(facts: Facts, sentence: str | None) -> bool:
    """Whether one sentence states every number and date of the claim (names may sit in the sentences around)."""
    return sentence is not None and not missing_facts(Facts(facts.numbers, (), facts.dates), [sentence])


def _closeness(verdict: Support, thresholds: GroundingThresholds) -> float:
    return min(verdict.similarity / thresholds.min_similarity, verdict.overlap / thresholds.min_overlap)


def attribute(
    claim: SplitClaim,
    facts: Facts,
    embed: Callable[[str], np.ndarray],
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    thresholds: GroundingThresholds = THRESHOLDS,
) -> Support | None:
    """The verdict on the passage given to the model, other than those the claim cites, that supports it best;
    None when none does. Stricter than `support`: one sentence must state the claim's numbers and dates, so
    that facts gathered from two sentences ("5,000 ... in batches of 100") are not re-cited as one."""
    found = []
    for number in range(1, len(retrieved) + 1):
        if number in claim.citations:
            continue
        verdict = support(replace(claim, citations=(number,)), facts, embed, retrieved, sentence_vectors, idf, thresholds)
        if verdict.supported and _states_numbers(facts, verdict.evidence):
            found.append(verdict)
    return max(found, key=lambda verdict: _closeness(verdict, thresholds), default=None)


def check_claims(
    text: str,
    retrieved: list[ScoredChunk],
    embed: Callable[[str], np.ndarray],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    thresholds: GroundingThresholds = THRESHOLDS,
    question: str | None = None,
) -> list[Claim]:
    """Split an answer whose markers are `[n]` into claims and check each against its cited passages.

    `retrieved` are the passages the model was shown, numbered as it saw them. A claim its cited passages do
    not support, or that cites none, is attributed to the given passage that does (`attribute`): small
    models number passages off by one and drop markers (issue #27). With `question`, terse claims are
    judged as the answer to it.
    """
    split = split_claims(text)
    facts = claim_facts([claim.core for claim in split])
    embed = lru_cache(maxsize=64)(embed)  # a claim tried against several passages is embedded once
    out = []
    for claim, found in zip(split, facts):
        judged = _with_question(claim, question)
        verdict = support(judged, found, embed, retrieved, sentence_vectors, idf, thresholds)
        recited_from = None
        if not verdict.supported:
            moved = attribute(judged, found, embed, retrieved, sentence_vectors, idf, thresholds)
            if moved is not None:
                recited_from = claim.citations[0] if claim.citations else None
                verdict = moved
        out.append(
            Claim(
                claim.text,
                claim.citations,
                verdict.supported,
                verdict.evidence if verdict.supported else None,
                verdict.passage if verdict.supported else None,
                verdict.reason,
                recited_from,
            )
        )
    return out


def verdict_note(claims: list[Claim]) -> str:
    """One paragraph that says which claims the cited passages support (appended after a streamed answer)."""
    failed = [claim for claim in claims if not claim.supported]
    moved = "".join(
        f" “{claim.text}”: {'cited ' + _label((claim.recited_from,)) if claim.recited_from else 'no citation'}; found in [{claim.evidence_id}]."
        for claim in claims
        if claim.recited
    )
    if moved:
        moved = " Re-cited:" + moved
    if not claims:
        return "Not checked: the answer makes no claim with a citation."
    if not failed:
        return f"Checked: {'the claim is' if len(claims) == 1 else f'all {len(claims)} claims are'} supported by the passages cited.{moved}"
    listed = "; ".join(f"“{claim.text}” ({claim.reason})" for claim in failed)
    if len(failed) == len(claims):
        return f"Not supported by the documents: {listed}. {ABSTAIN_TEXT}"
    return f"Checked: {len(claims) - len(failed)} of {len(claims)} claims supported; not supported: {listed}.{moved}"


def mark_unsupported(text: str, claims: list[Claim]) -> str:
    """The answer with UNSUPPORTED_MARK after each claim that failed (`claims` as `check_claims` gave them)."""
    split = split_claims(text)
    for claim, verdict in sorted(zip(split, claims), key=lambda pair: -pair[0].end):
        if not verdict.supported:
            text = text[: claim.end] + UNSUPPORTED_MARK + text[claim.end :]
    return text
