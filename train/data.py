"""`python -m train.data`: question-answer pairs generated from Debian documentation, for the trained reader.

Each source file goes through corpusqa's own reader and chunker; each sentence through spaCy's full
pipeline; `train.questions` asks what the rules can ask of it. Every pair is (question, sentence with its
neighbours, answer span or none, label):
- positives: the generated question, and a rewording with a WordNet synonym of one of its words;
- hard negatives: the question against the other sentences of the same document that share the most
  words with it, none of which holds the answer;
- near-misses against the source sentence: an entity swapped for another of the same type from the same
  document, a changed number, the negated relation;
- an easy negative: a sentence of another document.
The output is seeded and de-duplicated, so a rerun rebuilds the same file.
"""

from __future__ import annotations

import datetime
import functools
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from ingest.chunker import chunk_file
from ingest.formats import UnreadableFile
from ingest.loader import file_hash, read_file
from ingest.text import SPACY_MODEL, import_spacy, terms
from train.questions import generate, substituted, swapped_entity, swapped_number
from train.sources import ensure_packages, source_files, wordnet_dir

__all__ = ["Pair", "build", "main"]

ROOM = Path(__file__).resolve().parent
DEFAULT_OUT = ROOM / "data"


@dataclass(frozen=True)
class Pair:
    """One training example: does `sentence` (between `before` and `after`) answer `question`, and where."""

    question: str
    before: str
    sentence: str
    after: str
    label: int
    start: int  # answer span in `sentence`; -1 for a negative
    end: int
    kind: str  # the question's rule: subject, object, when, where, how-many, why, definition
    variant: str  # original, synonym; or, for negatives: other-sentence, other-document, swapped-entity, ...
    source: str


@dataclass
class _Document:
    source: str
    sentences: list[str]
    docs: list[Any]


def _documents(files: list[Path], chunk_tokens: int) -> Iterator[tuple[str, list[str]]]:
    for path in files:
        data = path.read_bytes()
        source = f"{path.parent.name}/{path.name}"
        try:
            loaded = read_file(data, path, source, max_bytes=64 * 1024 * 1024)
        except UnreadableFile as exc:
            print(f"skipped {source}: {exc}", file=sys.stderr)
            continue
        sentences = [
            " ".join(chunk.text[a:b].split())
            for chunk in chunk_file(loaded, file_hash(data), chunk_tokens)
            if chunk.kind != "code"
            for a, b in chunk.sentences
        ]
        if sentences:
            yield source, sentences


def _synonyms(wordnet: Any) -> Any:

    @functools.cache
    def words(word: str) -> list[str]:
        synsets = wordnet.synsets(word)
        if not synsets:
            return []
        first = synsets[0]
        return sorted({
            lemma.name().replace("_", " ") for lemma in first.lemmas()
            if lemma.name().lower() != word and "_" not in lemma.name() and lemma.name().isalpha()
        })

    return words


def _overlap(question: set[str], sentence: set[str]) -> float:
    return len(question & sentence) / (len(question) or 1)


def _pairs_of(document: _Document, other: _Document | None, synonyms: Any, rng: random.Random) -> Iterator[Pair]:
    sentence_terms = [set(terms(text)) for text in document.sentences]
    entities = [(ent.text, ent.label_) for doc in document.docs for ent in doc.ents]
    for index, doc in enumerate(document.docs):
        text = document.sentences[index]
        before = document.sentences[index - 1] if index else ""
        after = document.sentences[index + 1] if index + 1 < len(document.sentences) else ""

        def pair(question: str, label: int, start: int, end: int, kind: str, variant: str, at: int = index) -> Pair:
            return Pair(
                question,
                document.sentences[at - 1] if at else "",
                document.sentences[at],
                document.sentences[at + 1] if at + 1 < len(document.sentences) else "",
                label, start, end, kind, variant, document.source,
            )

        for sent in doc.sents:
            offset = sent.start_char
            for item in generate(sent):
                start, end = item.start + offset, item.end + offset
                yield pair(item.question, 1, start, end, item.kind, "original")
                reworded = substituted(item.question, item.answer, synonyms, rng)
                if reworded:
                    yield pair(reworded, 1, start, end, item.kind, "synonym")
                near = {
                    "swapped-entity": swapped_entity(item.question, sent, entities, rng),
                    "swapped-number": swapped_number(item.question, rng),
                    "negated": item.negated or None,
                }
                for variant, question in near.items():
                    if question and question != item.question:
                        yield pair(question, 0, -1, -1, item.kind, variant)
                wanted = set(terms(item.question))
                ranked = sorted(
                    (k for k in range(len(document.sentences))
                     if k != index and item.answer.lower() not in document.sentences[k].lower()),
                    key=lambda k: -_overlap(wanted, sentence_terms[k]),
                )
                for k in ranked[:2]:
                    yield pair(item.question, 0, -1, -1, item.kind, "other-sentence", at=k)
                if other is not None and other.sentences:
                    pick = rng.randrange(len(other.sentences))
                    yield Pair(
                        item.question, "", other.sentences[pick], "", 0, -1, -1, item.kind, "other-document",
                        other.source,
                    )
        del before, after, text


def build(out: Path, max_files: int | None, seed: int, chunk_tokens: int = 160) -> dict[str, Any]:
    """Generate the pairs into out/pairs.jsonl and out/manifest.json; returns the manifest."""
    versions = ensure_packages()
    import nltk

    folder = wordnet_dir(out / "cache")
    nltk.data.path.append(str(folder))
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _WordNet30(WordNetCorpusReader):  # type: ignore[misc]
        # Debian's database files lack the "WordNet 3.0 Copyright" header nltk reads its version from, so
        # nltk would try to map them from another version; they are 3.0, the version nltk expects.
        def map_wn(self, version: str = "wordnet") -> None:
            return None

    synonyms = _synonyms(_WordNet30(str(folder), None))
    # Its own pipeline, with the lemmatizer the question rules need for "do" support; the question path's
    # shared pipeline leaves it out.
    nlp = import_spacy().load(SPACY_MODEL)
    rng = random.Random(seed)
    files = source_files()
    if max_files is not None:
        files = rng.sample(files, min(max_files, len(files)))
        files.sort()
    out.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    previous: _Document | None = None
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as handle:
        for number, (source, sentences) in enumerate(_documents(files, chunk_tokens), start=1):
            document = _Document(source, sentences, list(nlp.pipe(sentences, batch_size=128)))
            for item in _pairs_of(document, previous, synonyms, rng):
                key = (item.question.lower(), item.sentence)
                if key in seen:
                    continue
                seen.add(key)
                counts[item.variant] = counts.get(item.variant, 0) + 1
                handle.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")
            previous = document
            if number % 50 == 0:
                print(f"{number} files, {len(seen)} pairs", file=sys.stderr)
    manifest = {
        "date": datetime.date.today().isoformat(),
        "seed": seed,
        "files": len(files),
        "pairs": len(seen),
        "positives": counts.get("original", 0) + counts.get("synonym", 0),
        "by_variant": dict(sorted(counts.items())),
        "packages": versions,
        "spacy_model": SPACY_MODEL,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--max-files", type=int, default=None, help="Read only this many source files (a quick run).")
@click.option("--seed", type=int, default=13, show_default=True)
def main(out: Path, max_files: int | None, seed: int) -> None:
    """Install the source packages if needed and rebuild the training pairs.

    \b
    Example:
        python -m train.data --max-files 20
    """
    manifest = build(out, max_files, seed)
    click.echo(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
