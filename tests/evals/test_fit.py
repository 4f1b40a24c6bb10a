"""`python -m evals.fit`: the threshold rule, and a real leave-one-corpus-out fit on two shipped corpora."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from corpusqa.settings import Settings
from evals.fit import choose_bands, fit_models, main, score_corpus
from rag import Engine
from rag.reader.fitted import load_fitted
from rag.reader.ranking import RANKER_FEATURES


def test_choose_bands_applies_the_stated_rule() -> None:
    # answer band: the lowest confidence whose answers above it stay >= 85% right (3 of 3 at 0.85;
    # 3 of 4 at 0.8 is under); abstain: below the 2nd-lowest of 10 answerable confidences (10% may fall there)
    scored = [(0.95, True), (0.9, True), (0.85, True), (0.8, False), (0.7, True), (0.6, False), (0.5, False), (0.4, False)]
    answerable = [0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3]
    bands, shares = choose_bands(scored, answerable)
    assert (bands.answer, bands.possibly) == (0.85, 0.35)
    assert shares["answer"] == 1.0 and shares["answer_n"] == 3
    assert shares["possibly"] == 0.2 and shares["possibly_n"] == 5
    assert shares["abstain_n"] == 0 and math.isnan(shares["abstain"])


def test_choose_bands_never_puts_possibly_above_answer() -> None:
    bands, _ = choose_bands([(0.3, True), (0.2, False)], [0.9, 0.95])
    assert bands.possibly <= bands.answer


@pytest.fixture(scope="module")
def fitted_two(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[Settings, Path]:
    """`python -m evals.fit --only news,bash-manual` into a temporary index and output file."""
    root = tmp_path_factory.mktemp("fit")
    settings = Settings(index_dir=root / "idx", model_cache_dir=model_cache)
    out = root / "fitted.json"
    assert main(["--only", "news,bash-manual", "--out", str(out)], settings) == 0
    return settings, out


def test_fit_writes_a_loadable_file_with_its_protocol(fitted_two: tuple[Settings, Path]) -> None:
    _, out = fitted_two
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert raw["protocol"].startswith("leave-one-corpus-out")
    assert set(raw["dev_questions"]) == {"news", "bash-manual"}
    assert set(raw["figures"]) == {"news", "bash-manual"}
    assert raw["ranker"]["features"] == list(RANKER_FEATURES)
    fitted = load_fitted(out)
    assert 0.0 <= fitted.bands.possibly <= fitted.bands.answer <= 1.0


def test_fit_reports_each_corpus_from_a_model_fitted_without_it(fitted_two: tuple[Settings, Path]) -> None:
    settings, out = fitted_two
    figures = json.loads(out.read_text(encoding="utf-8"))["figures"]
    cache = settings.index_dir / "fit"
    data = {name: pickle.loads((cache / f"{name}.features.pickle").read_bytes()) for name in ("news", "bash-manual")}
    for held_out, other in (("news", "bash-manual"), ("bash-manual", "news")):
        # the figure for a corpus is what a model fitted on the other corpus's dev split alone scores
        # (fitted on the questions as written; the rewordings are scored, not learnt from, without --paraphrases)
        model, _ = fit_models([a for a in data[other] if a.item.split == "dev" and a.wording == 0])
        expected = score_corpus([a for a in data[held_out] if a.item.split == "test"], model)
        reported = figures[held_out]["loco_test"]
        assert reported["answered_cited"] == expected["answered_cited"]
        assert reported["auroc"] == expected["auroc"]
        assert reported["flip_rate"] == expected["flip_rate"] and reported["paraphrase_groups"] > 0
        assert reported["questions"] == len([a for a in data[held_out] if a.item.split == "test" and a.wording == 0])


def test_fitted_file_drives_the_engine(fitted_two: tuple[Settings, Path], embedder) -> None:  # type: ignore[no-untyped-def]
    settings, out = fitted_two
    local = Engine(settings.model_copy(update={"index_dir": settings.index_dir / "fit" / "news"}), embedder, None, load_fitted(out))
    answer = local.ask("How many days after his swearing-in did Ashraf Ghani reverse his refusal to release Taliban prisoners?")
    assert answer.band in ("answer", "possibly", "abstain")
    assert answer.abstained == (answer.band == "abstain")
    assert 0.0 <= answer.confidence <= 1.0
