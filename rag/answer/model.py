"""The trained answer scorer: P(a unit answers the question) and a calibrated P(answerable).

Two logistic-regression heads over standardised features (``rag.answer.features``):

- the **unit head** ranks candidate units: P(this unit holds the answer);
- the **answerability head** reads the best units' probabilities and the answerability checks'
  verdicts and gives P(the documents answer the question), calibrated on held-out folds of the
  training data; the bot answers when it is at least the artifact's ``threshold``.

The artifact is one small JSON file (``model.json`` beside this module by default): format and
feature versions, each head's feature names, means, scales, weights and intercept, the threshold and
the rule that chose it, and a model card (data, metrics, date, command). Inference is numpy only;
``rag train`` (``rag/train.py``, scikit-learn) rebuilds it. ``load`` refuses an artifact whose
format or features do not match this code, naming the fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answer.features import FEATURE_VERSION, QUESTION_FEATURES, UNIT_FEATURES

FORMAT = "rag-answer-model"
FORMAT_VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parent / "model.json"


class ModelError(RuntimeError):
    """The answer model artifact is missing, damaged or made for other code; says what to do."""


@dataclass
class Head:
    """A standardised logistic regression: sigmoid(((x - mean) / scale) @ coef + intercept)."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -40, 40)))

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "coef": [float(v) for v in self.coef],
            "intercept": float(self.intercept),
        }

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...], name: str) -> Head:
        if list(d.get("features", [])) != list(expected):
            raise ModelError(
                f"the answer model's {name} features do not match this code: retrain it with "
                "`rag train`"
            )
        arrays = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(expected),) for a in arrays) or not np.all(arrays[1] > 0):
            raise ModelError(
                f"the answer model's {name} head is damaged: retrain it with `rag train`"
            )
        return cls(list(expected), *arrays, float(d["intercept"]))


@dataclass
class AnswerModel:
    unit: Head
    answerable: Head
    threshold: float  # for the default way of deciding
    card: dict = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)  # per AnswerConfig.decide

    def threshold_for(self, decide: str) -> float:
        return self.thresholds.get(decide, self.threshold)

    @property
    def version(self) -> str:
        """A short hash of the weights: changes whenever the model does (index fingerprint)."""
        blob = json.dumps([self.unit.to_dict(), self.answerable.to_dict(), self.threshold])
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def unit_probs(self, x: np.ndarray) -> np.ndarray:
        return self.unit.predict(x) if len(x) else np.zeros(0)

    def p_answerable(self, x: np.ndarray) -> float:
        return float(self.answerable.predict(x)[0])

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "feature_version": FEATURE_VERSION,
            "unit": self.unit.to_dict(),
            "answerable": self.answerable.to_dict(),
            "threshold": self.threshold,
            "thresholds": dict(self.thresholds),
            "card": self.card,
        }

    def save(self, path: str | Path) -> Path:
        from rag.atomic import write_atomic

        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> AnswerModel:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"no answer model at {path}: run `rag train` to build one") from None
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"cannot read the answer model {path} ({exc}): run `rag train`"
            ) from None
        if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{path} is not a version-{FORMAT_VERSION} answer model: run `rag train`"
            )
        if d.get("feature_version") != FEATURE_VERSION:
            raise ModelError(
                f"{path} was trained on feature version {d.get('feature_version')}, this code "
                f"computes version {FEATURE_VERSION}: run `rag train`"
            )
        try:
            unit = Head.from_dict(d["unit"], UNIT_FEATURES, "unit")
            answerable = Head.from_dict(d["answerable"], QUESTION_FEATURES, "answerability")
            threshold = float(d["threshold"])
            thresholds = {str(k): float(v) for k, v in d.get("thresholds", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path} is damaged ({exc!r}): run `rag train`") from None
        for t in (threshold, *thresholds.values()):
            if not 0.0 <= t < 1.0:
                raise ModelError(f"{path}: threshold {t} is not a probability: run `rag train`")
        return cls(unit, answerable, threshold, d.get("card", {}), thresholds)
