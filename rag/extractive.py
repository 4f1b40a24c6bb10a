"""The offline answerer: pick the retrieved sentence that best answers the question, say how sure it is.

Every sentence of the retrieved passages gets features that mean the same on any document (MiniLM
similarity, idf-weighted overlap, the expected answer type, whether the question's names, numbers and
dates appear or are contradicted, negation, retrieval rank). A fitted logistic ranker picks the best
sentence; a second fitted model turns the best sentence's features into a confidence, and the
confidence falls in a band: answer, possibly, abstain (see rag.confidence and evals/fit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from corpusqa.types import ScoredChunk
from ingest.text import Span, terms, words
from rag.answer_types import NEGATIONS, QuestionAnalysis, analyse_question, short_span, typed_spans
from rag.confidence import (
    CONFIDENCE_FEATURES,
    LONG_QUESTION,
    RANKER_PRODUCTS,
    RELATIVE,
    STANDARDISED,
    Fitted,
    band_of,
)
from rag.roles import swaps
from rag.spans import parse_sentence

__all__ = [
    "ABSTAIN_TEXT",
    "Candidate",
    "ExtractiveResult",
    "answer_extractively",
    "best_features",
    "candidates",
    "confidence_row",
    "rank",
    "ranker_row",
]

ABSTAIN_TEXT = "The documents do not say. The closest passages I found are listed below."
#: A sentence that ends in a colon introduces what follows (a list, a value, an example): as an answer it
#: carries the following sentences of its passage, up to this many words, so the answer is not a dangling
#: "... comes in three sizes:" whose content sits in the next lines. A rule of punctuation, not of any corpus.
LEAD_IN_WORDS = 40


@dataclass(frozen=True)
class Candidate:
    """One retrieved sentence, its features (names as in rag.confidence) and its ranker probability."""

    chunk_index: int
    sentence_index: int
    text: str
    spans: tuple[Span, ...]  # entity spans in characters of `text`
    features: dict[str, float] = field(default_factory=dict)
    chunk_features: dict[str, float] = field(default_factory=dict)  # per passage: key, missing, ent_ctx
    score: float = 0.0
    # A lead-in sentence (ending in a colon) is shown with what follows it: (text, entity spans); None
    # for any other sentence. The ranker's features and its fitted labels are the sentence's own.
    shown: tuple[str, tuple[Span, ...]] | None = None

    @property
    def answer_text(self) -> str:
        """The text an answer quotes: the sentence, or a lead-in with what it introduces."""
        return self.shown[0] if self.shown else self.text

    @property
    def answer_spans(self) -> tuple[Span, ...]:
        """The entity spans of `answer_text`."""
        return self.shown[1] if self.shown else self.spans


@dataclass(frozen=True)
class ExtractiveResult:
    """The chosen sentence (None when nothing was retrieved), its short answer, confidence and band."""

    best: Candidate | None
    short_answer: str | None
    confidence: float
    band: str
    ranked: list[Candidate]

    @property
    def abstained(self) -> bool:
        """Whether the answer falls in the abstain band."""
        return self.band == "abstain"


def _coverage(weights: dict[str, float], present: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def _entity_words(analysis: QuestionAnalysis) -> list[tuple[set[str], str]]:
    """The question's entities as sets of content terms ("the" and the like do not count)."""
    return [(set(terms(text)), label) for text, label in analysis.entities if terms(text)]


def _entity_features(analysis: QuestionAnalysis, text: str, spans: tuple[Span, ...]) -> tuple[float, float]:
    """(share of the question's names/numbers/dates present, 1 when an absent one is replaced by another of its kind)."""
    asked = _entity_words(analysis)
    if not asked:
        return 0.5, 0.0
    present = set(terms(text))
    found = [entity <= present for entity, _ in asked]
    labels_here = {label for s, e, label in spans if not set(words(text[s:e])) <= analysis.words}
    conflict = any(not ok and label in labels_here for ok, (_, label) in zip(found, asked))
    return sum(found) / len(found), 1.0 if conflict else 0.0


