"""Ingestion: files -> citable chunks -> Chroma (+ BM25 state)."""
