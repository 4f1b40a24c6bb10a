"""`corpusqa bench`: ingest and answer speed, memory and retrieval quality, ours beside llama-index's textbook.

Each ingest and each cold `ask` runs in its own child process (evals/bench_child.py) so that its wall
time and peak memory are its own; warm latency and retrieval are measured in this process, ours and
the reference pipeline (evals/bench_reference.py) in the same run. Times are reported, never judged:
the bench fails only on real errors.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from corpusqa.errors import CorpusQAError
from corpusqa.settings import Settings
from evals.bench_child import ChildRun, child_env, disk_mib, ingest_args, python_child, run_child
from evals.bench_report import evaluate_targets, ratios
from evals.bench_scale import DOC_ROOT, SCALE_QUESTIONS, copy_pages, ensure_docs, select_pages
from evals.bench_types import (
    BenchReport,
    ColdAsk,
    Floor,
    IngestRun,
    Latency,
    Machine,
    PipelineFigures,
    Retrieval,
    ScaleFigures,
    SyntheticFigures,
)
from evals.metrics import evidence_rank, hit_at, mrr
from evals.questions import BUNDLED_QUESTIONS, Question, load_questions
from ingest.embedder import Embedder
from ingest.index import signature_of
from rag.engine import Engine

__all__ = ["BenchOptions", "machine_info", "run_bench", "synthetic_figures"]

Say = Callable[[str], None]

#: The settings a bench run records (never keys, tokens or hosts).
_RECORDED = ("embedding_model", "embedding_precision", "embed_batch_size", "chunk_tokens", "top_k", "bm25_weight",
             "dense_weight", "rrf_k", "abstain_threshold")


@dataclass
class BenchOptions:
    """What to run; the defaults are the full bench."""

    quick: bool = False
    scale: bool = True
    corpus: Path | None = None  # default: settings.corpus_dir (the bundled corpus)
    questions: Path = BUNDLED_QUESTIONS
    scale_root: Path = DOC_ROOT
    scale_questions: Path = SCALE_QUESTIONS
    install_docs: bool = True
    pages: int = 0  # full variant only: cap the scale corpus at this many evenly spaced pages (0 = all)
    copies: int = 10  # full variant only: also ingest this many copies of the scale pages, varied (0 = skip)
    cold_runs: int = 3
    scale_repeats: int = 3  # each scale question is asked this many times for its latency figures
    keep: bool = False  # keep the work folder (indexes built by the bench)

    @property
    def run_name(self) -> str:
        """`bench-quick` or `bench-full` (with the page cap, and `-noscale` when the scale part is skipped)."""
        pages = f"-{self.pages}pages" if self.pages and not self.quick else ""
        copies = f"-x{self.copies}" if self.copies and self.scale and not self.quick else ""
        return f"bench-{'quick' if self.quick else 'full'}{pages}{copies}{'' if self.scale else '-noscale'}"


def machine_info() -> Machine:
    """CPU model, cores, memory, platform and the date, for every figure's header."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 1,
        ram_gib=round(ram, 1),
        platform=platform.platform(),
        python=platform.python_version(),
        torch_threads=0,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        load_start=round(os.getloadavg()[0], 2),
    )