def candidates(
    question: str | QuestionAnalysis,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
) -> tuple[QuestionAnalysis, list[Candidate]]:
    """Every sentence of the retrieved chunks with its features (unranked)."""
    analysis = question if isinstance(question, QuestionAnalysis) else analyse_question(question)
    question_terms = {t: idf(t) for t in terms(analysis.text)}
    named = {t for text, _ in analysis.entities for t in terms(text)}
    predicate = {t: w for t, w in question_terms.items() if t not in named}
    key = _key_terms(question_terms, named)
    max_idf = idf("\x00never-seen\x00") or 1.0
    top = retrieved[0].score if retrieved else 1.0
    asked = _entity_words(analysis)
    out: list[Candidate] = []
    for chunk_index, scored in enumerate(retrieved):
        chunk = scored.chunk
        matrix = sentence_vectors.get(chunk.id)
        chunk_terms = set(terms(f"{chunk.title}\n{chunk.text}"))
        absent = [w for t, w in question_terms.items() if t not in chunk_terms]
        chunk_features = {
            "ctx": _coverage(question_terms, chunk_terms),
            "key": _coverage(key, chunk_terms),
            "missing": max(absent, default=0.0) / max_idf,
            "ent_ctx": sum(entity <= chunk_terms for entity, _ in asked) / len(asked) if asked else 0.5,
            "prior": scored.score / top if top else 0.0,
        }
        for sentence_index, (start, end) in enumerate(chunk.sentences):
            text = chunk.text[start:end]
            spans = _spans_within(chunk.entities, start, end)
            sentence_terms = set(terms(text))
            sentence_words = set(words(text))
            ent_cover, conflict = _entity_features(analysis, text, spans)
            features = {
                "dense": float(matrix[sentence_index] @ vector) if matrix is not None else 0.0,
                "lex": _coverage(question_terms, sentence_terms),
                "ctx": chunk_features["ctx"],
                "pred": _coverage(predicate, sentence_terms) if predicate else 0.5,
                "typed": (1.0 if typed_spans(text, list(spans), analysis) else 0.0) if analysis.labels else 0.5,
                "focus": (1.0 if analysis.focus in sentence_terms else 0.0) if analysis.focus else 0.5,
                "ent_cover": ent_cover,
                "conflict": conflict,
                "neg_mismatch": 1.0 if analysis.negated != bool(sentence_words & NEGATIONS) else 0.0,
                "prior": chunk_features["prior"],
                # short, a question, or no closing punctuation (a heading or a label)
                "fragment": 1.0 if len(text.split()) < 4 or not text.rstrip().endswith((".", "!", ":", ";", '"', "”", ")")) else 0.0,
            }
            shown_end = _lead_in_end(chunk.text, chunk.sentences, sentence_index)
            shown = (chunk.text[start:shown_end], _spans_within(chunk.entities, start, shown_end)) if shown_end != end else None
            out.append(Candidate(chunk_index, sentence_index, text, spans, features, chunk_features, shown=shown))
    return analysis, out


def _spans_within(entities: tuple[Span, ...], start: int, end: int) -> tuple[Span, ...]:
    """The entity spans inside text[start:end], in characters of that piece."""
    return tuple((s - start, e - start, label) for s, e, label in entities if s >= start and e <= end)


def _lead_in_end(text: str, sentences: tuple[tuple[int, int], ...], index: int) -> int:
    """Where the answer for sentence `index` ends: the sentence's own end, or, for a sentence ending in a
    colon, the end of the following sentences of the passage that fit in LEAD_IN_WORDS (at least one)."""
    start, end = sentences[index]
    if not text[start:end].rstrip().endswith(":"):
        return end
    budget = LEAD_IN_WORDS
    for start, following_end in sentences[index + 1 :]:
        budget -= len(text[start:following_end].split())
        if budget < 0 and following_end != sentences[index + 1][1]:
            break
        end = following_end
    return end


