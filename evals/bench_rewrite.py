"""Bench of the rule rewrite: its cost on the eval conversations' follow-ups and on standalone questions.

    python -m evals.bench_rewrite [--repeat 5]

Each chain is replayed in order with its expected rewordings and accept strings as the earlier turns
(so the earlier questions were parsed before, as in a live conversation); a follow-up's own parse is not
cached between repeats. Prints p50 and p95 in milliseconds; no figure is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from evals.conversations import load_chains
from evals.corpora import CORPORA_DIR, load_corpus
from rag.conversation import Turn
from rag.rewrite import clear_caches, rewrite_question

__all__ = ["bench_rewrite", "main"]


def bench_rewrite(repeat: int = 5) -> dict[str, float]:
    """p50/p95 milliseconds of the rewrite on follow-ups and on standalone questions that follow another."""
    files = sorted(CORPORA_DIR.glob("*/conversations.jsonl"))
    rewrite_question("Where was she born?", [Turn("Who is Anna Lindqvist?")])  # load spaCy once
    follow_ups: list[float] = []
    standalone: list[float] = []
    for _ in range(repeat):
        clear_caches()
        for path in files:
            for chain in load_chains(path):
                history: list[Turn] = []
                for index, turn in enumerate(chain.turns):
                    start = time.perf_counter()
                    searched = rewrite_question(turn.item.question, history).question
                    if index:
                        follow_ups.append(time.perf_counter() - start)
                    short = turn.item.accept[0] if turn.item.accept else None
                    history.append(Turn(turn.item.question, short_answer=short, standalone=searched))
            questions = load_corpus(path.parent.name).questions
            for before, item in itertools.pairwise(questions):
                start = time.perf_counter()
                rewrite_question(item.question, [Turn(before.question)])
                standalone.append(time.perf_counter() - start)

    def ms(values: list[float], q: int) -> float:
        return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 3) if len(values) > 1 else 0.0

    return {
        "follow_ups": len(follow_ups) // repeat,
        "follow_up_p50_ms": round(statistics.median(follow_ups) * 1000, 3),
        "follow_up_p95_ms": ms(follow_ups, 95),
        "standalone_questions": len(standalone) // repeat,
        "standalone_p50_ms": round(statistics.median(standalone) * 1000, 3),
        "standalone_p95_ms": ms(standalone, 95),
    }


def main() -> None:
    """Print the bench's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    figures = bench_rewrite(parser.parse_args().repeat)
    for key, value in figures.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
