"""`corpusqa bench --workers 2` on a few pages: real `chroma run` servers, real ingest processes, real answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpusqa.errors import CorpusQAError
from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import load_settings
from evals.bench_workers import render_workers, run_workers, save_workers

_PAGES = {
    "library/alpha.html": ("alpha — Greek letter counts",
                           "<p>The alpha module counts Greek letters. It was added in version 9.1 of the toolkit.</p>"),
    "library/beta.html": ("beta — Rounding helpers",
                          "<p>The beta module rounds numbers half to even. The default precision is four digits.</p>"),
    "howto/gamma.html": ("Gamma HOWTO", "<p>The gamma scheduler wakes up every 15 minutes and runs the jobs that are due.</p>"),
    "library/delta.html": ("delta — Differences", "<p>The delta module compares two sequences of items.</p>"),
}
_QUESTIONS = [
    {"id": "w1", "question": "In which version was the alpha module added?", "accept": ["9.1"],
     "evidence": "It was added in version 9.1 of the toolkit.", "type": "numeric", "split": "scale",
     "source": "library/alpha.html"},
    {"id": "w2", "question": "How often does the gamma scheduler wake up?", "accept": ["every 15 minutes"],
     "evidence": "The gamma scheduler wakes up every 15 minutes", "type": "fact", "split": "scale",
     "source": "howto/gamma.html"},
    {"id": "w3", "question": "What is the default precision of the beta module?", "accept": ["four digits"],
     "evidence": "The default precision is four digits.", "type": "fact", "split": "scale", "source": "library/beta.html"},
]


def _docs(root: Path) -> tuple[Path, Path]:
    for name, (title, body) in _PAGES.items():
        path = root / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
                        encoding="utf-8")
    questions = root / "scale.jsonl"
    questions.write_text("\n".join(json.dumps(item) for item in _QUESTIONS) + "\n", encoding="utf-8")
    return root / "docs", questions


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)


def test_run_workers_two_processes_into_one_server_answer_like_one(tmp_path: Path, offline: None) -> None:
    docs, questions = _docs(tmp_path)
    settings = load_settings(index_dir=tmp_path / "index", corpus_dir=tmp_path / "nowhere")
    lines: list[str] = []

    report = run_workers(settings, workers=2, quick=True, scale_root=docs, scale_questions=questions,
                         install_docs=False, say=lines.append)

    assert report.pages == 4 and report.questions == 3
    for run, workers in ((report.one, 1), (report.many, 2)):
        assert run.workers == workers and len(run.peak_rss_mib) == len(run.ingest_s) == workers
        assert run.documents == 4 and run.chunks >= 4 and run.sentences >= run.chunks  # both halves on the server
        assert run.wall_s > 0 and run.cpu_s > 0 and all(20 < peak < 8192 for peak in run.peak_rss_mib)
        assert all(0 < seconds < run.wall_s for seconds in run.ingest_s)
        assert run.server_peak_rss_mib > 20
    assert report.one.chunks == report.many.chunks and report.one.sentences == report.many.sentences
    assert report.same_answers == 3 and report.differences == [] and report.speedup > 0
    table = render_workers(report)
    assert "same answers: 3 of 3" in table and "2 workers" in table
    saved = save_workers(report, tmp_path / "bench")
    assert json.loads(saved.read_text(encoding="utf-8"))["many"]["workers"] == 2
    assert json.loads((tmp_path / "bench" / "history.jsonl").read_text().splitlines()[0])["run"] == "bench-workers-2-quick"
    assert not list((tmp_path / "index" / "bench").glob("workers-*")), "the work folder is removed without --keep"


def test_run_workers_needs_two_or_more(tmp_path: Path, offline: None) -> None:
    docs, questions = _docs(tmp_path)
    settings = load_settings(index_dir=tmp_path / "index")
    with pytest.raises(CorpusQAError, match="give 2 or more"):
        run_workers(settings, workers=1, quick=True, scale_root=docs, scale_questions=questions, install_docs=False)


def test_bench_cli_workers_one_is_the_usual_bench_option() -> None:
    from ui.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output and "--copies" in result.output