def _key_terms(question_terms: dict[str, float], named: set[str]) -> dict[str, float]:
    """The question's distinctive terms: its names and numbers, and words at least as rare as its median."""
    if not question_terms:
        return {}
    median = sorted(question_terms.values())[len(question_terms) // 2]
    return {t: w for t, w in question_terms.items() if w >= median or t in named}


def ranker_row(features: dict[str, float], best: dict[str, float]) -> dict[str, float]:
    """A candidate's features, some relative to its question's candidates (`best`, from
    `best_features`), plus the pairwise products the ranker reads (a linear model cannot form them)."""
    row = dict(features)
    for name in RELATIVE:
        row[f"{name}-best"] = features[name] - best[name]
    for name in STANDARDISED:
        row[f"{name}_z"] = (features[name] - best[f"{name}_mean"]) / best[f"{name}_std"]
    for name in RANKER_PRODUCTS:
        left, right = name.split("*")
        row[name] = features[left] * features[right]
    return row


def best_features(found: list[Candidate]) -> dict[str, float]:
    """Per question: the highest value of each relative feature, and the mean and spread of each standardised one."""
    out = {name: max((c.features[name] for c in found), default=0.0) for name in RELATIVE}
    for name in STANDARDISED:
        values = np.asarray([c.features[name] for c in found], dtype=np.float64)
        out[f"{name}_mean"] = float(values.mean()) if len(values) else 0.0
        spread = float(values.std()) if len(values) else 0.0
        out[f"{name}_std"] = spread if spread > 1e-9 else 1.0
    return out


def rank(found: list[Candidate], fitted: Fitted) -> list[Candidate]:
    """The candidates best first; each one's score is its share of a softmax over the ranker's
    scores of the question's candidates (the ranker is fitted on pairs of candidates, evals/fit.py)."""
    best = best_features(found)
    decisions = np.asarray([fitted.ranker.decision(ranker_row(c.features, best)) for c in found], dtype=np.float64)
    shares = np.exp(decisions - decisions.max())
    shares /= shares.sum()
    scored = [replace(c, score=float(share)) for c, share in zip(found, shares)]
    scored.sort(key=lambda c: -c.score)
    return scored


def confidence_row(analysis: QuestionAnalysis, ranked: list[Candidate]) -> dict[str, float]:
    """The confidence model's features for the best of `ranked` (which must not be empty)."""
    best = ranked[0]
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    row = {
        "rank_p": best.score,
        "margin": best.score - runner_up,
        **{name: best.features[name] for name in ("dense", "lex", "ctx", "pred", "typed", "focus", "ent_cover", "conflict", "neg_mismatch")},
        "key": best.chunk_features["key"],
        "missing": best.chunk_features["missing"],
        "ent_ctx": best.chunk_features["ent_ctx"],
        "has_type": 1.0 if analysis.labels else 0.0,
        "has_entities": 1.0 if analysis.entities else 0.0,
        "dense_max": max(c.features["dense"] for c in ranked),
        "fragment": best.features["fragment"],
        "q_len": min(len(set(terms(analysis.text))), LONG_QUESTION) / LONG_QUESTION,
    }
    row["swap"] = swaps(analysis.roles, parse_sentence(best.text))
    for name in CONFIDENCE_FEATURES:
        if "*" in name:
            left, right = name.split("*")
            row[name] = row[left] * row[right]
    return row


def answer_extractively(
    question: str | QuestionAnalysis,
    vector: np.ndarray,
    retrieved: list[ScoredChunk],
    sentence_vectors: dict[str, np.ndarray],
    idf: Callable[[str], float],
    fitted: Fitted,
    bands: object | None = None,
) -> ExtractiveResult:
    """Choose the answer sentence and its short answer, with a confidence and its band."""
    analysis, found = candidates(question, vector, retrieved, sentence_vectors, idf)
    if not found:
        return ExtractiveResult(None, None, 0.0, "abstain", [])
    ranked = rank(found, fitted)
    confidence = fitted.confidence.probability(confidence_row(analysis, ranked))
    band = band_of(confidence, bands if bands is not None else fitted.bands)  # type: ignore[arg-type]
    best = ranked[0]
    return ExtractiveResult(best, short_span(best.answer_text, list(best.answer_spans), analysis), confidence, band, ranked)
