"""The numpy MiniLM used for questions gives the same vectors as sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embedder import resolve_model_path
from ingest.query_encoder import QueryEncoder


@pytest.mark.parametrize(
    "text",
    [
        "How many Taliban prisoners were held in total?",
        "a",
        "Café naïve — “quoted” 13,000 to 14,000 " * 40,  # longer than the 256-token window: truncated alike
        "自然言語 ünïcödé ??? !!!",
    ],
)
def test_query_encoder_matches_sentence_transformers(embedder, text: str) -> None:  # type: ignore[no-untyped-def]
    ours = QueryEncoder(resolve_model_path("all-MiniLM-L6-v2")).encode(text)
    reference = np.asarray(embedder._load().get_text_embedding(text), dtype=np.float32)
    assert ours.shape == reference.shape == (384,)
    assert float(ours @ reference) > 0.99999
    assert np.abs(ours - reference).max() < 1e-4


def test_embed_texts_keeps_input_order_while_batching_by_length(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = ["short", "a much longer sentence about the prisoner release and the talks in Doha", "mid length", "x" * 300]
    batched = embedder.embed_texts(texts)
    one_by_one = np.asarray([embedder._load().get_text_embedding(text) for text in texts], dtype=np.float32)
    assert batched.shape == (4, 384)
    assert np.abs(batched - one_by_one).max() < 1e-4
