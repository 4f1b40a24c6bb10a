"""The verdicts on an LLM answer's claims as the CLI prints them and the page shows them."""

from __future__ import annotations

from corpusqa.types import Answer, Claim
from ui.claims_html import claims_html, mark_unsupported_html
from ui.render import render_answer
from ui.web import render_answer as render_page_answer

CLAIMS = [
    Claim("Talks begin on March 10 [1].", (1,), True, "Talks will begin on March 10.", 1),
    Claim("Kabul has <2.4 million> people [1].", (1,), False, None, None, "“2.4 million” not in [1]"),
]


def _answer(**changes: object) -> Answer:
    base = {"question": "q", "answer": "Talks begin on March 10 [1]. Kabul has 2.4 million people [1]. [unsupported]",
            "abstained": False, "backend": "openai", "seconds": 0.1, "claims": CLAIMS, "unsupported": True}
    return Answer(**{**base, **changes})  # type: ignore[arg-type]


def test_render_answer_lists_each_verdict_and_the_reason() -> None:
    text = render_answer(_answer())
    assert "[supported] Talks begin on March 10 [1]." in text
    assert "[NOT supported: “2.4 million” not in [1]] Kabul has <2.4 million> people [1]." in text


def test_render_answer_shows_the_model_text_only_when_not_streamed() -> None:
    answer = _answer(answer="The documents do not say.", abstained=True, model_answer="Kabul has 2.4 million people [1].")
    assert "The model's answer, which the documents do not support:" in render_answer(answer)
    assert "which the documents do not support" not in render_answer(answer, streamed=True)


def test_claims_html_escapes_and_marks_verdicts() -> None:
    html = claims_html(_answer())
    assert "1 of 2 supported" in html
    assert html.count('class="cqa-claim-ok"') == 1 and html.count('class="cqa-claim-bad"') == 1
    assert "&lt;2.4 million&gt;" in html and "<2.4" not in html
    assert claims_html(_answer(claims=[])) == ""


def test_page_answer_styles_the_unsupported_mark() -> None:
    page = render_page_answer(_answer(), "a1")
    assert '<span class="cqa-unsupported"' in page and "cqa-claims" in page
    assert mark_unsupported_html("x [unsupported]").endswith("[unsupported]</span>")


def test_a_recited_claim_shows_where_it_was_cited_and_where_it_was_found() -> None:
    claims = [
        Claim("The term is five years [3].", (3,), True, "a second five-year term", 2, "", recited_from=3, answers_question=True),
        Claim("Talks begin on March 10.", (), True, "Talks will begin on March 10.", 1, "", answers_question=False),
    ]
    answer = _answer(claims=claims, unsupported=False)
    text = render_answer(answer)
    assert "[supported; cited [3]; found in [2]] The term is five years [3]." in text
    assert "[supported; no citation; found in [1]; does not hold what the question asks for] Talks begin" in text
    html = claims_html(answer)
    assert "cited [3]; found in [2]" in html and "no citation; found in [1]" in html
    assert claims[0].to_json()["recited_from"] == 3 and claims[1].to_json()["recited_from"] is None
    assert claims[1].to_json()["answers_question"] is False
