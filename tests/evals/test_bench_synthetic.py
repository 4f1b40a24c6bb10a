"""The synthetic scale corpus: varied copies of HTML pages (evals/bench_synthetic.py), and its bench step."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import load_settings
from evals.bench import BenchOptions, synthetic_figures
from evals.bench_report import _synthetic_rows
from evals.bench_synthetic import copy_varied, synthetic_corpus, vary_text
from ingest.text import terms

_PAGE = (
    '<html><head><title>Rounding helpers</title></head><body><h1 id="intro">Rounding helpers</h1>'
    '<p>The <code>round_half</code> function keeps 4 digits since version 3.11 &amp; rounds ties to even.</p>'
    '<p>Call <span class="pre">NoneType</span> checks before converting temperatures between scales.</p>'
    "</body></html>"
)
_TAGS = re.compile(r"<[^>]*>")


def _write(root: Path) -> list[str]:
    pages = ["library/rounding.html", "howto/scales.html"]
    for number, page in enumerate(pages):
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        (root / page).write_text(_PAGE.replace("4 digits", f"{4 + number} digits"), encoding="utf-8")
    return pages


@pytest.mark.parametrize(
    ("text", "copy", "expected"),
    [
        ("version 3.11 has 4 digits", 0, "version 3.11 has 4 digits"),
        ("page 3.11 has 4 rows", 2, "page 17.25 has 18 rows"),  # every number + 7 per copy
        ("use round_half and NoneType", 1, "use round_halfro and NoneTypero"),  # names always get the suffix
        ("Tom &amp; keep_it&nbsp;went", 3, "Tom &amp; keep_ittel&nbsp;went"),  # entities survive; short words stay
    ],
)
def test_vary_text_shifts_numbers_and_renames_names(text: str, copy: int, expected: str) -> None:
    assert vary_text(text, copy) == expected


def test_vary_text_is_deterministic_and_renames_some_plain_words() -> None:
    text = " ".join(["temperature", "converting", "between", "scales", "function", "rounding", "keeping", "digits"] * 3)
    once, again = vary_text(text, 5), vary_text(text, 5)
    assert once == again
    changed = sum(a != b for a, b in zip(text.split(), once.split()))
    assert 0 < changed < len(text.split())


def test_synthetic_corpus_keeps_markup_and_varies_text_per_copy(tmp_path: Path) -> None:
    pages = _write(tmp_path / "docs")
    mib = synthetic_corpus(tmp_path / "docs", pages, 3, tmp_path / "out")

    files = sorted((tmp_path / "out").rglob("*.html"))
    assert len(files) == 6 and mib > 0
    original = (tmp_path / "docs" / pages[0]).read_text(encoding="utf-8")
    copies = [(tmp_path / "out" / f"copy-{k:02d}" / pages[0]).read_text(encoding="utf-8") for k in range(3)]
    assert copies[0] == original  # copy 0 is the page as it is
    assert len({hashlib.sha256(c.encode()).hexdigest() for c in copies}) == 3  # three content hashes
    assert all(_TAGS.findall(c) == _TAGS.findall(original) for c in copies)  # tags and attributes unchanged
    vocabularies = [set(terms(_TAGS.sub(" ", c))) for c in copies]
    assert vocabularies[1] != vocabularies[0] and vocabularies[2] != vocabularies[1]  # BM25 sees other terms


def test_copy_varied_writes_the_copy_it_is_asked_for(tmp_path: Path) -> None:
    pages = _write(tmp_path / "docs")
    size = copy_varied(tmp_path / "docs" / pages[0], tmp_path / "one.html", 4)
    text = (tmp_path / "one.html").read_text(encoding="utf-8")
    assert size == len(text.encode("utf-8")) and "version 31.39" in text and "round_halfvo" in text


def test_synthetic_figures_ingest_reingest_and_ask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import Engine

    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    pages = _write(tmp_path / "docs")
    questions = tmp_path / "scale.jsonl"
    questions.write_text(json.dumps({
        "id": "s1", "question": "How many digits does the round_half function keep?", "accept": ["4 digits"],
        "evidence": "The round_half function keeps 4 digits", "type": "numeric", "split": "scale",
        "source": pages[0],
    }) + "\n", encoding="utf-8")
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "docs")
    settings = settings.model_copy(update={"model_cache_dir": settings.models_dir.resolve()})
    engine = Engine.from_settings(settings)
    options = BenchOptions(copies=3, scale_questions=questions, scale_repeats=1, cold_runs=1)
    lines: list[str] = []

    figures = synthetic_figures(settings, engine, tmp_path / "docs", pages, tmp_path / "work", options, lines.append)

    assert figures.copies == 3 and figures.pages == 6 and figures.mib > 0
    assert figures.ingest.documents == 6 and figures.ingest.embedded_chunks > 0 and figures.ingest.peak_rss_mib > 20
    assert figures.ingest.index_mib > 0 and set(figures.ingest.stages) >= {"read", "annotate", "embed", "write"}
    assert figures.reingest.embedded_chunks == 0 and figures.reingest_vs_full > 0
    assert figures.cold_ask.median_s > 0 and figures.warm.questions == 1
    assert figures.retrieval.questions == 1 and figures.retrieval.hit_at_5 == 1.0  # copy 0 holds the evidence
    assert any("Synthetic corpus: 3 copies of 2 pages" in line for line in lines)
    assert "Synthetic: 3 copies" in "\n".join(_synthetic_rows(figures))
