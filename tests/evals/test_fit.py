"""`python -m evals.fit`: the threshold rule, and a real leave-one-corpus-out fit on two shipped corpora."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from corpusqa.settings import Settings
from evals.fit import main, score_corpus
from evals.fit_fusion import FUSION_PATH, Ranked, best_point, mrr, recall
from evals.fit_fusion import main as fusion_main
from evals.fit_models import MEANING_WEIGHTS, Scored, choose_bands, fit_models, question_weights
from rag import Engine
from rag.reader.fitted import load_fitted
from rag.reader.ranking import RANKER_FEATURES
from rag.retriever import FusionWeights


def _rows(pairs: list[tuple[float, bool]], answerable: bool = True) -> list[Scored]:
    return [Scored(p, ok, "c", 1.0, answerable) for p, ok in pairs]


def test_choose_bands_applies_the_stated_rule() -> None:
    # answer band: the lowest confidence whose answers at or above it stay >= 85% right (3 of 3 at 0.85;
    # 3 of 4 at 0.8 is under). Abstain: under the confidence below which at most 10% of the answerable
    # weight falls (the lowest of 10 answerable rows may fall: cut at 0.3), raised to the lowest start
    # at which "possibly" is still >= 40% right (from 0.8 down: 0/1, 1/2 at 0.7, 1/3 at 0.6, ...: 0.7).
    answerable = _rows([(0.95, True), (0.9, True), (0.85, True), (0.8, False), (0.7, True), (0.6, False),
                        (0.5, False), (0.4, False), (0.3, False), (0.2, False)])
    unanswerable = _rows([(0.35, False), (0.1, False)], answerable=False)
    bands, shares = choose_bands(answerable + unanswerable)
    assert (bands.answer, bands.possibly) == (0.85, 0.7)
    assert shares["answer"] == 1.0 and shares["answer_n"] == 3
    assert shares["possibly"] == 0.5 and shares["possibly_n"] == 2
    assert shares["abstain_n"] == 7 and shares["abstain"] == 0.0


def test_choose_bands_keeps_the_false_abstention_cut_when_possibly_is_precise() -> None:
    # "possibly" stays >= 40% right all the way down (5 of 8 with the unanswerable 0.1), so the
    # false-abstention cut (0.3: the 0.2 may fall under it) stands
    answerable = _rows([(0.95, True), (0.9, True), (0.85, True), (0.8, False), (0.7, False), (0.6, True),
                        (0.5, True), (0.4, True), (0.3, True), (0.2, True)])
    bands, _ = choose_bands(answerable + _rows([(0.1, False)], answerable=False))
    assert (bands.answer, bands.possibly) == (0.85, 0.3)


def test_choose_bands_weighs_rows_by_their_weight() -> None:
    # one heavy wrong row at 0.9 pulls the precision of everything at or above 0.5 under 85%
    rows = [Scored(0.95, True, "a", 1.0, True), Scored(0.9, False, "b", 5.0, True), Scored(0.5, True, "a", 1.0, True)]
    bands, _ = choose_bands(rows)
    assert bands.answer == 0.95


def test_choose_bands_never_puts_possibly_above_answer() -> None:
    bands, _ = choose_bands(_rows([(0.3, True), (0.2, False)]) + _rows([(0.9, False), (0.95, False)], answerable=False))
    assert bands.possibly <= bands.answer


def test_question_weights_make_every_corpus_and_question_count_the_same() -> None:
    from types import SimpleNamespace

    def asked(corpus: str, qid: str) -> SimpleNamespace:
        return SimpleNamespace(corpus=corpus, item=SimpleNamespace(id=qid))

    # corpus a: one question with three wordings; corpus b: three questions of one wording each
    data = [asked("a", "q1")] * 3 + [asked("b", "q1"), asked("b", "q2"), asked("b", "q3")]
    weights = question_weights(data)  # type: ignore[arg-type]
    assert sum(weights[:3]) == pytest.approx(sum(weights[3:]))
    assert weights[0] == pytest.approx(weights[1]) and weights[3] == pytest.approx(weights[5])
    assert sum(weights) == pytest.approx(len(data))


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
    assert set(raw["calibration_loco_test"]) == {"answer", "possibly", "abstain", "ece"}
    assert all("calibration" in raw["figures"][name]["loco_test"] for name in ("news", "bash-manual"))
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
        # (the shipped "pooled" method learns from the questions as written)
        model, _ = fit_models([a for a in data[other] if a.item.split == "dev" and a.wording == 0])
        expected = score_corpus([a for a in data[held_out] if a.item.split == "test"], model)
        reported = figures[held_out]["loco_test"]
        assert reported["answered_cited"] == expected["answered_cited"]
        assert reported["auroc"] == expected["auroc"]
        assert reported["flip_rate"] == expected["flip_rate"] and reported["paraphrase_groups"] > 0
        assert reported["questions"] == len([a for a in data[held_out] if a.item.split == "test" and a.wording == 0])


def test_wordings_method_adds_its_chosen_weight_for_meaning_to_the_ranker(fitted_two: tuple[Settings, Path]) -> None:
    settings, _ = fitted_two
    cache = settings.index_dir / "fit"
    news = [a for a in pickle.loads((cache / "news.features.pickle").read_bytes()) if a.item.split == "dev"]
    bash = [a for a in pickle.loads((cache / "bash-manual.features.pickle").read_bytes()) if a.item.split == "dev"]
    train = news + bash
    assert any(a.wording > 0 for a in train)
    wordings, shares = fit_models(train, "wordings")
    pooled, _ = fit_models([a for a in train if a.wording == 0], "pooled")
    weight = shares["meaning_weight"]
    assert weight in MEANING_WEIGHTS and set(shares["meaning_worst_wording"]) == {str(w) for w in MEANING_WEIGHTS}
    # both rankers learn from the questions as written; "wordings" adds weight x the standardised similarity
    at = RANKER_FEATURES.index("dense_z")
    for i, (a, b) in enumerate(zip(wordings.ranker.coef, pooled.ranker.coef)):
        assert a == pytest.approx(b + (weight * pooled.ranker.scale[at] if i == at else 0.0))
    # the confidence learns from every wording, so it is not the pooled one
    assert wordings.confidence.coef != pooled.confidence.coef


def test_fitted_file_drives_the_engine(fitted_two: tuple[Settings, Path], embedder) -> None:  # type: ignore[no-untyped-def]
    settings, out = fitted_two
    local = Engine(settings.model_copy(update={"index_dir": settings.index_dir / "fit" / "news"}), embedder, None, load_fitted(out))
    answer = local.ask("How many days after his swearing-in did Ashraf Ghani reverse his refusal to release Taliban prisoners?")
    assert answer.band in ("answer", "possibly", "abstain")
    assert answer.abstained == (answer.band == "abstain")
    assert 0.0 <= answer.confidence <= 1.0


def test_fusion_file_records_the_settings_defaults() -> None:
    # evals/fusion.json was written against the fusion defaults the settings hold now (rerun it after changing them)
    recorded = json.loads(FUSION_PATH.read_text(encoding="utf-8"))["settings_defaults"]
    defaults = Settings()
    assert (defaults.bm25_weight, defaults.dense_weight, defaults.rrf_k) == (recorded["bm25"], recorded["dense"], recorded["rrf_k"])


def test_fusion_choice_follows_the_evidence() -> None:
    # BM25 ranks the evidence 7th, the dense side 1st: a heavier dense weight brings it into the top 5;
    # a corpus with one question weighs as much as one with three
    other = [f"x{i}" for i in range(10)]
    rows = [Ranked("a", "dev", "q1", other[:6] + ["e"], ["e"] + other, frozenset({"e"}))]
    rows += [Ranked("b", "dev", f"q{i}", ["e"] + other, other, frozenset({"e"})) for i in range(3)]
    point, mean = best_point(rows, 5, FusionWeights(1.0, 0.5, 20))
    assert recall(rows, point, 5) == {"a": 1.0, "b": 1.0}
    shares = mrr(rows, point, 5)
    assert mean == pytest.approx(sum(shares.values()) / 2, abs=1e-6)
    assert recall(rows, FusionWeights(1.0, 0.25, 5), 1)["a"] == 0.0


def test_fit_fusion_writes_loco_choices(fitted_two: tuple[Settings, Path], tmp_path: Path) -> None:
    settings, _ = fitted_two  # its indexes under <index-dir>/fit/ are reused
    out = tmp_path / "fusion.json"
    assert fusion_main(["--only", "news,bash-manual", "--out", str(out)], settings) == 0
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert set(raw["loco"]) == {"news", "bash-manual"}
    for figures in raw["loco"].values():
        assert 0.5 <= figures["test_recall"] <= 1.0 and figures["test_wordings"] > 0
    assert raw["best_on_dev"]["bm25"] == 1.0 and raw["best_on_dev"]["dense"] in raw["grid"]["dense"]
    assert raw["settings_defaults"] == {"bm25": settings.bm25_weight, "dense": settings.dense_weight, "rrf_k": settings.rrf_k}


def test_pooled_calibration_keeps_every_abstention(fitted_two: tuple[Settings, Path]) -> None:
    # the shipped method's confidence is calibrated by a monotone map and its abstain threshold carried
    # through it: a question abstains exactly when the uncalibrated model put it under the old threshold
    from evals.fit_models import _fit_pooled, confidences

    settings, _ = fitted_two
    data = pickle.loads((settings.index_dir / "fit" / "news.features.pickle").read_bytes())
    train = [a for a in data if a.item.split == "dev" and a.wording == 0]
    raw = _fit_pooled(train)
    calibrated, _ = fit_models(train)
    test = [a for a in data if a.item.split == "test"]
    before = [p < raw.bands.possibly for p, _ in confidences(test, raw)]
    after = [p < calibrated.bands.possibly for p, _ in confidences(test, calibrated)]
    assert before == after and 0 < sum(after) < len(after)
    assert calibrated.bands.possibly <= calibrated.bands.answer <= 1.0


def test_equal_method_fits_and_scores(fitted_two: tuple[Settings, Path]) -> None:
    settings, _ = fitted_two
    data = {n: pickle.loads((settings.index_dir / "fit" / f"{n}.features.pickle").read_bytes()) for n in ("news", "bash-manual")}
    fitted, shares = fit_models([a for rows in data.values() for a in rows if a.item.split == "dev"], "equal")
    assert 0.0 <= fitted.bands.possibly <= fitted.bands.answer <= 1.0
    assert sum(shares[f"{band}_n"] for band in ("answer", "possibly", "abstain")) > 0
    figures = score_corpus([a for a in data["news"] if a.item.split == "test"], fitted)
    assert 0.0 <= figures["flip_rate"] <= 1.0 and figures["paraphrase_groups"] > 0
