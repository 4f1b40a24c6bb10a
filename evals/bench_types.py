"""The figures `corpusqa bench` measures, as dataclasses that serialise to the bench JSON file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evals.metrics import percentile

__all__ = [
    "BenchReport",
    "ColdAsk",
    "Floor",
    "IngestRun",
    "Latency",
    "Machine",
    "PipelineFigures",
    "Retrieval",
    "ScaleFigures",
    "Stage",
    "SyntheticFigures",
    "Target",
]


@dataclass
class Machine:
    """Where and when the figures were taken (the machine is shared and noisy: load is recorded)."""

    cpu: str
    cores: int
    ram_gib: float
    platform: str
    python: str
    torch_threads: int
    date: str
    load_start: float
    load_end: float = 0.0


@dataclass
class Floor:
    """Raw MiniLM throughput: sentence-transformers encode on a corpus's own sentences."""

    sentences: int
    batch_size: int
    seconds: float
    cpu_seconds: float
    sentences_per_s: float
    mean_chars: float
    rates: list[float] = field(default_factory=list)  # each measurement, when taken more than once

    @classmethod
    def mean_of(cls, floors: list[Floor]) -> Floor:
        """One floor from several measurements of the same sample (the machine's load varies)."""
        rates = [floor.sentences_per_s for floor in floors]
        first = floors[0]
        return cls(
            sentences=first.sentences,
            batch_size=first.batch_size,
            seconds=round(sum(floor.seconds for floor in floors) / len(floors), 3),
            cpu_seconds=round(sum(floor.cpu_seconds for floor in floors) / len(floors), 3),
            sentences_per_s=round(sum(rates) / len(rates), 2),
            mean_chars=first.mean_chars,
            rates=rates,
        )


@dataclass
class IngestRun:
    """One ingest in its own process: wall time, in-process time, CPU time and peak memory."""

    wall_s: float  # the whole process: start-up, imports, model load, ingest
    ingest_s: float  # Engine.ingest alone (the model is loaded before it when preloaded)
    model_load_s: float
    cpu_s: float  # the whole process
    ingest_cpu_s: float  # Engine.ingest alone, all threads
    peak_rss_mib: float
    documents: int
    chunks: int
    sentences: int
    embedded_chunks: int  # chunks embedded by this run (0 for a no-change re-ingest)
    chunks_per_s: float = 0.0
    sentences_per_s: float = 0.0
    index_mib: float = 0.0
    #: wall seconds of each ingest stage (read, chunk, annotate, embed, write, commit); empty for the reference
    stages: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ingest_s > 0 and self.embedded_chunks:
            self.chunks_per_s = self.embedded_chunks / self.ingest_s
            self.sentences_per_s = self.sentences / self.ingest_s if self.sentences else 0.0


@dataclass
class ColdAsk:
    """`ask` as a fresh process, the way a user runs it once from the shell."""

    runs_s: list[float]
    peak_rss_mib: float
    median_s: float = 0.0

    def __post_init__(self) -> None:
        self.median_s = round(percentile(sorted(self.runs_s), 50), 3) if self.runs_s else 0.0


@dataclass
class Stage:
    """Median and 95th percentile of one stage, in milliseconds."""

    median_ms: float
    p95_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stage:
        """From per-question seconds."""
        ordered = sorted(seconds)
        return cls(round(percentile(ordered, 50) * 1000, 3), round(percentile(ordered, 95) * 1000, 3))


@dataclass
class Latency:
    """Warm per-question answer latency, in total and split into its stages."""

    questions: int
    total: Stage
    embedding: Stage
    retrieval: Stage
    answering: Stage

    @classmethod
    def of(cls, timings: list[tuple[float, float, float, float]]) -> Latency:
        """From (total, embedding, retrieval, answering) seconds per question."""
        columns = list(zip(*timings)) if timings else [(), (), (), ()]
        return cls(len(timings), *(Stage.of(list(column)) for column in columns))


@dataclass
class Retrieval:
    """Where the evidence ranked among the top 5 passages, over the answerable questions."""

    questions: int
    hit_at_1: float
    hit_at_2: float
    hit_at_5: float
    mrr: float  # over the top 5 (0 for evidence outside it)


@dataclass
class PipelineFigures:
    """One pipeline (ours or the llama-index reference) on the bundled corpus."""

    name: str
    ingest: IngestRun
    reingest: IngestRun
    cold_ask: ColdAsk
    warm: Latency
    retrieval: Retrieval
    notes: list[str] = field(default_factory=list)


@dataclass
class SyntheticFigures:
    """Our pipeline on N copies of the scale pages, numbers and names varied in all but the first
    (evals/bench_synthetic.py)."""

    copies: int
    pages: int
    mib: float  # HTML megabytes ingested
    ingest: IngestRun
    reingest: IngestRun
    cold_ask: ColdAsk
    warm: Latency
    retrieval: Retrieval  # the scale questions: their evidence is in copy 0, beside varied near-duplicates
    reingest_vs_full: float


@dataclass
class ScaleFigures:
    """Our pipeline on the Python 3.11 documentation (HTML) at two sizes."""

    source: str
    variant: str  # "quick" | "full"
    pages_small: int
    pages_large: int
    mib_small: float  # HTML megabytes ingested
    mib_large: float
    floor: Floor
    small: IngestRun
    large: IngestRun
    reingest: IngestRun
    cold_ask: ColdAsk
    warm: Latency
    retrieval: Retrieval
    throughput_vs_floor: float  # ingest sentences/s over floor sentences/s (large run)
    throughput_vs_floor_cpu: float  # the same from CPU seconds (less sensitive to other load)
    reingest_vs_full: float
    memory_growth: float  # (peak large / peak small) / (chunks large / chunks small); <= 1 is at most linear
    marginal_mib_per_1k_chunks: float
    synthetic: SyntheticFigures | None = None  # full variant with --copies (the 10x corpus by default)


@dataclass
class Target:
    """One target of issue #7: reported, never asserted on time."""

    name: str
    value: float
    target: str
    met: bool
    unit: str = ""


@dataclass
class BenchReport:
    """Everything one `corpusqa bench` run measured."""

    run: str
    machine: Machine
    settings: dict[str, Any]
    floor: Floor
    ours: PipelineFigures
    reference: PipelineFigures
    ratios: dict[str, float]
    scale: ScaleFigures | None
    targets: list[Target]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The whole run as plain JSON-able data."""
        return asdict(self)
