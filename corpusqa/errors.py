"""The errors a user can cause and act on, each with a one-sentence message.

    CorpusQAError                 base; str(err) is one sentence saying what to do
    ├── InvalidSettingError       a setting or flag has a bad value
    ├── SourceNotFoundError       an ingest path does not exist
    ├── IndexNotFoundError        no index yet (ask before ingest, wrong --index-dir)
    ├── EmptyCorpusError          the index holds no chunks
    ├── EmptyQuestionError        the question is blank or too long
    ├── IndexBusyError            another ingest holds the index lock
    ├── ReadOnlyIndexError        an ingest into an index directory that cannot be written
    ├── DamagedIndexError         state.json cannot be read (`ingest --repair` rewrites it)
    ├── ModelLoadError            the embedding model could not be loaded
    └── LLMError                  the OpenAI-compatible server failed (unreachable, timeout, bad key)
"""

from __future__ import annotations

__all__ = [
    "CorpusQAError",
    "DamagedIndexError",
    "EmptyCorpusError",
    "EmptyQuestionError",
    "IndexBusyError",
    "IndexNotFoundError",
    "InvalidSettingError",
    "LLMError",
    "ModelLoadError",
    "ReadOnlyIndexError",
    "SourceNotFoundError",
]


class CorpusQAError(Exception):
    """Base class: a failure the user can fix, described in one sentence."""


class InvalidSettingError(CorpusQAError):
    """A setting, environment variable or flag has a value that cannot be used."""


class SourceNotFoundError(CorpusQAError):
    """A path given to ingest does not exist."""


class IndexNotFoundError(CorpusQAError):
    """There is no index in the index directory."""


class EmptyCorpusError(CorpusQAError):
    """The index exists but holds no chunks."""


class EmptyQuestionError(CorpusQAError):
    """The question is empty (or only whitespace) or too long."""


class IndexBusyError(CorpusQAError):
    """Another ingest is writing the index."""


class ReadOnlyIndexError(CorpusQAError):
    """The index directory cannot be written (a read-only mount); it can still answer questions."""


class DamagedIndexError(CorpusQAError):
    """The index's state.json is damaged; nothing overwrites it without `corpusqa ingest --repair`."""


class ModelLoadError(CorpusQAError):
    """The embedding model could not be loaded from its local path."""


class LLMError(CorpusQAError):
    """The OpenAI-compatible LLM server could not answer."""
