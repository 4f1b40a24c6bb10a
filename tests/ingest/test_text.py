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
        "assert not any(type(f).__name__ == '_NoTorchHere' for f in sys.meta_path)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
