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

import numpy as np

from corpusqa.types import Claim, ScoredChunk
from ingest.text import words
from rag.citations import SplitClaim, split_claims
from rag.extractive import ABSTAIN_TEXT
from rag.facts import Facts, claim_facts, missing_facts
from rag.reader.question import QuestionAnalysis
from rag.reader.sentences import Candidate, candidates

__all__ = [
    "THRESHOLDS",
    "UNSUPPORTED_MARK",
    "GroundingThresholds",
    "Support",
    "check_claims",
    "mark_unsupported",
    "support",
    "verdict_note",
]

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


def check_claims(
    text: str,
    retrieved: list[ScoredChunk],
    embed: Callable[[str], np.ndarray],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    thresholds: GroundingThresholds = THRESHOLDS,
) -> list[Claim]:
    """Split an answer whose markers are `[n]` into claims and check each against its cited passages."""
    split = split_claims(text)
    facts = claim_facts([claim.core for claim in split])
    out = []
    for claim, found in zip(split, facts):
        verdict = support(claim, found, embed, retrieved, sentence_vectors, idf, thresholds)
        out.append(
            Claim(
                claim.text,
                claim.citations,
                verdict.supported,
                verdict.evidence if verdict.supported else None,
                verdict.passage if verdict.supported else None,
                verdict.reason,
            )
        )
    return out


def verdict_note(claims: list[Claim]) -> str:
    """One paragraph that says which claims the cited passages support (appended after a streamed answer)."""
    failed = [claim for claim in claims if not claim.supported]
    if not claims:
        return "Not checked: the answer makes no claim with a citation."
    if not failed:
        return f"Checked: {'the claim is' if len(claims) == 1 else f'all {len(claims)} claims are'} supported by the passages cited."
    listed = "; ".join(f"“{claim.text}” ({claim.reason})" for claim in failed)
    if len(failed) == len(claims):
        return f"Not supported by the documents: {listed}. {ABSTAIN_TEXT}"
    return f"Checked: {len(claims) - len(failed)} of {len(claims)} claims supported; not supported: {listed}."


def mark_unsupported(text: str, claims: list[Claim]) -> str:
    """The answer with UNSUPPORTED_MARK after each claim that failed (`claims` as `check_claims` gave them)."""
    split = split_claims(text)
    for claim, verdict in sorted(zip(split, claims), key=lambda pair: -pair[0].end):
        if not verdict.supported:
            text = text[: claim.end] + UNSUPPORTED_MARK + text[claim.end :]
    return text
