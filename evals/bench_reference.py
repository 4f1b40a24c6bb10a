"""The reference pipeline a user would otherwise write: llama-index's textbook setup over Chroma.

SimpleDirectoryReader, the default SentenceSplitter (1024 tokens, 200 overlap), VectorStoreIndex on a
ChromaVectorStore (persistent client, default collection settings), HuggingFaceEmbedding of the same
MiniLM with its default batch of 10, top-k 2, no LLM (`Settings.llm = None` resolves to MockLLM; we
pass MockLLM directly because the global setter prints to stdout). The only module of evals/ that
imports llama-index and chromadb. Run as a child process by `reference_args`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from corpusqa.offline import enforce_offline

__all__ = ["COLLECTION", "ReferencePipeline", "reference_args", "reference_ingest"]

COLLECTION = "reference"
TOP_K = 2


def _embed_model(model_path: str) -> Any:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(model_name=model_path)


def _collection(chroma_dir: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    return client.get_or_create_collection(COLLECTION)


def reference_ingest(corpus: Path, chroma_dir: Path, model_path: str) -> dict[str, Any]:
    """The textbook ingest: read, split, embed, store (rerunning it embeds and adds everything again)."""
    enforce_offline()
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    mark = time.perf_counter()
    embed_model = _embed_model(model_path)
    embed_model.get_text_embedding("warm up")
    load_s = time.perf_counter() - mark
    mark = time.perf_counter()
    cpu = time.process_time()
    documents = SimpleDirectoryReader(str(corpus), recursive=True).load_data()
    collection = _collection(chroma_dir)
    before = int(collection.count())
    context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    VectorStoreIndex.from_documents(documents, storage_context=context, embed_model=embed_model)
    total = int(collection.count())
    return {
        "ingest_s": time.perf_counter() - mark,
        "ingest_cpu_s": time.process_time() - cpu,
        "model_load_s": load_s,
        "documents": len(documents),
        "chunks": total,
        "embedded_chunks": total - before,
    }


class ReferencePipeline:
    """The textbook query side over an index built by `reference_ingest`."""

    def __init__(self, chroma_dir: Path, model_path: str) -> None:
        enforce_offline()
        from llama_index.core import VectorStoreIndex, get_response_synthesizer
        from llama_index.core.llms.mock import MockLLM
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.embed_model = _embed_model(model_path)
        store = ChromaVectorStore(chroma_collection=_collection(chroma_dir))
        self.index = VectorStoreIndex.from_vector_store(store, embed_model=self.embed_model)
        self.retriever = self.index.as_retriever(similarity_top_k=TOP_K)
        # hit@5 and MRR need a deeper list than top-2: the same index, top 5 (top 2 is its prefix)
        self.deep_retriever = self.index.as_retriever(similarity_top_k=5)
        self.llm = MockLLM()
        self.synthesizer = get_response_synthesizer(llm=self.llm)

    def warm_up(self) -> None:
        """Load the model and the index before timing."""
        self.ask("warm up")

    def ask(self, question: str) -> tuple[list[float], float, float, float]:
        """(question vector, embedding s, retrieval s, answering s) for one question, top-k 2."""
        from llama_index.core.schema import QueryBundle

        mark = time.perf_counter()
        vector = self.embed_model.get_query_embedding(question)
        embedding = time.perf_counter() - mark
        mark = time.perf_counter()
        nodes = self.retriever.retrieve(QueryBundle(query_str=question, embedding=vector))
        retrieval = time.perf_counter() - mark
        mark = time.perf_counter()
        self.synthesizer.synthesize(question, nodes)
        answering = time.perf_counter() - mark
        return vector, embedding, retrieval, answering

    def retrieve_texts(self, question: str, vector: list[float] | None = None) -> list[str]:
        """Texts of the top 5 passages, best first (reusing the question's vector when given)."""
        from llama_index.core.schema import QueryBundle

        found = self.deep_retriever.retrieve(QueryBundle(query_str=question, embedding=vector))
        return [scored.node.get_content() for scored in found]

    def query(self, question: str) -> str:
        """The textbook one-liner: `index.as_query_engine(similarity_top_k=2).query(question)`."""
        engine = self.index.as_query_engine(similarity_top_k=TOP_K, llm=self.llm)
        return str(engine.query(question))


def reference_args(command: str, payload: dict[str, Any]) -> list[str]:
    """argv of a child running the reference `ingest` or `ask`."""
    from evals.bench_child import python_child

    code = "from evals.bench_reference import _main\nsys.exit(_main(sys.argv[1:]))\n"
    return python_child(code, [command, json.dumps(payload)])


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("ingest", "ask"):
        print("usage: python -m evals.bench_reference ingest|ask '<json>'", file=sys.stderr)
        return 2
    payload = json.loads(argv[1])
    if argv[0] == "ingest":
        result = reference_ingest(Path(payload["corpus"]), Path(payload["chroma_dir"]), payload["model_path"])
    else:
        answer = ReferencePipeline(Path(payload["chroma_dir"]), payload["model_path"]).query(payload["question"])
        result = {"answer_chars": len(answer)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
