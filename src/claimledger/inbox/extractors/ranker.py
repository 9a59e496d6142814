"""The learned ranker behind the offline extractor: features of candidate statements, a linear
model over them, and how many candidates to keep.

Features carry meaning: sentence vectors (all-MiniLM-L6-v2, or the lexical backend) give each
candidate's centrality in its source, its similarity to the source title, to its neighbours,
to the nearest existing claim and to the centroid of the vault's claim titles (its style);
the text gives position, length, cue and hedge words, numbers, quotes, labels and headings.
A logistic regression (scikit-learn, at training time only) weighs them; the model is a JSON
file of coefficients, so scoring is one dot product and identical input gives identical output.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from claimledger.inbox.extractors.statements import (
    ASSERTIVE,
    HEDGES,
    NUMBER,
    WEAK_START,
    Statement,
)

MODEL_VERSION = 1
DEFAULT_MODEL = "extractor-model.json"
FALLBACK_BACKEND = "lexical"  # for a backend the packaged file has no model for
HEADING_CUE = re.compile(
    r"claim|finding|key|takeaway|result|summary|conclusion|insight|thesis|argument|notes|"
    r"implication|why|significance",
    re.I,
)
STANCE = re.compile(
    r"\b(?:because|so|therefore|thus|which means|means|creating|making|rather than|instead of|"
    r"not|only|every|all|must|cannot|is|are)\b",
    re.I,
)
QUOTE = re.compile(r"[\"“”]")
FEATURES = (
    "title_sim",
    "centrality",
    "neighbour_sim",
    "claim_max_sim",
    "claim_style_sim",
    "position",
    "first_block",
    "is_item",
    "emphasised",
    "labelled",
    "heading_cue",
    "words",
    "short",
    "long",
    "cues",
    "hedged",
    "number",
    "quoted",
    "pronoun_start",
    "question",
    "stance",
    "items_share",
)


@dataclass
class SourceVectors:
    """What the features of one source's candidates need, computed once."""

    statements: list[Statement]
    vectors: np.ndarray  # one unit row per statement
    title: np.ndarray  # unit vector of the source title
    claims: np.ndarray | None  # unit rows of existing claim titles (the source's own excluded)
    style: np.ndarray | None  # unit centroid of claim titles


def features(src: SourceVectors) -> np.ndarray:
    """One row of FEATURES per statement."""
    statements, vectors = src.statements, src.vectors
    n = len(statements)
    if n == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float64)
    total = vectors.sum(axis=0)
    others = (total[None, :] - vectors) / max(n - 1, 1)
    centrality = np.einsum("ij,ij->i", vectors, others) / np.maximum(
        np.linalg.norm(others, axis=1), 1e-9
    )
    neighbour = np.zeros(n)
    for i in range(n):
        near = [j for j in (i - 1, i + 1) if 0 <= j < n]
        neighbour[i] = float(np.mean([vectors[i] @ vectors[j] for j in near])) if near else 0.0
    title = vectors @ src.title
    claim_max = (
        (vectors @ src.claims.T).max(axis=1)
        if src.claims is not None and len(src.claims)
        else np.zeros(n)
    )
    style = vectors @ src.style if src.style is not None else np.zeros(n)
    items = sum(s.is_item for s in statements) / n
    blocks = max(s.block for s in statements) or 1
    rows = []
    for i, s in enumerate(statements):
        words = len(s.text.split())
        rows.append(
            [
                title[i],
                centrality[i],
                neighbour[i],
                claim_max[i],
                style[i],
                s.block / blocks,
                float(s.block == statements[0].block),
                float(s.is_item),
                float(s.emphasised),
                float(s.labelled),
                float(bool(HEADING_CUE.search(s.heading))),
                math.log(words),
                float(words < 8),
                float(words > 40),
                min(len(ASSERTIVE.findall(s.text)), 3),
                float(bool(HEDGES.search(s.text))),
                float(bool(NUMBER.search(s.text))),
                float(bool(QUOTE.search(s.text))),
                float(bool(WEAK_START.match(s.text))),
                float(s.text.rstrip().endswith("?")),
                min(len(STANCE.findall(s.text)), 4) / 4,
                items,
            ]
        )
    return np.asarray(rows, dtype=np.float64)


