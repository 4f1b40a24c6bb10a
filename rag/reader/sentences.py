"""Sentence candidates, the reader's second step: every sentence of the retrieved passages with features
that mean the same on any document.

MiniLM similarity, idf-weighted overlap, the expected answer type, whether the question's names,
numbers and dates appear or are contradicted, negation, and the passage's own coverage of the question.
The features' names are those the ranker (rag.reader.ranking) and the confidence (rag.reader.confidence) read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from corpusqa.types import ScoredChunk
from ingest.text import Span, terms, words
from rag.reader.question import NEGATIONS, QuestionAnalysis, analyse_question

__all__ = ["LEAD_IN_WORDS", "Candidate", "candidates", "coverage", "similarity", "term_weights", "typed_spans"]

#: A sentence that ends in a colon introduces what follows (a list, a value, an example): as an answer it
#: carries the following sentences of its passage, up to this many words, so the answer is not a dangling
#: "... comes in three sizes:" whose content sits in the next lines. A rule of punctuation, not of any corpus.
LEAD_IN_WORDS = 40


@dataclass(frozen=True)
class Candidate:
    """One retrieved sentence, its features (names as the ranker and the confidence read them) and its ranker probability."""

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


def term_weights(text: str, idf: Callable[[str], float]) -> dict[str, float]:
    """Each content term of `text` (a question, or a claim the grounding check reads) with its idf weight."""
    return {t: idf(t) for t in terms(text)}


def coverage(weights: dict[str, float], present: set[str]) -> float:
    """The idf-weighted share of the weighted terms that are in `present` (`lex` on a sentence's terms)."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in present) / total if total else 0.0


def similarity(matrix: np.ndarray | None, index: int, vector: np.ndarray) -> float:
    """The `dense` feature: row `index` of a passage's sentence vectors against `vector` (0 without vectors)."""
    return float(matrix[index] @ vector) if matrix is not None else 0.0


def _entity_features(analysis: QuestionAnalysis, text: str, spans: tuple[Span, ...]) -> tuple[float, float]:
    """(share of the question's names/numbers/dates present, 1 when an absent one is replaced by another of its kind)."""
    asked = analysis.entity_terms
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
    question_terms = term_weights(analysis.text, idf)
    named = {t for entity, _ in analysis.entity_terms for t in entity}
    predicate = {t: w for t, w in question_terms.items() if t not in named}
    key = _key_terms(question_terms, named)
    max_idf = idf("\x00never-seen\x00") or 1.0
    top = retrieved[0].score if retrieved else 1.0
    asked = analysis.entity_terms
    out: list[Candidate] = []
    for chunk_index, scored in enumerate(retrieved):
        chunk = scored.chunk
        matrix = sentence_vectors.get(chunk.id)
        chunk_terms = set(terms(f"{chunk.title}\n{chunk.text}"))
        absent = [w for t, w in question_terms.items() if t not in chunk_terms]
        chunk_features = {
            "ctx": coverage(question_terms, chunk_terms),
            "key": coverage(key, chunk_terms),
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
                "dense": similarity(matrix, sentence_index, vector),
                "lex": coverage(question_terms, sentence_terms),
                "ctx": chunk_features["ctx"],
                "pred": coverage(predicate, sentence_terms) if predicate else 0.5,
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


def typed_spans(sentence: str, spans: list[Span], analysis: QuestionAnalysis) -> list[Span]:
    """The sentence's spans of the expected type that the question does not already give."""
    labels = analysis.labels
    if not labels:
        return []
    out = []
    for start, end, label in spans:
        if label not in labels:
            continue
        span_words = set(words(sentence[start:end]))
        if span_words and span_words <= analysis.words:
            continue  # "Who heads the council X speaks for?" is not answered by X
        out.append((start, end, label))
    return out

