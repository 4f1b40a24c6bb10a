"""ingest.text: annotating sentences at ingest leaves the shared spaCy pipeline whole for questions."""

from __future__ import annotations

from collections.abc import Iterator

from ingest.text import annotate, nlp


def test_annotate_leaves_the_shared_pipeline_whole_while_it_runs() -> None:
    full = tuple(nlp().pipe_names)
    seen: list[tuple[str, ...]] = []

    def sentences() -> Iterator[str]:
        # consumed inside annotate's pipe: what a question parsed in another thread would find
        for text in ("Ada Lovelace was born in London in 1815.", "The bridge opened on 4 May 1931."):
            seen.append(tuple(nlp().pipe_names))
            yield text

    spans = annotate(sentences())
    assert seen and all(names == full for names in seen)
    assert "parser" in full and "ner" in full
    assert [label for _, _, label in spans[0]] == ["PERSON", "GPE", "DATE"]
