"""The trained reader: an ONNX cross-encoder (built by `python -m train.reader`) rereads the top sentences.

It reads "[CLS] question [SEP] sentence with the ends of its neighbours [SEP]" and gives an answerability
logit and start/end logits over the tokens. It rereads the feature ranker's top sentences, keeps the one it
finds most answerable, takes the best span inside that sentence, and turns the logit into a confidence
that falls in the same bands as the features'. Only onnxruntime and tokenizers run here; no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from corpusqa.errors import ModelLoadError
from rag.reader.confidence import band_of
from rag.reader.sentences import Candidate

__all__ = ["CONTEXT_WORDS", "MAX_TOKENS", "TOP_SENTENCES", "Reread", "TrainedReader", "context_of"]

MAX_TOKENS = 192
CONTEXT_WORDS = 40  # words kept of each neighbouring sentence
TOP_SENTENCES = 5  # the feature ranker's best sentences that the trained reader rereads
MAX_SPAN_TOKENS = 30


def context_of(before: str, sentence: str, after: str) -> tuple[str, int]:
    """The sentence with the ends of its neighbours around it, and where the sentence starts in it."""
    head = " ".join(before.split()[-CONTEXT_WORDS:])
    tail = " ".join(after.split()[:CONTEXT_WORDS])
    prefix = head + " " if head else ""
    return prefix + sentence + (" " + tail if tail else ""), len(prefix)


@dataclass(frozen=True)
class Reread:
    """The trained reader's choice: the sentence, its short answer, confidence and band."""

    best: Candidate
    short_answer: str | None
    confidence: float
    band: str


class TrainedReader:
    """An ONNX reader session with the MiniLM tokenizer that its training used."""

    def __init__(self, path: Path, tokenizer_file: Path) -> None:
        if not path.is_file():
            raise ModelLoadError(
                f"No trained reader weights at {path}; build them with `python -m train.reader --out DIR` "
                "and set CORPUSQA_READER_PATH to DIR/reader-int8.onnx, or set CORPUSQA_READER=features."
            )
        import onnxruntime
        from tokenizers import Tokenizer

        try:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 2
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a damaged file
            raise ModelLoadError(
                f"The trained reader at {path} could not be loaded ({exc.__class__.__name__}); rebuild it with "
                "`python -m train.reader`."
            ) from exc
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")

    def scores(self, question: str, contexts: list[tuple[str, int, int]]) -> list[tuple[float, tuple[int, int] | None]]:
        """For each (context, sentence start, sentence end): the answerability logit and the best span's characters."""
        encodings = [self._tokenizer.encode(question, context) for context, _, _ in contexts]
        width = max(len(encoding.ids) for encoding in encodings)

        def padded(field: str) -> np.ndarray:
            rows = [getattr(e, field) + [0] * (width - len(e.ids)) for e in encodings]
            return np.asarray(rows, dtype=np.int64)

        answerable, starts, ends = self._session.run(
            None, {"input_ids": padded("ids"), "attention_mask": padded("attention_mask"),
                   "token_type_ids": padded("type_ids")},
        )
        out: list[tuple[float, tuple[int, int] | None]] = []
        for row, (encoding, (_, first_char, last_char)) in enumerate(zip(encodings, contexts, strict=True)):
            inside = [
                index for index, (segment, (a, b)) in enumerate(zip(encoding.type_ids, encoding.offsets, strict=True))
                if segment == 1 and a < b and a >= first_char and b <= last_char
            ]
            out.append((float(answerable[row]), _best_span(starts[row], ends[row], inside, encoding.offsets)))
        return out

    def reread(self, question: str, ranked: list[Candidate], bands: Any) -> Reread | None:
        """Reread the top sentences; None when there are none."""
        top = ranked[:TOP_SENTENCES]
        if not top:
            return None
        contexts = [_context(candidate, ranked) for candidate in top]
        found = self.scores(question, contexts)
        best = max(range(len(top)), key=lambda k: found[k][0])
        logit, span = found[best]
        context = contexts[best][0]
        short = context[span[0]:span[1]].strip() if span else None
        sentence = top[best].answer_text.strip()
        confidence = 1.0 / (1.0 + math.exp(-logit))
        return Reread(top[best], short if short and short != sentence else None, confidence, band_of(confidence, bands))


def _context(candidate: Candidate, ranked: list[Candidate]) -> tuple[str, int, int]:
    """The candidate's sentence between its retrieved neighbours, with the sentence's character range."""
    same = {c.sentence_index: c.text for c in ranked if c.chunk_index == candidate.chunk_index}
    sentence = candidate.answer_text
    context, start = context_of(same.get(candidate.sentence_index - 1, ""), sentence,
                                same.get(candidate.sentence_index + 1, ""))
    return context, start, start + len(sentence)


def _best_span(starts: np.ndarray, ends: np.ndarray, inside: list[int], offsets: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The highest start+end logit pair inside the sentence, end not before start, at most MAX_SPAN_TOKENS long."""
    best: tuple[float, int, int] | None = None
    for i in inside:
        for j in inside:
            if i <= j < i + MAX_SPAN_TOKENS:
                score = float(starts[i] + ends[j])
                if best is None or score > best[0]:
                    best = (score, i, j)
    return (offsets[best[1]][0], offsets[best[2]][1]) if best else None


def with_reread(result: Any, reread: Reread) -> Any:
    """An ExtractiveResult whose choice, short answer, confidence and band are the trained reader's."""
    ranked = [reread.best] + [c for c in result.ranked if c is not reread.best]
    return replace(result, best=reread.best, short_answer=reread.short_answer, confidence=reread.confidence,
                   band=reread.band, ranked=ranked)
