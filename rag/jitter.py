"""Perturbation at the size of cross-machine float differences, for the eval's jitter check (`--jitter`).

Another CPU (other ONNX Runtime kernels, thread counts, int8 instructions) embeds the same text into a
slightly different vector. A `Jitter` adds noise of a measured size to the question vector, to the
sentence vectors of the retrieved passages and to every numeric feature the fitted models read, so a
run shows which decisions would flip on another machine. It is an explicit collaborator of the Engine
(`Engine(..., jitter=...)`, `engine.with_jitter(...)`), used by the eval harness; an engine without
one answers exactly as before. The sizes come from `python -m evals.jitter_size` (docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from rag.reader.fitted import Fitted, LinearModel

__all__ = ["Jitter"]


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator fixed by the run's seed and a key (the same text gets the same noise within a run)."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@dataclass(frozen=True)
class Jitter:
    """Gaussian noise: `vector_sd` per component of a unit embedding (then renormalised), `feature_sd`
    on each numeric feature of the ranker and the confidence model; `seed` picks one simulated machine."""

    seed: int
    vector_sd: float
    feature_sd: float

    def vector(self, vector: np.ndarray, key: str) -> np.ndarray:
        """The vector of `key` (a question or a sentence id) as another machine might compute it."""
        noisy = vector.astype(np.float64) + _rng(self.seed, key).normal(0.0, self.vector_sd, vector.shape)
        norms = np.linalg.norm(noisy, axis=-1, keepdims=True)
        return np.asarray(noisy / np.where(norms > 0, norms, 1.0), dtype=np.float32)

    def matrices(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each chunk's sentence matrix perturbed (the same noise for the same chunk within a run)."""
        return {key: self.vector(matrix, f"sentences:{key}") for key, matrix in vectors.items()}

    def fitted(self, fitted: Fitted) -> Fitted:
        """The fitted models reading every feature with noise added (the bands are unchanged)."""
        return Fitted(
            _NoisyModel.wrap(fitted.ranker, self, "ranker"),
            _NoisyModel.wrap(fitted.confidence, self, "confidence"),
            fitted.bands,
        )


@dataclass(frozen=True)
class _NoisyModel(LinearModel):
    """A LinearModel whose inputs get the jitter's feature noise (keyed by the row, so repeatable)."""

    jitter: Jitter = field(default_factory=lambda: Jitter(0, 0.0, 0.0))
    role: str = ""

    @classmethod
    def wrap(cls, model: LinearModel, jitter: Jitter, role: str) -> _NoisyModel:
        """The same parameters, noisy inputs."""
        return cls(model.features, model.mean, model.scale, model.coef, model.intercept, jitter, role)

    def _noisy(self, values: dict[str, float]) -> dict[str, float]:
        key = self.role + repr(sorted((k, round(float(v), 6)) for k, v in values.items()))
        noise = _rng(self.jitter.seed, key).normal(0.0, self.jitter.feature_sd, len(self.features))
        return {**values, **{name: values.get(name, 0.0) + float(n) for name, n in zip(self.features, noise)}}

    # Every way LinearModel scores rows (probabilities, probability) goes through `decisions`: perturbed once.
    def decisions(self, rows: list[dict[str, float]]) -> np.ndarray:
        """The log-odds of many perturbed rows."""
        return super().decisions([self._noisy(row) for row in rows])
