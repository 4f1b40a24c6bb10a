"""Measure how much embeddings move between two real set-ups, the size the eval's jitter check simulates.

Real differences, on this machine: int8 against fp32 ONNX weights (CORPUSQA_EMBEDDING_PRECISION),
ONNX Runtime on 1 thread against 2 (another work split, as on another CPU), and a text embedded alone
against in a padded batch of 64 (as a question is, against a sentence at ingest). For each, over
the eval questions and the sentences of the eval corpora, it reports the per-component difference of
the unit vectors, and the difference of question-sentence cosines (what the answerer reads).
Writes evals/jitter_size.json, which `corpusqa eval --jitter` reads; rerun it on any machine:

    python -m evals.jitter_size [--sentences 600]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.settings import Settings, load_settings
from evals.corpora import corpus_names, load_corpus

__all__ = ["JITTER_SIZE", "load_size", "main", "measure"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
JITTER_SIZE = Path(__file__).resolve().parent / "jitter_size.json"


def _texts(limit: int) -> tuple[list[str], list[str]]:
    """The eval questions (every wording) and up to `limit` sentences of the corpora's documents, spread evenly."""
    questions: list[str] = []
    sentences: list[str] = []
    names = corpus_names()
    for name in names:
        corpus = load_corpus(name)
        questions += [wording for q in corpus.questions for wording in (q.question, *q.paraphrases)]
        found: list[str] = []
        for path in sorted(corpus.documents.rglob("*")):
            if path.is_file() and path.suffix in (".txt", ".md", ".html", ".htm"):
                # a rough split is enough here: any real sentences of the corpora will do
                text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8", errors="replace"))
                found += [s for s in (" ".join(p.split()) for p in _SENTENCE_END.split(text)) if 20 <= len(s) <= 400]
        step = max(1, len(found) // max(1, limit // len(names)))
        sentences += found[::step][: limit // len(names)]
    return questions, sentences


def _embed(settings: Settings, precision: str, threads: int, texts: list[str], batch: int = 64) -> np.ndarray:
    from ingest.embedder import Embedder

    embedder = Embedder(settings.embedding_model, batch, settings.models_dir, precision, threads)  # type: ignore[arg-type]
    return embedder.embed_texts(texts)


def _compare(a_q: np.ndarray, a_s: np.ndarray, b_q: np.ndarray, b_s: np.ndarray) -> dict[str, float]:
    components = np.concatenate([(a_q - b_q).ravel(), (a_s - b_s).ravel()]).astype(np.float64)
    cosines = (a_q @ a_s.T - b_q @ b_s.T).ravel().astype(np.float64)
    return {
        "component_sd": float(components.std()),
        "component_max": float(np.abs(components).max()),
        "cosine_sd": float(cosines.std()),
        "cosine_p99": float(np.quantile(np.abs(cosines), 0.99)),
        "cosine_max": float(np.abs(cosines).max()),
    }


def measure(settings: Settings, limit: int = 600) -> dict[str, Any]:
    """The two measured differences (see the module docstring) and the jitter sizes drawn from them."""
    questions, sentences = _texts(limit)
    runs = {
        (precision, threads): (_embed(settings, precision, threads, questions), _embed(settings, precision, threads, sentences))
        for precision in ("int8", "fp32")
        for threads in (1, 2)
    }
    threads = {p: _compare(*runs[(p, 1)], *runs[(p, 2)]) for p in ("int8", "fp32")}
    precision = _compare(*runs[("int8", 2)], *runs[("fp32", 2)])
    alone = {p: _compare(_embed(settings, p, 2, questions, 1), _embed(settings, p, 2, sentences, 1), *runs[(p, 2)]) for p in ("int8", "fp32")}
    return {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "questions": len(questions),
        "sentences": len(sentences),
        "threads_1_vs_2": threads,
        "int8_vs_fp32": precision,
        "batch_1_vs_64": alone,
        # The jitter's sizes: the int8/fp32 difference is the larger real one and bounds what another
        # CPU's int8 kernels (with or without VNNI) or transitive package versions can do to a vector.
        "sizes": {
            "threads": {"vector_sd": threads["int8"]["component_sd"], "feature_sd": threads["int8"]["cosine_sd"]},
            "batch": {"vector_sd": alone["int8"]["component_sd"], "feature_sd": alone["int8"]["cosine_sd"]},
            "precision": {"vector_sd": precision["component_sd"], "feature_sd": precision["cosine_sd"]},
        },
    }


def load_size(name: str, path: Path = JITTER_SIZE) -> tuple[float, float]:
    """(vector_sd, feature_sd) of a named size ("threads" or "precision") from the measurements file."""
    sizes = json.loads(path.read_text(encoding="utf-8"))["sizes"]
    if name not in sizes:
        raise KeyError(f"no jitter size named {name!r}; choose one of {', '.join(sizes)}")
    return float(sizes[name]["vector_sd"]), float(sizes[name]["feature_sd"])


def main(argv: list[str] | None = None) -> int:
    """Measure and write evals/jitter_size.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=600, help="How many corpus sentences to embed.")
    parser.add_argument("--out", type=Path, default=JITTER_SIZE)
    args = parser.parse_args(argv)
    result = measure(load_settings(), args.sentences)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