def run_bench(settings: Settings, options: BenchOptions, say: Say = lambda _: None) -> BenchReport:
    """Run every measurement and return the figures (progress lines go to `say`)."""
    from evals.bench_floor import corpus_sentences, embedding_floor

    started = time.perf_counter()
    settings = settings.model_copy(update={"chroma_host": None, "backend": "extractive"})
    # one export for every step, built now: a one-time export is not part of any ingest or ask figure
    settings = settings.model_copy(update={"model_cache_dir": settings.models_dir.resolve()})
    say(f"ONNX export of the embedding model ({settings.embedding_precision}) in {settings.models_dir}...")
    Embedder.from_settings(settings).embed_query("warm up")
    corpus = (options.corpus or settings.corpus_dir).resolve()
    if not corpus.is_dir():
        raise CorpusQAError(f"No corpus folder at {corpus}; run the bench from the project folder or pass --corpus.")
    questions = load_questions(options.questions, "all")
    machine = machine_info()
    work = settings.index_dir.resolve() / "bench" / f"work-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        say(f"Embedding floor on {corpus.name}'s sentences...")
        files = sorted(path for path in corpus.rglob("*") if path.is_file())
        floor = embedding_floor(
            corpus_sentences(files, settings.chunk_tokens, limit=2000),
            settings.embedding_model, settings.embed_batch_size, minimum=256 if options.quick else 1500,
        )
        machine.torch_threads = _torch_threads()
        ours, engine = _ours(settings, corpus, work, questions, options, say)
        reference = _reference(settings, corpus, work, questions, options, say)
        scale = _scale(settings, engine, work, options, say) if options.scale else None
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    machine.load_end = round(os.getloadavg()[0], 2)
    notes = [
        ("Ingest and cold ask run in child processes (wall time and peak RSS per process); warm latency and "
        "retrieval run in the bench process, ours and the reference in the same run."),
        ("Retrieval: evidence rank among the top 5 passages of the answerable eval questions (all splits); "
        "the reference's hit@5 and MRR come from top 5 of the same index (its answers use top 2)."),
        "Ingest throughput is compared with the floor in sentences/s because ingest embeds every sentence.",
    ]
    if machine.load_start > machine.cores or machine.load_end > machine.cores:
        notes.append(
            f"The machine was busy (load {machine.load_start} at start, {machine.load_end} at end on "
            f"{machine.cores} cores): times are inflated; compare ratios, and CPU-second figures."
        )
    return BenchReport(
        run=options.run_name,
        machine=machine,
        # the signature names the chunker version: a bench whose tree changed mid-run shows it in history
        settings={**{key: getattr(settings, key) for key in _RECORDED}, "signature": signature_of(settings)},
        floor=floor,
        ours=ours,
        reference=reference,
        ratios=ratios(ours, reference),
        scale=scale,
        targets=evaluate_targets(ours, reference, scale),
        seconds=round(time.perf_counter() - started, 1),
        notes=notes,
    )


def _torch_threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:
        return 0


def _ingest_run(child: ChildRun, index_dir: Path) -> IngestRun:
    out = child.output
    return IngestRun(
        wall_s=round(child.wall_s, 3),
        ingest_s=round(float(out["ingest_s"]), 3),
        model_load_s=round(float(out.get("model_load_s", 0.0)), 3),
        cpu_s=round(child.cpu_s, 3),
        ingest_cpu_s=round(float(out.get("ingest_cpu_s", 0.0)), 3),
        peak_rss_mib=round(child.peak_rss_mib, 1),
        documents=int(out["documents"]),
        chunks=int(out["chunks"]),
        sentences=int(out.get("sentences", 0)),
        embedded_chunks=int(out["embedded_chunks"]),
        index_mib=round(disk_mib(index_dir), 2),
        stages={str(stage): float(seconds) for stage, seconds in (out.get("stages") or {}).items()},
    )


def _ingest(settings: Settings, index: Path, corpus: Path, preload: bool, what: str, say: Say) -> IngestRun:
    say(f"{what}...")
    run = _ingest_run(run_child(ingest_args(settings, index, [corpus], preload), child_env(index, settings), what), index)
    say(f"  {run.wall_s:.1f} s process, {run.ingest_s:.1f} s ingest, {run.embedded_chunks} chunks embedded "
        f"({run.sentences} sentences in the index), peak {run.peak_rss_mib:.0f} MiB")
    return run


def _cold(argv: list[str], runs: int, what: str, say: Say, settings: Settings | None = None) -> ColdAsk:
    say(f"{what} x{runs}...")
    results = [run_child(argv, child_env(settings=settings), what) for _ in range(max(1, runs))]
    return ColdAsk([round(r.wall_s, 3) for r in results], round(max(r.peak_rss_mib for r in results), 1))


def _cli(*args: str) -> list[str]:
    # What the `corpusqa` console script runs, plus the peak-memory hook (evals/bench_child.py).
    return python_child("from ui.cli import main\nsys.argv[0] = 'corpusqa'\nsys.exit(main())\n", list(args))


def _warm_ours(engine: Engine, questions: list[Question], repeats: int = 1) -> tuple[Latency, Retrieval]:
    engine.warm_up()
    timings, ranks = [], []
    for repeat in range(repeats):
        for item in questions:
            answer = engine.ask(item.question, backend="extractive")
            t = answer.timings
            timings.append((answer.seconds, t.embedding, t.retrieval, t.answering))
            if repeat == 0 and item.answerable:
                # the answer's own passages are the top 5 when top_k >= 5; otherwise retrieve them
                top = answer.retrieved[:5] if engine.settings.top_k >= 5 else engine.retrieve(item.question, top_k=5)
                ranks.append(evidence_rank([scored.chunk.text for scored in top], item.evidence))
    return Latency.of(timings), _retrieval(ranks)


def _retrieval(ranks: list[int]) -> Retrieval:
    return Retrieval(len(ranks), round(hit_at(ranks, 1), 4), round(hit_at(ranks, 2), 4), round(hit_at(ranks, 5), 4),
                     round(mrr(ranks), 4))


