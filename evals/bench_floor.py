"""The embedding floor: raw sentence-transformers MiniLM throughput on a corpus's own sentences.

Ingest embeds every sentence of every chunk (ingest/index.py), so sentences per second is the unit
it is compared in. Sentences come from our own loader and chunker, exactly as ingest sees them.
"""

from __future__ import annotations

import random
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpusqa.offline import enforce_offline
from evals.bench_types import Floor
from ingest.chunker import chunk_file
from ingest.embedder import resolve_model_path
from ingest.loader import SUPPORTED_SUFFIXES, UnreadableFile, file_hash, read_file

__all__ = ["corpus_sentences", "embedding_floor"]


@lru_cache(maxsize=2)
def _model(model_path: str) -> Any:
    enforce_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path, device="cpu", local_files_only=True)


def corpus_sentences(files: list[Path], chunk_tokens: int, limit: int, seed: int = 7) -> list[str]:
    """The sentences ingest would embed for these files; a fixed random sample of `limit` when more."""
    sentences: list[str] = []
    for path in files:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        data = path.read_bytes()
        try:
            loaded = read_file(data, path, path.name, len(data) + 1)
        except UnreadableFile:
            continue
        for chunk in chunk_file(loaded, file_hash(data), chunk_tokens):
            sentences.extend(chunk.text[a:b] for a, b in chunk.sentences)
    if len(sentences) > limit:
        sentences = random.Random(seed).sample(sentences, limit)
    return sentences


def embedding_floor(sentences: list[str], model_name: str, batch_size: int, minimum: int = 1000) -> Floor:
    """Encode the sentences (cycled up to `minimum`) in one call, as sentence-transformers does best."""
    model = _model(str(resolve_model_path(model_name)))
    texts = [sentences[i % len(sentences)] for i in range(max(minimum, len(sentences)))] if sentences else ["empty"]
    model.encode(texts[:batch_size], batch_size=batch_size, show_progress_bar=False)  # warm-up
    mark = time.perf_counter()
    cpu = time.process_time()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    seconds = time.perf_counter() - mark
    return Floor(
        sentences=len(texts),
        batch_size=batch_size,
        seconds=round(seconds, 3),
        cpu_seconds=round(time.process_time() - cpu, 3),
        sentences_per_s=round(len(texts) / seconds, 2),
        mean_chars=round(sum(len(text) for text in texts) / len(texts), 1),
    )
