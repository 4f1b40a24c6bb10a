"""Shared fixtures: a scrubbed offline environment, the real MiniLM model once per session, a real index."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from corpusqa.offline import OFFLINE_ENV
from corpusqa.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "data" / "corpus"
EXAMPLE_QUESTION = "How many Taliban prisoners were held in total?"
_OPEN_FILES = 16384  # the suite holds up to about 1,800 (see pytest_configure)


def pytest_configure(config: pytest.Config) -> None:
    """Let the test process hold the files of many indexes: chromadb keeps one System per Chroma path for
    the life of the process, with its SQLite and segment files open, and the suite opens a few hundred
    indexes (up to about 1,800 descriptors), past the soft limit of 1,024 many machines start with."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _OPEN_FILES if hard == resource.RLIM_INFINITY else min(_OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the ONNX export of MiniLM, shared by the session (an export takes ~15 s)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> None:
    """No CORPUSQA_* from the developer's shell, offline switches on, the index under tmp_path."""
    for key in list(os.environ):
        if key.startswith("CORPUSQA_") or key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(key, raising=False)
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CORPUSQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("CORPUSQA_MODEL_CACHE_DIR", str(model_cache))


@pytest.fixture(scope="session")
def embedder(model_cache: Path):  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 on ONNX Runtime (int8, the default), loaded once."""
    from ingest.embedder import Embedder

    return Embedder("all-MiniLM-L6-v2", 64, model_cache)


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:  # type: ignore[no-untyped-def]
    """Settings of an index holding the bundled corpus, ingested once per session (treat as read-only)."""
    from rag import Engine

    root = tmp_path_factory.mktemp("bundled")
    corpus = root / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    settings = load_settings(index_dir=root / "index", corpus_dir=corpus)
    Engine(settings, embedder).ingest([corpus])
    return settings


@pytest.fixture
def engine(bundled_index: Settings, embedder):  # type: ignore[no-untyped-def]
    """An Engine over the bundled index, sharing the session's model."""
    from rag import Engine

    return Engine(bundled_index, embedder)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the bundled corpus folder."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, target)
    yield target