def _ours(
    settings: Settings, corpus: Path, work: Path, questions: list[Question], options: BenchOptions, say: Say
) -> tuple[PipelineFigures, Engine]:
    index = work / "ours"
    ingest = _ingest(settings, index, corpus, True, "Ingest from empty (ours)", say)
    reingest = _ingest(settings, index, corpus, False, "No-change re-ingest (ours)", say)
    cold = _cold(_cli("ask", "--index-dir", str(index), questions[0].question), options.cold_runs,
                 "Cold `corpusqa ask`", say, settings)
    say(f"Warm answers and retrieval over {len(questions)} eval questions (ours)...")
    engine = Engine.from_settings(settings.model_copy(update={"index_dir": index}))
    warm, retrieval = _warm_ours(engine, questions)
    notes = [f"extractive backend, top_k {settings.top_k}, chunks of ~{settings.chunk_tokens} tokens, hybrid BM25 + MiniLM"]
    return PipelineFigures("corpusqa", ingest, reingest, cold, warm, retrieval, notes), engine


def _reference(
    settings: Settings, corpus: Path, work: Path, questions: list[Question], options: BenchOptions, say: Say
) -> PipelineFigures:
    from evals.bench_reference import ReferencePipeline, reference_args
    from ingest.embedder import resolve_model_path

    chroma = work / "reference"
    payload = {"corpus": str(corpus), "chroma_dir": str(chroma), "model_path": str(resolve_model_path(settings.embedding_model))}

    def ingest(what: str) -> IngestRun:
        say(f"{what}...")
        run = _ingest_run(run_child(reference_args("ingest", payload), child_env(), what), chroma)
        say(f"  {run.wall_s:.1f} s process, {run.ingest_s:.1f} s ingest, {run.embedded_chunks} chunks embedded, "
            f"peak {run.peak_rss_mib:.0f} MiB")
        return run

    first = ingest("Ingest from empty (llama-index reference)")
    cold = _cold(reference_args("ask", {**payload, "question": questions[0].question}), max(1, options.cold_runs - 1),
                 "Cold textbook query (reference)", say)
    say(f"Warm answers and retrieval over {len(questions)} eval questions (reference)...")
    pipeline = ReferencePipeline(chroma, payload["model_path"])
    pipeline.warm_up()
    timings, ranks = [], []
    for item in questions:
        mark = time.perf_counter()
        vector, embedding, retrieval_s, answering = pipeline.ask(item.question)
        timings.append((time.perf_counter() - mark, embedding, retrieval_s, answering))
        if item.answerable:
            ranks.append(evidence_rank(pipeline.retrieve_texts(item.question, vector), item.evidence))
    del pipeline
    # Rerunning the textbook script is its "re-ingest": it has no change detection, so it reads,
    # splits and embeds everything again and adds duplicates (measured after the queries above).
    again = ingest("Re-run of the textbook ingest (reference)")
    notes = [
        ("SimpleDirectoryReader, SentenceSplitter(1024, 200), VectorStoreIndex on Chroma, HuggingFaceEmbedding "
        "(same MiniLM, batch 10), top-k 2, MockLLM (Settings.llm = None)"),
        f"its re-run re-embedded {again.embedded_chunks} chunks (no change detection; duplicates added)",
    ]
    return PipelineFigures("llama-index textbook", first, again, cold, Latency.of(timings), _retrieval(ranks), notes)


