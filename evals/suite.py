"""Run the eval over several corpora, each in its own index, and gate each on its own thresholds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evals.conversations import conversation_gate, load_chains, run_conversations
from evals.corpora import EvalCorpus, open_corpus
from evals.gate import Check, check_thresholds
from evals.grader import QuestionResult, run_eval, summarise

if TYPE_CHECKING:
    from corpusqa.settings import Settings
    from evals.jitter import JitterSpread
    from rag.engine import Engine
    from rag.jitter import Jitter

__all__ = ["CorpusRun", "evaluate", "run_suite"]


@dataclass
class CorpusRun:
    """One corpus's graded results, its gate checks and what its ingest did."""

    corpus: EvalCorpus
    results: list[QuestionResult]
    checks: list[Check]
    ingest: dict[str, Any] = field(default_factory=dict)
    # the conversation eval ({"metrics", "turns"}) when the corpus has a conversations.jsonl
    conversations: dict[str, Any] | None = None
    jitter: JitterSpread | None = None  # the jitter check's reruns, when asked for (evals/jitter.py)

    @property
    def passed(self) -> bool:
        """Whether every gated metric is within its bound, in the plain run and in every jittered rerun."""
        return all(check.passed for check in self.checks) and (self.jitter is None or self.jitter.passed)


def evaluate(
    engine: Engine,
    corpus: EvalCorpus,
    backend: str | None = None,
    on_result: Callable[[QuestionResult], None] | None = None,
    ingest: dict[str, Any] | None = None,
    machines: list[Jitter] | None = None,
) -> CorpusRun:
    """Ask the corpus's questions of an engine over its documents, grade them and check its gate; with
    `machines`, ask them again under each jitter and record the spread (evals/jitter.py)."""
    results = run_eval(engine, corpus.questions, backend=backend, on_result=on_result)
    checks = check_thresholds(summarise(results), corpus.gate)
    conversations = None
    chains_file = corpus.folder / "conversations.jsonl"
    if chains_file.is_file():
        metrics, turns = run_conversations(engine, load_chains(chains_file), corpus.questions, backend)
        checks += check_thresholds(metrics, conversation_gate(corpus.folder / "gate.toml"))
        conversations = {"metrics": metrics, "turns": turns}
    run = CorpusRun(corpus, results, checks, ingest or {}, conversations)
    if machines:
        from evals.jitter import rerun, spread

        run.jitter = spread(results, corpus.gate, rerun(engine, corpus, machines, backend, on_result))
    return run


def run_suite(
    settings: Settings,
    corpora: list[EvalCorpus],
    backend: str | None = None,
    on_corpus: Callable[[EvalCorpus, dict[str, Any]], None] | None = None,
    on_result: Callable[[QuestionResult], None] | None = None,
    machines: list[Jitter] | None = None,
) -> list[CorpusRun]:
    """Each corpus ingested (incrementally) into <index_dir>/evals/<name>, then evaluated (and rerun under
    each jitter of `machines`); one model is loaded."""
    runs = []
    embedder = None
    for corpus in corpora:
        engine, report = open_corpus(settings, corpus, embedder)
        embedder = engine.embedder
        summary = report.to_json()
        if on_corpus:
            on_corpus(corpus, summary)
        runs.append(evaluate(engine, corpus, backend, on_result, summary, machines))
    return runs
