"""The standalone question for a follow-up: the rule rewrite, or for the `openai` backend the model's condensing."""

from __future__ import annotations

from collections.abc import Sequence

from corpusqa.errors import LLMError
from corpusqa.settings import Settings
from ingest.text import terms
from rag.conversation import Turn, trim_history
from rag.llm import LLMClient
from rag.rewrite import rewrite_question

__all__ = ["CONDENSE_PROMPT", "condense_messages", "standalone_question"]

CONDENSE_PROMPT = (
    "Rewrite the user's last question so that it can be understood without the conversation: replace "
    "pronouns and references such as 'he', 'it', 'that one' or 'and in 2019?' with what they refer to. "
    "Keep every other word of the question. If the question already stands alone, repeat it unchanged. "
    "Reply with the rewritten question only."
)


def condense_messages(question: str, history: Sequence[Turn]) -> list[dict[str, str]]:
    """The chat messages that ask a model for the standalone question: the prompt, the turns, the question."""
    messages = [{"role": "system", "content": CONDENSE_PROMPT}]
    for turn in history:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer or "(no answer)"})
    messages.append({"role": "user", "content": f"Rewrite this question to stand alone: {question}"})
    return messages


def standalone_question(question: str, history: Sequence[Turn], llm: LLMClient | None, settings: Settings) -> str:
    """The question as it stands alone given the earlier turns (unchanged without history).

    With an LLM the model condenses it, from the newest turns that fit `settings.history_tokens`; the rule
    rewrite stands in when the model's reply is empty, fails, or drops a content word of the question.
    """
    if not history:
        return question
    ruled = rewrite_question(question, history).question
    if llm is None:
        return ruled
    kept = trim_history(history, settings.history_tokens)
    try:
        reply = llm.complete(condense_messages(question, kept))
    except LLMError:
        return ruled
    condensed = " ".join(reply.strip().strip('"“”').split())
    if not condensed or len(condensed) > settings.max_question_chars or not set(terms(question)) <= set(terms(condensed)):
        return ruled
    return condensed
