"""The eval corpora under evals/corpora/<name>/: documents (docs/), questions.jsonl, gate.toml, README.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corpusqa.errors import CorpusQAError
from evals.gate import load_thresholds
from evals.questions import Question, load_questions

if TYPE_CHECKING:
    from corpusqa.settings import Settings
    from corpusqa.types import IngestReport
    from ingest.embedder import Embedder
    from rag.engine import Engine

__all__ = [
    "CORPORA_DIR",
    "EvalCorpus",
    "corpus_index_dir",
    "corpus_names",
    "load_corpus",
    "load_corpus_dir",
    "open_corpus",
]

CORPORA_DIR = Path(__file__).resolve().parent / "corpora"
_SPLITS = ("dev", "test", "all")


@dataclass(frozen=True)
class EvalCorpus:
    """One eval corpus: its documents folder, its questions (of the requested split) and its gate."""

    name: str
    folder: Path
    documents: Path
    questions: list[Question]
    gate: dict[str, dict[str, float]]  # {"min": {metric: bound}, "max": {metric: bound}}; empty = no gate
    split: str = "all"
    questions_file: Path | None = None  # default: folder/questions.jsonl

    def in_split(self, split: str) -> list[Question]:
        """Its questions of one split ("dev", "test" or "all")."""
        return [q for q in self.questions if split == "all" or q.split == split]


def corpus_names(root: Path = CORPORA_DIR) -> list[str]:
    """Names of the eval corpora (folders holding a questions.jsonl), sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "questions.jsonl").is_file() and not p.name.startswith("."))


def load_corpus(name: str, split: str = "all", root: Path = CORPORA_DIR) -> EvalCorpus:
    """The named eval corpus with the questions of one split; an unknown name raises CorpusQAError."""
    names = corpus_names(root)
    if name not in names:
        raise CorpusQAError(f"No eval corpus named {name!r}; choose one of: {', '.join(names) or '(none)'}.")
    return load_corpus_dir(root / name, split)


def load_corpus_dir(folder: Path, split: str = "all") -> EvalCorpus:
    """A corpus laid out like evals/corpora/<name>/ (docs/, questions.jsonl, optional gate.toml)."""
    if split not in _SPLITS:
        raise CorpusQAError(f"Unknown split {split!r}; use dev, test or all.")
    documents = folder / "docs"
    if not documents.is_dir():
        raise CorpusQAError(f"Eval corpus {folder} has no docs/ folder; put its documents there.")
    gate_file = folder / "gate.toml"
    gate = load_thresholds(gate_file) if gate_file.is_file() else {"min": {}, "max": {}}
    return EvalCorpus(
        name=folder.name,
        folder=folder,
        documents=documents,
        questions=load_questions(folder / "questions.jsonl", split),
        gate=gate,
        split=split,
        questions_file=folder / "questions.jsonl",
    )


def corpus_index_dir(index_dir: Path, name: str) -> Path:
    """Where a corpus's own index lives: <index_dir>/evals/<name>."""
    return index_dir / "evals" / name


def open_corpus(
    settings: Settings, corpus: EvalCorpus, embedder: Embedder | None = None
) -> tuple[Engine, IngestReport]:
    """An Engine over the corpus's own index, ingested incrementally (unchanged files are not re-embedded).

    Pass `embedder` to share one loaded model between corpora (tests and multi-corpus runs load it once).
    """
    from rag.engine import Engine

    own = settings.model_copy(
        update={"index_dir": corpus_index_dir(settings.index_dir, corpus.name), "corpus_dir": corpus.documents}
    )
    engine = Engine(own, embedder) if embedder is not None else Engine.from_settings(own)
    return engine, engine.ingest([corpus.documents])
