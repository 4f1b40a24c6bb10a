"""`corpusqa bench` on small inputs: the real model, real Chroma, real child processes; no timing assertions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import load_settings
from evals.bench import BenchOptions, run_bench
from evals.bench_report import (
    STAGES,
    evaluate_targets,
    render_markdown,
    render_table,
    save_bench,
    stages_line,
)
from evals.bench_scale import doc_pages, select_pages
from evals.bench_types import BenchReport, IngestRun, PipelineFigures
from evals.questions import BUNDLED_QUESTIONS, load_questions

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the Python docs: a few small HTML pages, one of them in a folder, one not HTML.
_PAGES = {
    "library/alpha.html": (
        "alpha — Greek letter counts",
        ("<p>The <code>alpha</code> module counts Greek letters in a text.</p>"
        "<p>It was added in version 9.1 of the fictional toolkit. Counting is case-insensitive.</p>"),
    ),
    "library/beta.html": (
        "beta — Rounding helpers",
        ("<p>The beta module rounds numbers half to even by default.</p>"
        "<p>Pass <code>mode='up'</code> to round away from zero instead. The default precision is four digits.</p>"),
    ),
    "howto/gamma.html": (
        "Gamma HOWTO",
        ("<p>This guide explains how to configure the gamma scheduler for nightly jobs.</p>"
        "<p>The scheduler wakes up every 15 minutes and runs the jobs that are due.</p>"),
    ),
    "library/delta.html": (
        "delta — Differences between sequences",
        "<p>The delta module compares two sequences and reports inserted and deleted items.</p>",
    ),
}
_QUESTIONS = [
    {"id": "t1", "question": "In which version of the toolkit was the alpha module added?", "accept": ["9.1"],
     "evidence": "It was added in version 9.1 of the fictional toolkit.", "type": "numeric", "split": "scale",
     "source": "library/alpha.html"},
    {"id": "t2", "question": "How often does the gamma scheduler wake up?", "accept": ["every 15 minutes"],
     "evidence": "The scheduler wakes up every 15 minutes and runs the jobs that are due.", "type": "fact",
     "split": "scale", "source": "howto/gamma.html"},
]


def _write_docs(root: Path) -> None:
    for name, (title, body) in _PAGES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>",
                        encoding="utf-8")
    (root / "_static").mkdir()
    (root / "_static" / "skip.html").write_text("<p>not a page</p>", encoding="utf-8")
    (root / "objects.inv").write_text("not html", encoding="utf-8")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BenchReport, Path]]:
    """One quick bench over the bundled corpus, a subset of its questions and a tiny HTML 'scale' corpus."""
    root = tmp_path_factory.mktemp("bench")
    docs = root / "docs"
    _write_docs(docs)
    scale_questions = root / "scale.jsonl"
    scale_questions.write_text("\n".join(json.dumps(item) for item in _QUESTIONS) + "\n", encoding="utf-8")
    # Twelve bundled questions (answerable and not) keep the warm loops short.
    questions = root / "questions.jsonl"
    questions.write_text("\n".join(BUNDLED_QUESTIONS.read_text(encoding="utf-8").splitlines()[:12]) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:  # module scope runs before the autouse clean_environ
        import os

        for key in list(os.environ):
            if key.startswith("CORPUSQA_"):
                mp.delenv(key)
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        settings = load_settings(index_dir=root / "index", corpus_dir=ROOT / "data" / "corpus")
        options = BenchOptions(
            quick=True, questions=questions, scale_root=docs, scale_questions=scale_questions, install_docs=False,
            cold_runs=1, scale_repeats=1,
        )
        report = run_bench(settings, options)
    yield report, settings.index_dir


def _positive(run: IngestRun, embedded: bool) -> None:
    assert run.wall_s > 0 and run.ingest_s > 0 and run.cpu_s > 0
    assert 20 < run.peak_rss_mib < 8192
    assert run.documents > 0 and run.chunks > 0 and run.index_mib > 0
    if embedded:
        assert run.embedded_chunks > 0 and run.chunks_per_s > 0 and run.ingest_cpu_s > 0


def _sane_pipeline(figures: PipelineFigures) -> None:
    _positive(figures.ingest, embedded=True)
    assert figures.cold_ask.median_s > 0 and figures.cold_ask.runs_s and figures.cold_ask.peak_rss_mib > 20
    warm = figures.warm
    assert warm.questions == 12
    for stage in (warm.total, warm.embedding, warm.retrieval, warm.answering):
        assert 0 < stage.median_ms <= stage.p95_ms
    r = figures.retrieval
    assert r.questions == sum(1 for q in load_questions(BUNDLED_QUESTIONS)[:12] if q.answerable)
    assert 0 <= r.hit_at_1 <= r.hit_at_2 <= r.hit_at_5 <= 1 and 0 <= r.mrr <= 1


def test_bench_reports_every_figure_for_both_pipelines(bench_run: tuple[BenchReport, Path]) -> None:
    report, _ = bench_run

    assert report.run == "bench-quick"
    assert report.machine.cores >= 1 and report.machine.ram_gib > 0 and report.machine.cpu and report.machine.date
    assert report.floor.sentences_per_s > 0 and report.floor.sentences >= 256
    _sane_pipeline(report.ours)
    _sane_pipeline(report.reference)
    assert report.ours.ingest.sentences > 0 and report.ours.ingest.sentences_per_s > 0
    assert set(report.ours.ingest.stages) == set(STAGES) and report.reference.ingest.stages == {}
    assert report.scale is not None and set(report.scale.large.stages) == set(STAGES)


def test_bench_no_change_reingest_embeds_nothing_and_loads_no_model(bench_run: tuple[BenchReport, Path]) -> None:
    ours = bench_run[0].ours

    _positive(ours.reingest, embedded=False)
    assert ours.reingest.embedded_chunks == 0
    assert ours.reingest.chunks == ours.ingest.chunks
    assert ours.reingest.sentences == ours.ingest.sentences
    # Peak memory is per process (VmHWM), so a re-ingest that never loads torch shows far less.
    assert ours.reingest.peak_rss_mib < ours.ingest.peak_rss_mib


def test_bench_reference_rerun_embeds_everything_again(bench_run: tuple[BenchReport, Path]) -> None:
    reference = bench_run[0].reference

    assert reference.reingest.embedded_chunks == reference.ingest.embedded_chunks > 0
    assert reference.reingest.chunks == 2 * reference.ingest.chunks


def test_bench_ratios_are_ours_over_theirs(bench_run: tuple[BenchReport, Path]) -> None:
    report = bench_run[0]

    expected = {"ingest_wall", "ingest_time", "ingest_peak_memory", "reingest_wall", "cold_ask", "warm_median",
                "warm_p95", "hit_at_1", "hit_at_5", "mrr"}
    assert set(report.ratios) == expected
    assert all(value > 0 and math.isfinite(value) for value in report.ratios.values())
    assert report.ratios["mrr"] == pytest.approx(report.ours.retrieval.mrr / report.reference.retrieval.mrr, abs=1e-3)


def test_bench_scale_figures_at_two_sizes(bench_run: tuple[BenchReport, Path]) -> None:
    scale = bench_run[0].scale

    assert scale is not None and scale.variant == "quick"
    assert (scale.pages_small, scale.pages_large) == (2, 4)
    assert 0 < scale.mib_small < scale.mib_large
    _positive(scale.small, embedded=True)
    _positive(scale.large, embedded=True)
    assert scale.large.chunks > scale.small.chunks
    assert scale.reingest.embedded_chunks == 0
    assert scale.floor.sentences_per_s > 0
    assert scale.throughput_vs_floor > 0 and scale.throughput_vs_floor_cpu > 0
    assert scale.reingest_vs_full > 0 and scale.memory_growth > 0
    assert scale.cold_ask.median_s > 0 and scale.warm.questions == 2
    assert scale.retrieval.questions == 2 and 0 <= scale.retrieval.mrr <= 1


def test_bench_targets_name_every_goal(bench_run: tuple[BenchReport, Path]) -> None:
    targets = bench_run[0].targets

    names = " | ".join(target.name for target in targets)
    for goal in ("warm answer median, bundled", "warm answer median, bundled (issue #28)", "cold `corpusqa ask`", "MRR ours/reference", "ingest peak memory, bundled",
                 "ingest throughput / floor (fp32 torch)", "no-change re-ingest / full", "warm answer median, scale", "ingest peak memory", "memory growth"):
        assert goal in names
    assert all(isinstance(target.met, bool) and math.isfinite(target.value) for target in targets)


def test_bench_full_variant_reports_the_whole_docs_targets(bench_run: tuple[BenchReport, Path]) -> None:
    from dataclasses import replace

    report = bench_run[0]
    assert report.scale is not None
    quick = {target.name.split(",")[0] for target in report.targets}  # the name without its label
    full = {target.name.split(",")[0]
            for target in evaluate_targets(report.ours, report.reference, replace(report.scale, variant="full"))}

    added = full - quick  # the bundled cold ask is named "cold `corpusqa ask`" too: the scale one is not new
    assert added == {"ingest time (process)", "ingest peak memory <= 1.5 GiB", "no-change re-ingest <= 1% of full",
                     "cold ask peak memory"}


def test_bench_renders_table_markdown_and_saves_history(bench_run: tuple[BenchReport, Path], tmp_path: Path) -> None:
    report, _ = bench_run

    table = render_table(report)
    markdown = render_markdown(report)
    first = save_bench(report, tmp_path / "bench")
    save_bench(report, tmp_path / "bench")

    assert report.machine.cpu in table and report.machine.date in table and "Targets" in table
    assert table.count("stages ") >= 3 and "embed " in table  # the bundled ingest and both scale ingests
    assert "| figure | corpusqa | llama-index textbook | ours/theirs |" in markdown
    assert json.loads(first.read_text(encoding="utf-8")) == json.loads(json.dumps(report.to_json()))
    history = [json.loads(line) for line in (tmp_path / "bench" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2
    assert history[0]["run"] == "bench-quick" and history[0]["settings"]["chunk_tokens"] == report.settings["chunk_tokens"]
    assert "chunker-" in history[0]["settings"]["signature"]
    assert set(history[0]["recall_at_k"]) == {"hit_at_1", "hit_at_5"} and 0 <= history[0]["mrr"] <= 1
    assert history[0]["timings"]["warm_median_ms"] > 0 and "scale" in history[0]
    assert "openai_api_key" not in json.dumps(asdict(report))


def test_bench_cli_prints_json_and_writes_results(
    bench_run: tuple[BenchReport, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.cli import cli

    # The measurements ran in the fixture; here only the command's wiring is under test.
    monkeypatch.setattr("evals.bench.run_bench", lambda settings, options, say: bench_run[0])
    result = CliRunner().invoke(cli, ["bench", "--quick", "--json", "--index-dir", str(tmp_path / "idx")])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["run"] == "bench-quick" and Path(data["results_file"]).is_file()
    assert (tmp_path / "idx" / "bench" / "history.jsonl").is_file()


@pytest.mark.parametrize(
    ("quick", "expected_small", "expected_large"),
    [(True, ["library/alpha.html", "howto/gamma.html"], 4), (False, ["howto/gamma.html"], 4)],
)
def test_select_pages_is_deterministic(tmp_path: Path, quick: bool, expected_small: list[str], expected_large: int) -> None:
    _write_docs(tmp_path / "docs")
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(item) for item in _QUESTIONS) + "\n", encoding="utf-8")

    small, large = select_pages(tmp_path / "docs", quick, questions)

    assert small == expected_small and len(large) == expected_large
    assert "_static/skip.html" not in doc_pages(tmp_path / "docs")


def test_select_pages_cap_spaces_pages_evenly_and_keeps_the_cited_ones(tmp_path: Path) -> None:
    _write_docs(tmp_path / "docs")
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(item) for item in _QUESTIONS) + "\n", encoding="utf-8")

    small, large = select_pages(tmp_path / "docs", False, questions, cap=2)

    # evenly spaced: pages 0 and 2 of the sorted four; plus library/alpha.html, which a question cites
    assert large == ["howto/gamma.html", "library/alpha.html", "library/beta.html"]
    assert small == ["howto/gamma.html"]


def test_ensure_docs_names_the_package_when_pages_are_missing(tmp_path: Path) -> None:
    from corpusqa.errors import CorpusQAError
    from evals.bench_scale import DOC_PACKAGE, ensure_docs

    with pytest.raises(CorpusQAError, match=f"apt-get install {DOC_PACKAGE}.*--no-scale"):
        ensure_docs(tmp_path / "missing", install=True, say=lambda _: None)  # not the Debian path: never installs
    _write_docs(tmp_path / "docs")
    assert ensure_docs(tmp_path / "docs", install=False, say=lambda _: None) == tmp_path / "docs"


def test_stages_line_lists_stages_in_run_order_with_shares() -> None:
    line = stages_line({"embed": 3.0, "read": 1.0, "commit": 0.0, "extra": 1.0})
    assert line == "read 1.00 s (20%), embed 3.00 s (60%), commit 0.00 s (0%), extra 1.00 s (20%)"
