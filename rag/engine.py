"""Engine: the one object the CLI, the page, the HTTP API and the evals call to ingest and answer."""

from __future__ import annotations

import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpusqa.errors import (
    EmptyQuestionError,
    IndexNotFoundError,
    InvalidSettingError,
)
from corpusqa.settings import DEFAULT_EMBEDDING_MODEL, Settings
from corpusqa.types import (
    Answer,
    DocumentLines,
    IndexStatus,
    IngestReport,
    ScoredChunk,
    SearchResult,
    Timings,
)
from ingest.embedder import Embedder, resolve_model_path
from ingest.state import read_state, state_mtime
from ingest.store import open_store
from ingest.text import preload_nlp
from rag.answer_shape import citation, extractive_answer
from rag.condense import standalone_question
from rag.conversation import Turn
from rag.documents import document_lines, indexed_text
from rag.extractive import answer_extractively
from rag.jitter import Jitter
from rag.llm import LLMClient
from rag.reader.fitted import Bands, Fitted, load_fitted
from rag.reader.question import QuestionAnalysis
from rag.reader.ranking import rank
from rag.reader.sentences import Candidate, candidates
from rag.reader.trained import TrainedReader, with_reread
from rag.reply_check import ReplyContext, shape_reply
from rag.retriever import FusionWeights, HybridRetriever
from rag.snapshot import Snapshot, load_committed, load_from_server, sentence_context
from rag.sources import SourceFile, SourceView, open_source, source_view

if TYPE_CHECKING:
    from ingest.index import ProgressFn

