"""The news layout's rule (ingest/segmenter.py), on a made-up news page that is not the bundled file."""

from __future__ import annotations

import pytest

from ingest.chunker import split_sentences
from ingest.segmenter import is_news_layout, news_sections

# A made-up local news page: two articles under Title-Case headlines, each with reported speech, then
# readers' comments; the second article is hard-wrapped at 92 columns, as some plain-text exports are.
PAGE = """\
Harbour Town Opens Its New Ferry Terminal

Lena Okafor/Gazette
The new ferry terminal in Harbour Town opened on Monday after two years of building work on the old pier.
"We waited a long time for this," said the mayor, Tomas Berg, at the opening.
The terminal will handle up to twelve crossings a day, the port authority announced.

I took the first ferry this morning and my coffee was cold the whole way.

Why did you build it so far from the bus station??

River Festival Returns After a Wet Spring

The river festival will return to the old mill meadow next month after floods closed the
site in April and the stages were moved twice, organisers told the members of the council on
Thursday. The festival director, Ana Silva, said the meadow had dried out and that the
stages would stand on higher ground this year. "The river gave us a fright," she added.

My kids loved the boat race last year, you should bring back the night market!!
"""

ESSAY = """\
Notes on Growing Tomatoes in Small Gardens

Tomatoes need at least six hours of sun a day and a soil that drains well after heavy rain.
Water them deeply twice a week rather than a little every day, so their roots grow down.

Pruning the Side Shoots of Cordon Varieties

Pinch out the side shoots that appear where a leaf meets the main stem, while they are small.
A plant that keeps one main stem puts its strength into fewer, larger fruit in late summer.
"""


def test_is_news_layout_detects_a_news_page_that_is_not_the_bundled_one() -> None:
    assert is_news_layout(PAGE)


@pytest.mark.parametrize("text", [ESSAY, PAGE.split("River Festival")[0]])
def test_is_news_layout_refuses_text_without_the_layout(text: str) -> None:
    # an essay with headings has no reported speech; one article alone is not a page of articles
    assert not is_news_layout(text)


def test_news_sections_mark_the_paragraphs_after_the_last_reported_one_as_comments() -> None:
    sections = news_sections(PAGE)
    assert [section.path for section in sections] == [
        ("Harbour Town Opens Its New Ferry Terminal",),
        ("River Festival Returns After a Wet Spring",),
    ]
    kinds = [[(PAGE[p.start : p.end].split()[0], p.kind) for p in section.paragraphs] for section in sections]
    assert kinds == [
        [("Lena", "article"), ("I", "comment"), ("Why", "comment")],
        [("The", "article"), ("My", "comment")],
    ]


def test_split_sentences_news_cuts_a_short_credit_line_but_not_wrapped_prose() -> None:
    article = news_sections(PAGE)[0].paragraphs[0]
    first = [PAGE[a:b] for a, b in split_sentences(PAGE, article.start, article.end, layout="news")]
    assert first[0] == "Lena Okafor/Gazette"  # a photo credit: a short line of its own
    wrapped = news_sections(PAGE)[1].paragraphs[0]
    sentences = [" ".join(PAGE[a:b].split()) for a, b in split_sentences(PAGE, wrapped.start, wrapped.end, layout="news")]
    # "...of the council on\nThursday." is one sentence: a wrapped line is about as long as its neighbours
    assert sentences[0].endswith("told the members of the council on Thursday.")
    assert len(sentences) == 3