@dataclass
class LinearModel:
    """Standardised features, a weight per feature, and where to stop picking."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # keep candidates whose probability is at least this
    relative: float  # ... and at least this share of the best one's
    floor: float = 0.1  # below this, nothing in the source is claim-like: a null result
    info: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def raw(self) -> tuple[np.ndarray, float]:
        """Weights and intercept on unstandardised features (for blending two models)."""
        weights = self.coef / self.scale
        return weights, float(self.intercept - weights @ self.mean)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": _floats(self.mean),
            "scale": _floats(self.scale),
            "coef": _floats(self.coef),
            "intercept": round(float(self.intercept), 6),
            "threshold": round(float(self.threshold), 4),
            "relative": round(float(self.relative), 4),
            "floor": round(float(self.floor), 4),
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearModel:
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            relative=float(data.get("relative", 0.0)),
            floor=float(data.get("floor", 0.1)),
            info=dict(data.get("info") or {}),
        )


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def blend(default: LinearModel, learned: LinearModel, weight: float) -> LinearModel:
    """`weight` of the learned model and the rest of the default, as one linear model."""
    w_default, b_default = default.raw()
    w_learned, b_learned = learned.raw()
    weights = weight * w_learned + (1 - weight) * w_default
    return LinearModel(
        mean=np.zeros_like(weights),
        scale=np.ones_like(weights),
        coef=weights,
        intercept=weight * b_learned + (1 - weight) * b_default,
        threshold=weight * learned.threshold + (1 - weight) * default.threshold,
        relative=weight * learned.relative + (1 - weight) * default.relative,
        floor=weight * learned.floor + (1 - weight) * default.floor,
        info={"blend_weight": round(weight, 4)},
    )


def select(
    probabilities: np.ndarray, vectors: np.ndarray, model: LinearModel, limit: int
) -> list[int]:
    """Which candidates become claims, best first: none when even the best is under the
    floor (nothing claim-like: a null result), else the best and those the model finds likely
    enough (absolutely and against the best one), without near-repeats."""
    if len(probabilities) == 0:
        return []
    best = float(probabilities.max())
    if best < model.floor:
        return []
    floor = min(best, max(model.threshold, model.relative * best))  # the best one always
    chosen: list[int] = []
    for i in np.argsort(-probabilities, kind="stable"):
        if probabilities[i] < floor or len(chosen) >= limit:
            break
        if any(float(vectors[i] @ vectors[j]) > 0.85 for j in chosen):
            continue
        chosen.append(int(i))
    return chosen


def fit(
    rows: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, c: float = 0.3
) -> LinearModel:
    """A logistic regression on standardised features (scikit-learn, imported here only)."""
    from sklearn.linear_model import LogisticRegression

    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit((rows - mean) / scale, labels, sample_weight=weights)
    return LinearModel(mean, scale, model.coef_[0], float(model.intercept_[0]), 0.5, 0.0)


def load_models(path: Path | None = None) -> dict[str, Any]:
    """A model file: {"version", "backends": {backend name: LinearModel dict}, ...}."""
    if path is None:
        text = resources.files("claimledger.data").joinpath(DEFAULT_MODEL).read_text()
    else:
        text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("version") != MODEL_VERSION or data.get("features") != list(FEATURES):
        raise ValueError("extractor model was written for other features")
    return data


def model_for(data: dict[str, Any], backend: str) -> LinearModel | None:
    """The model for a similarity backend, if the file has one."""
    entry = (data.get("backends") or {}).get(backend)
    return LinearModel.from_dict(entry) if entry else None
