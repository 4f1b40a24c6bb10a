"""ingest.text: annotating sentences at ingest leaves the shared spaCy pipeline whole for questions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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


def test_annotate_lets_go_of_the_words_it_adds_and_finds_the_same_entities() -> None:
    """Annotation parses in spaCy memory zones (#28): new names and numbers do not stay in the vocabulary,
    and the entities are those of a plain parse."""
    from ingest.text import entity_spans

    texts = [
        f"Quorvath Zellinger paid {n}7,431 florins to Brindlemark Holdings in Ostravel on 3 March 19{n}7."
        for n in range(10, 30)
    ]
    strings = nlp()._pipeline.vocab.strings
    before = len(strings)
    spans = annotate(texts)
    assert len(strings) == before, "the batch's new strings were let go"
    plain = [entity_spans(nlp()(text)) for text in texts]  # a question's parse: outside any zone
    assert spans == plain and all(len(found) >= 3 for found in spans)


def test_stopwords_are_the_list_llama_index_publishes() -> None:
    """ingest.text reads NLTK's English stopwords from llama-index's bundled cache as a file (importing
    nltk and llama_index.core would cost a cold `ask` about 3 s); this compares it with the public API and
    fails loudly when a llama-index release moves the file."""
    from llama_index.core.utils import globals_helper

    from ingest.text import _stopwords

    published = set(globals_helper.stopwords)
    assert published and published <= _stopwords(), "llama-index's _static/nltk_cache moved: fix ingest.text._stopwords"


def test_importing_spacy_leaves_torch_importable_in_other_threads() -> None:
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from ingest.text import import_spacy\n"
        "seen = []\n"
        "def other():\n"
        "    import torch\n"
        "    seen.append(torch.__name__)\n"
        "thread = threading.Thread(target=other)\n"
        "thread.start(); import_spacy(); thread.join()\n"
        "import thinc.compat\n"
        "assert seen == ['torch'], seen\n"
        "assert sys.modules['torch'] is not None\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_import_spacy_skips_torch_in_its_own_thread() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ingest.text import import_spacy\n"
        "import_spacy()\n"
        "import thinc.compat\n"
        "assert not thinc.compat.has_torch and 'torch' not in sys.modules\n"
        "assert not any(type(f).__name__ == '_Refused' for f in sys.meta_path)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_nlp_leaves_out_only_what_no_analysis_reads() -> None:
    """The pipeline loaded without the saved tokenizer, the lemmatizer and the (disabled) sentence recogniser
    tokenizes, tags, parses and finds entities exactly as the whole saved model does."""
    from ingest.text import SPACY_MODEL, import_spacy, nlp

    whole = import_spacy().load(SPACY_MODEL)
    ours = nlp()
    assert ours.pipe_names == [name for name in whole.pipe_names if name != "lemmatizer"]
    # rules, affixes, URL and token matches, special cases (not the vocab, which grows as texts are parsed)
    assert ours._pipeline.tokenizer.to_bytes(exclude=["vocab"]) == whole.tokenizer.to_bytes(exclude=["vocab"])
    texts = [
        "How many Taliban prisoners were held in total?",
        "Dr. Smith didn't arrive until 5 p.m. on Jan. 3rd, 2020 -- and the U.S. team's e-mail (ref. 7-1-0) said so.",
        "Who isn't going to pay $13,000 to 14,000 for the 3.5-inch widgets at https://example.com/x?y=1 :)",
    ]
    for text in texts:
        a, b = ours(text), whole(text)
        assert [(t.text, t.tag_, t.pos_, t.dep_, t.head.i) for t in a] == [(t.text, t.tag_, t.pos_, t.dep_, t.head.i) for t in b]
        assert [(e.start_char, e.end_char, e.label_) for e in a.ents] == [(e.start_char, e.end_char, e.label_) for e in b.ents]


def test_catalogue_finds_the_same_entry_points_grouped() -> None:
    import subprocess
    import sys

    code = (
        "import catalogue, importlib.metadata\n"
        "groups = sorted(importlib.metadata.entry_points().groups)\n"
        "before = {g: [p.value for p in catalogue.AVAILABLE_ENTRY_POINTS.select(group=g)] for g in groups}\n"
        "from ingest.text import import_spacy\n"
        "import_spacy()\n"
        "after = {g: [p.value for p in catalogue.AVAILABLE_ENTRY_POINTS.get(g, [])] for g in groups}\n"
        "assert isinstance(catalogue.AVAILABLE_ENTRY_POINTS, dict) and before == after and any(before.values())\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Taliban's 5,000 prisoners", ["the", "taliban", "5000", "prisoners"]),
        ("Ghani’s decree of 10.5 pages", ["ghani", "decree", "of", "10.5", "pages"]),
        ("It's the boss's boss’s call", ["it", "the", "boss", "boss", "call"]),
        ("don't rock'n'roll's", ["don't", "rock'n'roll"]),
    ],
)
def test_words_drop_possessives_and_thousands_commas(text: str, expected: list[str]) -> None:
    from ingest.text import terms, words

    assert words(text) == expected
    assert words(text) is not words(text)  # a fresh list each call: callers may change theirs
    long = " ".join([text] * 100)  # past the cached length: the same words
    assert words(long) == expected * 100
    assert terms(long) == terms(text) * 100
