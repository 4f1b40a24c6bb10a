"""Check every claim of an LLM answer against the passages it cites before it is shown as supported.

A claim (one sentence) holds when (1) every number, date and proper name in it appears in one of its
cited passages (rag/facts.py) and (2) one sentence of those passages is close to it: MiniLM
similarity and idf-weighted term overlap, the `dense` and `lex` features the reader computes for a
question and a sentence, by the reader's own functions (rag/reader/sentences.py `similarity`,
`coverage`, `term_weights`, over the BM25 idf). One notion of "this sentence supports that", not two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from corpusqa.types import Claim, ScoredChunk
from ingest.text import terms
from rag.citations import SplitClaim, split_claims
from rag.extractive import ABSTAIN_TEXT
from rag.facts import Facts, claim_facts, missing_facts
from rag.reader.sentences import coverage, similarity, term_weights

__all__ = [
    "MAY_NOT_SAY",
    "NOT_ANSWERED_NOTE",
    "TERSE_TERMS",
    "THRESHOLDS",
    "UNSUPPORTED_MARK",
    "CheckedAnswer",
    "GroundingThresholds",
    "Support",
    "attribute",
    "check_answer",
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


@dataclass(frozen=True)
class _Sentence:
    """One sentence of a cited passage and how close a claim is to it."""

    passage: int  # index into the claim's cited passages
    text: str
    overlap: float  # `lex`: the idf-weighted share of the claim's terms in the sentence
    similarity: float = 0.0  # `dense`: MiniLM cosine, filled only when the claim is embedded


def _cited_sentences(core: str, cited: list[ScoredChunk], idf: Callable[[str], float]) -> list[tuple[_Sentence, int]]:
    """Every sentence of the cited passages with the claim's term overlap (and the sentence's index)."""
    weights = term_weights(core, idf)
    out = []
    for passage, scored in enumerate(cited):
        chunk = scored.chunk
        for index, (start, end) in enumerate(chunk.sentences):
            text = chunk.text[start:end]
            out.append((_Sentence(passage, text, coverage(weights, set(terms(text)))), index))
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
    found = _cited_sentences(claim.core, cited, idf)
    overlap = max((sentence.overlap for sentence, _ in found), default=0.0)
    if always_embed or (not missing and overlap >= thresholds.min_overlap):
        vector = embed(claim.core)
        found = [
            (replace(s, similarity=similarity(sentence_vectors.get(cited[s.passage].chunk.id), index, vector)), index)
            for s, index in found
        ]
    best = max(
        (s for s, _ in found),
        key=lambda s: min(s.similarity / thresholds.min_similarity, s.overlap / thresholds.min_overlap),
        default=None,
    )
    evidence = best.text if best else None
    passage = claim.citations[best.passage] if best else None
    closeness, overlap = (best.similarity, best.overlap) if best else (0.0, 0.0)
    if missing:
        shown = ", ".join(f"“{fact}”" for fact in missing[:3])
        return Support(False, evidence, passage, closeness, overlap, f"{shown} not in {_label(claim.citations)}")
    if best is None or closeness < thresholds.min_similarity or overlap < thresholds.min_overlap:
        said = f"similarity {closeness:.2f}, " if closeness else ""
        return Support(
            False, evidence, passage, closeness, overlap,
            f"no sentence of {_label(claim.citations)} says this ({said}term overlap {overlap:.0%})",
        )
    return Support(True, evidence, passage, closeness, overlap, "")


def _with_question(claim: SplitClaim, question: str | None) -> SplitClaim:
    """A terse claim read as the answer to its question ("Jane Roe" -> "Who said ...? Jane Roe"), so that the
    sentence it is compared with is the one that says who said it. Its facts stay the claim's own: the
    question's words are never evidence for what the answer adds (`check_answer` checks those alone)."""
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


@dataclass(frozen=True)
class CheckedAnswer:
    """An LLM answer's claims, each checked, and its text with UNSUPPORTED_MARK after each that failed."""

    claims: list[Claim]
    marked: str


def check_answer(
    text: str,
    retrieved: list[ScoredChunk],
    embed: Callable[[str], np.ndarray],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    thresholds: GroundingThresholds = THRESHOLDS,
    question: str | None = None,
) -> CheckedAnswer:
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
    marked = text
    for claim, verdict in sorted(zip(split, out), key=lambda pair: -pair[0].end):
        if not verdict.supported:
            marked = marked[: claim.end] + UNSUPPORTED_MARK + marked[claim.end :]
    return CheckedAnswer(out, marked)


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
