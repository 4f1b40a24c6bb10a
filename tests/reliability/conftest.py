"""A real Chroma server (chromadb's own `chroma run`) on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.bench_workers import chroma_server as run_chroma


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """Start `chroma run` (the bench's own starter: data in server-data/, its log beside it) and yield its
    port; stopped after the test."""
    with run_chroma(tmp_path / "server-data") as (port, _):
        yield port
