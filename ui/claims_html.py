"""HTML for the chat page: the verdict on each claim of an LLM answer, and the model's own text when it did not hold."""

from __future__ import annotations

import html
import re

from corpusqa.types import Answer
from ui.render import claim_source

__all__ = ["CLAIMS_CSS", "claims_html", "mark_unsupported_html"]

CLAIMS_CSS = """
#chat .cqa-claims { margin-top: .6em; font-size: .9em; }
#chat .cqa-claims > summary { font-weight: 600; cursor: pointer; }
#chat .cqa-claims ul { margin: .3em 0; padding-left: 1.2em; }
#chat .cqa-claim-ok::marker { content: "✓ "; color: #15803d; }
#chat .cqa-claim-bad::marker { content: "✗ "; color: #b91c1c; }
#chat .cqa-claim-why { opacity: .8; font-size: .9em; }
#chat .cqa-unsupported { color: #b91c1c; font-weight: 600; font-size: .85em; }
#chat .cqa-model-answer { margin: .4em 0; padding: .4em .75em; border-left: 3px solid #9ca3af; opacity: .85; }
"""
_MARK = re.compile(re.escape(html.escape(" [unsupported]")))


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def mark_unsupported_html(escaped: str) -> str:
    """The escaped answer with each " [unsupported]" mark styled."""
    return _MARK.sub(' <span class="cqa-unsupported" title="Not supported by the passages it cites">[unsupported]</span>', escaped)


def claims_html(answer: Answer) -> str:
    """A list of the answer's claims, each marked supported or not (with the reason); "" when none were checked."""
    if not answer.claims:
        return ""
    items = []
    for claim in answer.claims:
        if claim.supported:
            notes = [claim_source(claim)] if claim.recited else []
            if claim.answers_question is False:
                notes.append("does not hold what the question asks for")
            why = f' <span class="cqa-claim-why">— {_esc("; ".join(notes))}</span>' if notes else ""
            items.append(f'<li class="cqa-claim-ok">{_esc(claim.text)}{why}</li>')
        else:
            items.append(
                f'<li class="cqa-claim-bad">{_esc(claim.text)} '
                f'<span class="cqa-claim-why">— not supported: {_esc(claim.reason)}</span></li>'
            )
    good = sum(claim.supported for claim in answer.claims)
    heading = f"Claims checked against the cited passages: {good} of {len(answer.claims)} supported"
    model = (
        f'<div class="cqa-model-answer"><em>The model answered (not supported by the documents):</em> '
        f"{_esc(answer.model_answer)}</div>"
        if answer.model_answer and answer.abstained
        else ""
    )
    return f'<details class="cqa-claims" open><summary>{_esc(heading)}</summary><ul>{"".join(items)}</ul>{model}</details>'