def _scale(settings: Settings, engine: Engine, work: Path, options: BenchOptions, say: Say) -> ScaleFigures:
    from evals.bench_floor import corpus_sentences, embedding_floor

    root = ensure_docs(options.scale_root, options.install_docs, say)
    small_pages, large_pages = select_pages(root, options.quick, options.scale_questions, options.pages)
    small_dir, large_dir = work / "docs-small" / "python-docs", work / "docs-large" / "python-docs"
    mib_small = copy_pages(root, small_pages, small_dir)
    mib_large = copy_pages(root, large_pages, large_dir)
    say(f"Scale corpus: {len(small_pages)} and {len(large_pages)} pages ({mib_small:.1f} and {mib_large:.1f} MB of HTML).")
    say("Embedding floor on the scale corpus's sentences...")
    step = max(1, len(large_pages) // 40)
    sample = corpus_sentences([large_dir / page for page in large_pages[::step]], settings.chunk_tokens,
                              limit=512 if options.quick else 4000)
    before = embedding_floor(sample, settings.embedding_model, settings.embed_batch_size, minimum=256)
    say(f"  {before.sentences_per_s:.0f} sentences/s")
    small_index, large_index = work / "scale-small", work / "scale-large"
    small = _ingest(settings, small_index, small_dir, True, f"Ingest {len(small_pages)} pages from empty", say)
    large = _ingest(settings, large_index, large_dir, True, f"Ingest {len(large_pages)} pages from empty", say)
    say("Embedding floor again (the machine's load drifts during a long ingest)...")
    floor = Floor.mean_of([before, embedding_floor(sample, settings.embedding_model, settings.embed_batch_size, minimum=256)])
    say(f"  {floor.rates[-1]:.0f} sentences/s; ingest reached {large.sentences_per_s / floor.sentences_per_s:.0%} of the mean")
    reingest = _ingest(settings, large_index, large_dir, False, f"No-change re-ingest of {len(large_pages)} pages", say)
    questions = load_questions(options.scale_questions, "all")
    cold = _cold(_cli("ask", "--index-dir", str(large_index), questions[0].question), 1,
                 "Cold `corpusqa ask` at scale", say, settings)
    say(f"Warm answers and retrieval over {len(questions)} scale questions x{options.scale_repeats}...")
    warm, retrieval = _warm_ours(engine.with_settings(index_dir=large_index), questions, options.scale_repeats)
    synthetic = None
    if options.copies and not options.quick:
        synthetic = synthetic_figures(settings, engine, root, large_pages, work, options, say)
    floor_cpu_rate = floor.sentences / floor.cpu_seconds if floor.cpu_seconds else 0.0
    ingest_cpu_rate = large.sentences / large.ingest_cpu_s if large.ingest_cpu_s else 0.0
    size_ratio = large.chunks / small.chunks if small.chunks else 0.0
    return ScaleFigures(
        source=str(root),
        variant="quick" if options.quick else "full",
        pages_small=len(small_pages),
        pages_large=len(large_pages),
        mib_small=round(mib_small, 4),
        mib_large=round(mib_large, 4),
        floor=floor,
        small=small,
        large=large,
        reingest=reingest,
        cold_ask=cold,
        warm=warm,
        retrieval=retrieval,
        throughput_vs_floor=round(large.sentences_per_s / floor.sentences_per_s, 3) if floor.sentences_per_s else 0.0,
        throughput_vs_floor_cpu=round(ingest_cpu_rate / floor_cpu_rate, 3) if floor_cpu_rate else 0.0,
        reingest_vs_full=round(reingest.wall_s / large.wall_s, 4) if large.wall_s else 0.0,
        memory_growth=round((large.peak_rss_mib / small.peak_rss_mib) / size_ratio, 3) if size_ratio else 0.0,
        marginal_mib_per_1k_chunks=round(
            (large.peak_rss_mib - small.peak_rss_mib) / ((large.chunks - small.chunks) / 1000), 2
        ) if large.chunks > small.chunks else 0.0,
        synthetic=synthetic,
    )


def synthetic_figures(
    settings: Settings, engine: Engine, root: Path, pages: list[str], work: Path, options: BenchOptions, say: Say
) -> SyntheticFigures:
    """The scale pages copied `options.copies` times (evals/bench_synthetic.py): ingest, re-ingest, asks."""
    from evals.bench_synthetic import synthetic_corpus

    folder = work / "synthetic" / "python-docs-copies"
    mib = synthetic_corpus(root, pages, options.copies, folder)
    count = len(pages) * options.copies
    say(f"Synthetic corpus: {options.copies} copies of {len(pages)} pages = {count} pages ({mib:.1f} MB of HTML).")
    index = work / "synthetic-index"
    ingest = _ingest(settings, index, folder, True, f"Ingest {count} synthetic pages from empty", say)
    reingest = _ingest(settings, index, folder, False, f"No-change re-ingest of {count} synthetic pages", say)
    questions = load_questions(options.scale_questions, "all")
    cold = _cold(_cli("ask", "--index-dir", str(index), questions[0].question), 1,
                 "Cold `corpusqa ask` on the synthetic index", say, settings)
    say(f"Warm answers over {len(questions)} scale questions x{options.scale_repeats} (synthetic index)...")
    warm, retrieval = _warm_ours(engine.with_settings(index_dir=index), questions, options.scale_repeats)
    return SyntheticFigures(
        copies=options.copies, pages=count, mib=round(mib, 3), ingest=ingest, reingest=reingest, cold_ask=cold,
        warm=warm, retrieval=retrieval,
        reingest_vs_full=round(reingest.wall_s / ingest.wall_s, 4) if ingest.wall_s else 0.0,
    )
