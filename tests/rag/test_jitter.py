"""The jitter perturbs vectors and features by its size, repeatably per seed; an engine without one is unchanged."""

from __future__ import annotations

import numpy as np

from rag.jitter import Jitter
from rag.reader.fitted import load_fitted
from tests.conftest import EXAMPLE_QUESTION


def _unit(seed: int, shape: tuple[int, ...] = (384,)) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=shape)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def test_jitter_vector_stays_unit_length_moves_by_its_size_and_repeats_per_key() -> None:
    jitter = Jitter(seed=1, vector_sd=1e-3, feature_sd=0.0)
    v = _unit(0)
    moved = jitter.vector(v, "q")
    assert abs(float(np.linalg.norm(moved)) - 1.0) < 1e-5
    assert 0.3e-3 < float(np.std(moved - v)) < 3e-3
    assert np.array_equal(moved, jitter.vector(v, "q"))
    assert not np.array_equal(moved, jitter.vector(v, "other"))
    assert not np.array_equal(moved, Jitter(2, 1e-3, 0.0).vector(v, "q"))


def test_jitter_matrices_perturb_each_row() -> None:
    matrices = Jitter(3, 1e-3, 0.0).matrices({"c": _unit(1, (4, 384))})
    assert matrices["c"].shape == (4, 384) and np.allclose(np.linalg.norm(matrices["c"], axis=1), 1.0, atol=1e-5)


def test_jitter_fitted_moves_decisions_a_little_and_keeps_the_bands() -> None:
    fitted = load_fitted()
    row = {name: 0.5 for name in fitted.confidence.features}
    still = Jitter(1, 0.0, 0.0).fitted(fitted)
    shaken = Jitter(1, 0.0, 1e-3).fitted(fitted)
    assert still.confidence.decisions([row])[0] == fitted.confidence.decisions([row])[0]
    assert 0 < abs(shaken.confidence.decisions([row])[0] - fitted.confidence.decisions([row])[0]) < 0.5
    assert shaken.bands == fitted.bands
    assert np.allclose(shaken.ranker.probabilities([row]), [shaken.ranker.probability(row)])


def test_engine_with_a_zero_jitter_answers_as_without_one(engine) -> None:  # type: ignore[no-untyped-def]
    plain = engine.ask(EXAMPLE_QUESTION)
    zero = engine.with_jitter(Jitter(1, 0.0, 0.0)).ask(EXAMPLE_QUESTION)
    assert (zero.answer, zero.band) == (plain.answer, plain.band)
    assert abs(zero.confidence - plain.confidence) < 1e-5  # renormalising may move the last bit
    assert engine.jitter is None and engine.with_jitter(Jitter(1, 1e-3, 1e-3)).jitter is not None