__all__ = ["Engine"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Engine:
    """Ingest documents and answer questions about them with cited passages."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        llm: LLMClient | None = None,
        fitted: Fitted | None = None,
        jitter: Jitter | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.llm = llm or LLMClient(settings)
        self._fitted = fitted
        # The eval's jitter check (rag.jitter): None answers as the numbers come; a Jitter perturbs them.
        self.jitter = jitter
        self._snapshot: Snapshot | None = None
        self._reload_lock = threading.Lock()
        self._trained: TrainedReader | None = None

    @property
    def fitted(self) -> Fitted:
        """The fitted ranker, confidence model and bands (rag/fitted.json unless given)."""
        if self._fitted is None:
            self._fitted = load_fitted()
        return self.jitter.fitted(self._fitted) if self.jitter is not None else self._fitted

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        """The engine with its real collaborators (the model loads on first use)."""
        return cls(settings, Embedder.from_settings(settings))

    # ---- ingest and status ----------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        dry_run: bool = False,
        delete: bool = True,
        keep_unreadable: bool = False,
        repair: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Bring the index in step with the given files and folders (default: the corpus folder).

        A file that is now empty, binary or unreadable loses its indexed version unless keep_unreadable.
        With repair, a damaged state.json is set aside and rebuilt from what the index holds.
        """
        from ingest.index import ingest_paths  # the ingest side: not imported by a question (#28)

        report = ingest_paths(
            self.settings,
            [Path(path) for path in paths or []],
            self.embedder,
            dry_run=dry_run,
            delete=delete,
            keep_unreadable=keep_unreadable,
            repair=repair,
            progress=progress,
        )
        return report

    def status(self) -> IndexStatus:
        """What is indexed (and whether the questions of this process fell back to approximate search)."""
        from ingest.index import index_status

        status = index_status(self.settings)
        snapshot = self._snapshot
        store = snapshot.opened_store if snapshot is not None else None
        if status.search_fallback is None and store is not None and store.fallback is not None:
            status.search_fallback = store.fallback
        return status

    # ---- answering -------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        backend: str | None = None,
        top_k: int | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """Answer a question with citations (or abstain); `history`: the conversation's earlier turns."""
        answer: Answer | None = None
        for event in self.stream(question, backend=backend, top_k=top_k, history=history):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        *,
        backend: str | None = None,
        top_k: int | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is produced, then the finished Answer.

        With `history` (earlier turns, oldest first) a follow-up is first rewritten to stand alone; that
        rewording is what is searched and answered, and it comes back as `Answer.standalone_question`.
        """
        started = time.perf_counter()
        question = self._clean_question(question)
        backend = backend or self.settings.backend
        if backend not in ("extractive", "openai"):
            raise InvalidSettingError(f"Unknown backend {backend!r}; use 'extractive' or 'openai'.")
        k = top_k or self.settings.top_k
        timings = Timings()
        self._preload()
        snapshot = self._current()
        mark = time.perf_counter()
        searched = standalone_question(question, history or (), self.llm if backend == "openai" else None, self.settings)
        timings.rewriting = time.perf_counter() - mark
        vector, retrieved = self._retrieved(snapshot, searched, k, timings)

        mark = time.perf_counter()
        if backend == "extractive":
            answer = self._extractive(searched, vector, retrieved, snapshot)
            yield answer.answer
        else:
            answer = yield from self._generative(searched, retrieved, snapshot, vector)
        timings.answering = time.perf_counter() - mark
        answer.question, answer.standalone_question = question, searched
        answer.timings = timings
        answer.seconds = time.perf_counter() - started
        yield answer

    def retrieve(self, question: str, top_k: int | None = None) -> list[ScoredChunk]:
        """The fused top-k passages for a question (what the answerers see)."""
        question = self._clean_question(question)
        return self._retrieved(self._current(), question, top_k or self.settings.top_k, Timings())[1]

    def retriever(self, snapshot: Snapshot | None = None) -> HybridRetriever:
        """The hybrid retriever over `snapshot` (default: the current one); evals/fit_fusion.py fits its weights."""
        snapshot = snapshot or self._current()
        weights = FusionWeights(self.settings.bm25_weight, self.settings.dense_weight, self.settings.rrf_k)
        return HybridRetriever(snapshot.reader, snapshot.keyword, weights, snapshot.ids)

    def candidates(
        self, question: str, top_k: int | None = None, history: Sequence[Turn] | None = None
    ) -> tuple[QuestionAnalysis, list[Candidate], list[ScoredChunk]]:
        """The extractive answerer's view of a question: its analysis, every retrieved sentence with its
        features (unranked), and the passages they come from (for fitting and explaining the answerer)."""
        self._preload()
        question = standalone_question(self._clean_question(question), history or (), None, self.settings)
        snapshot = self._current()
        vector, retrieved = self._retrieved(snapshot, question, top_k or self.settings.top_k, Timings())
        sentence_vectors, idf = self._sentence_context(snapshot, retrieved)
        analysis, found = candidates(question, vector, retrieved, sentence_vectors, idf)
        return analysis, found, retrieved

    def search(self, query: str, k: int | None = None) -> SearchResult:
        """The fused top-k passages for a query, each with its best sentence as `highlight`."""
        started = time.perf_counter()
        query = self._clean_question(query)
        timings = Timings()
        self._preload()
        snapshot = self._current()
        vector, retrieved = self._retrieved(snapshot, query, k or self.settings.top_k, timings)
        mark = time.perf_counter()
        # The answerer's fitted ranker picks each passage's best sentence (rank() returns them best first).
        sentence_vectors, idf = self._sentence_context(snapshot, retrieved)
        best: dict[int, str] = {}
        _, found = candidates(query, vector, retrieved, sentence_vectors, idf)
        for candidate in rank(found, self.fitted) if found else []:
            best.setdefault(candidate.chunk_index, candidate.answer_text)
        results = [citation(number, scored, best.get(number - 1, "")) for number, scored in enumerate(retrieved, 1)]
        timings.answering = time.perf_counter() - mark
        return SearchResult(query, results, time.perf_counter() - started, timings)

    def document(self, source: str, start: int | None = None, end: int | None = None) -> DocumentLines:
        """Lines start..end of an indexed document, as the index holds its text (what citations point at)."""
        snapshot = self._current()
        stored, chunks = snapshot.store.source_chunks(source)
        shown = [chunk for chunk in chunks if chunk.id in snapshot.ids]
        text = indexed_text(stored, int(self.settings.max_file_mb * 1024 * 1024))
        return document_lines(shown, source, start, end, text)

    def source_file(self, source: str) -> SourceFile:
        """The indexed file `source` as it is on disk: committed documents only, from their recorded folder."""
        from ingest.generation import committed_manifest

        return open_source(committed_manifest(self.settings, self._current().store, None), source)

    def source_view(self, source: str, chunk_id: str = "", mark: int | None = None) -> SourceView:
        """The document's indexed text with the cited chunk and its supporting sentence located in it."""
        from ingest.generation import committed_manifest

        snapshot = self._current()
        found = open_source(committed_manifest(self.settings, snapshot.store, None), source)
        return source_view(found, snapshot.chunks, chunk_id, mark, int(self.settings.max_file_mb * 1024 * 1024))

    def last_changed(self) -> str | None:
        """When the index last changed (ISO time of the last ingest that changed it), None without an index."""
        state = read_state(self.settings.index_dir)
        return state.last_ingest if state else None

    def warm_up(self) -> None:
        """Load the embedding model and the index now rather than on the first question."""
        # one retrieval loads the embedding model, the index and the sentence matrix of the exact search
        self._retrieved(self._current(), "warm up", 1, Timings())

    def with_settings(self, **changes: object) -> Engine:
        """A copy sharing this engine's model and fitted parameters, with some settings changed (evals, tuning)."""
        settings = self.settings.model_copy(update=changes)
        return Engine(settings, self.embedder, LLMClient(settings), self._fitted, self.jitter)

    def with_jitter(self, jitter: Jitter | None) -> Engine:
        """A copy sharing this engine's model, fitted parameters and loaded index, perturbed by `jitter`."""
        twin = Engine(self.settings, self.embedder, self.llm, self._fitted, jitter)
        twin._snapshot = self._snapshot
        return twin

    # ---- internals -------------------------------------------------------------------------------

    def _preload(self) -> None:
        """Load spaCy and the embedding model in background threads while this thread opens the index: a cold
        question needs all three, and only the first two release the GIL for much of their load (#28)."""
        preload_nlp()
        if self.settings.chroma_host or self.settings.chroma_dir.exists():
            # without an index the question stops with a sentence saying so: no model export for it (15 s,
            # and it made the mistyped --index-dir's folder)
            self.embedder.preload()

    def _retrieved(self, snapshot: Snapshot, question: str, k: int, timings: Timings) -> tuple[Any, list[ScoredChunk]]:
        """(question vector, fused top-k passages) from `snapshot`, timing both steps into `timings`."""
        mark = time.perf_counter()
        vector = self.embedder.embed_query(question)
        if self.jitter is not None:
            vector = self.jitter.vector(vector, f"question:{question}")
        timings.embedding = time.perf_counter() - mark
        mark = time.perf_counter()
        retrieved = self.retriever(snapshot).retrieve(question, vector, k)
        timings.retrieval = time.perf_counter() - mark
        return vector, retrieved

    def _clean_question(self, question: str) -> str:
        # Format characters (zero-width spaces, joiners, BOMs) are invisible: drop them first.
        visible = "".join(ch for ch in question or "" if unicodedata.category(ch) != "Cf")
        cleaned = " ".join(_CONTROL.sub(" ", visible).split())
        if any(unicodedata.category(ch) == "Cs" for ch in cleaned):
            raise EmptyQuestionError("The question holds broken characters (lone surrogates); retype it as plain text.")
        if not any(ch.isalnum() for ch in cleaned):  # "?", emoji alone: nothing to search for
            raise EmptyQuestionError("The question is empty; type a question about your documents.")
        if len(cleaned) > self.settings.max_question_chars:
            raise EmptyQuestionError(
                f"The question is {len(cleaned):,} characters long; keep it under "
                f"{self.settings.max_question_chars:,} (CORPUSQA_MAX_QUESTION_CHARS)."
            )
        return cleaned

    def _current(self) -> Snapshot:
        """The latest finished generation of the index, reloaded when an ingest (any process) bumped it."""
        if self.settings.chroma_host:
            return self._current_from_server()
        mtime = state_mtime(self.settings.index_dir)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.mtime == mtime:
            return snapshot
        with self._reload_lock:
            if self._snapshot is not None and self._snapshot.mtime == mtime:
                return self._snapshot
            self._snapshot = load_committed(self.settings, mtime, reopen=self._snapshot is not None)
            return self._snapshot

    def _current_from_server(self) -> Snapshot:
        """Server mode: the shared generation lives in Chroma; rebuild the local BM25 when it moved."""
        snapshot = self._snapshot
        store = snapshot.store if snapshot is not None else open_store(self.settings, create=False)
        remote = store.read_generation()
        if remote is None:
            raise IndexNotFoundError(
                f"The Chroma server at {self.settings.chroma_host}:{self.settings.chroma_port} holds no index; "
                "run `corpusqa ingest` first."
            )
        generation = int(remote["generation"])
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._reload_lock:
            if self._snapshot is not None and self._snapshot.generation == generation:
                return self._snapshot
            self._snapshot = load_from_server(self.settings, store)
            return self._snapshot

    def _extractive(self, question: str, vector: object, retrieved: list[ScoredChunk], snapshot: Snapshot) -> Answer:
        import numpy as np

        assert isinstance(vector, np.ndarray)
        sentence_vectors, idf = self._sentence_context(snapshot, retrieved)
        result = answer_extractively(question, vector, retrieved, sentence_vectors, idf, self.fitted, self._bands())
        if self.settings.reader == "trained" and result.ranked:
            reread = self._trained_reader().reread(question, result.ranked, self._bands())
            result = with_reread(result, reread) if reread else result
        return extractive_answer(question, result, retrieved)

    def _trained_reader(self) -> TrainedReader:
        """The ONNX reader of settings.reader_path, loaded on first use."""
        if self._trained is None:
            model_dir = resolve_model_path(DEFAULT_EMBEDDING_MODEL)
            self._trained = TrainedReader(self.settings.reader_path, model_dir / "tokenizer.json")
        return self._trained

    def _sentence_context(self, snapshot: Snapshot, retrieved: list[ScoredChunk]) -> tuple[dict[str, Any], Callable[[str], float]]:
        sentence_vectors, idf = sentence_context(snapshot, retrieved)
        if self.jitter is not None:
            sentence_vectors = self.jitter.matrices(sentence_vectors)
        return sentence_vectors, idf

    def _bands(self) -> Bands:
        """The fitted band thresholds, overridden by the abstain/answer threshold settings when set."""
        fitted = self.fitted.bands
        possibly = fitted.possibly if self.settings.abstain_threshold is None else self.settings.abstain_threshold
        answer = fitted.answer if self.settings.answer_threshold is None else self.settings.answer_threshold
        return Bands(answer=max(answer, possibly), possibly=possibly)

    def _generative(
        self, question: str, retrieved: list[ScoredChunk], snapshot: Snapshot, vector: Any = None
    ) -> Iterator[str | Answer]:
        pieces: list[str] = []
        for delta in self.llm.stream(question, retrieved):
            pieces.append(delta)
            yield delta
        answer, note = self._checked(question, "".join(pieces), retrieved, snapshot, vector)
        if note:
            yield "\n\n" + note  # the tokens are out: the verdict follows them
        return answer

    def check_reply(self, question: str, reply: str, retrieved: list[ScoredChunk]) -> Answer:
        """The Answer the `openai` backend makes of an LLM's `reply` to `question` over the passages it was shown
        (numbered as `retrieved`): every claim checked, re-cited where needed, judged against the question."""
        return self._checked(self._clean_question(question), reply, retrieved, self._current())[0]

    def _checked(
        self, question: str, reply: str, retrieved: list[ScoredChunk], snapshot: Snapshot, vector: Any = None
    ) -> tuple[Answer, str]:
        """(the answer, the verdict note to show after the streamed reply, "" when none)."""
        sentence_vectors, idf = sentence_context(snapshot, retrieved)
        context = ReplyContext(
            retrieved, self.embedder.embed_query, sentence_vectors, idf, self.fitted, self._bands(), vector
        )
        return shape_reply(question, reply, context, lambda number: citation(number, retrieved[number - 1], ""))
