"""corpusqa's ground floor: settings, the error tree and shared dataclasses."""

from corpusqa.errors import (
    CorpusQAError,
    EmptyCorpusError,
    EmptyQuestionError,
    IndexBusyError,
    IndexNotFoundError,
    InvalidSettingError,
    LLMError,
    ModelLoadError,
    SourceNotFoundError,
)
from corpusqa.settings import Settings
from corpusqa.types import (
    Answer,
    Chunk,
    Citation,
    DocumentStatus,
    IndexStatus,
    IngestReport,
    Skipped,
    Timings,
)

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "CorpusQAError",
    "DocumentStatus",
    "EmptyCorpusError",
    "EmptyQuestionError",
    "IndexBusyError",
    "IndexNotFoundError",
    "IndexStatus",
    "IngestReport",
    "InvalidSettingError",
    "LLMError",
    "ModelLoadError",
    "Settings",
    "Skipped",
    "SourceNotFoundError",
    "Timings",
]
