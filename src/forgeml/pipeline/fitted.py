"""The deployable result of a run: schema check, preprocessing + model (or a weighted ensemble of them),
and the mapping back to the user's labels, in one picklable object.

It lives in the pipeline layer, below ``evaluate/``, ``orchestrate/`` and ``api/``: the orchestrator builds it
and the evaluator scores members with the same ``predict_matrix``. ``forgeml.api.predictor.FittedPipeline``
stays an alias of this class, so models pickled before the move still load.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.schema import Schema
from forgeml.data.validate import align_for_predict


def predict_matrix(pipe: Any, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Predictions in the evaluator's internal form: (n, k) probabilities over all classes, or a vector."""
    if n_classes == 0:
        return np.asarray(pipe.predict(X), dtype=float).ravel()
    proba = np.asarray(pipe.predict_proba(X), dtype=float)
    classes = np.asarray(getattr(pipe, "classes_", np.arange(proba.shape[1]))).astype(int)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    full = np.zeros((len(X), n_classes))  # a training fold lacked some class: give it probability 0
    full[:, classes] = proba
    return full


class FittedPipeline:
    """Predicts from raw feature frames, as the user's labels.

    ``members`` are fitted scikit-learn ``Pipeline``s (preprocessing + model) trained on integer-coded labels;
    ``weights`` combine their probabilities (classification) or predictions (regression). With a ``combiner``
    (``forgeml.ensemble.Combiner``, e.g. a stacking meta-learner) the combiner makes the prediction instead, from
    ``{member_ids[i]: members[i]'s predictions}`` and the aligned raw rows; ``weights`` then only describe the
    members' shares.
    """

    combiner: Any = None  # class-level defaults: pipelines pickled before combiners existed still load
    member_ids: list[int] | None = None

    def __init__(self, schema: Schema, members: list[Any], weights: list[float],
                 descriptions: list[str] | None = None, combiner: Any = None,
                 member_ids: list[int] | None = None) -> None:
        if combiner is not None and (member_ids is None or len(member_ids) != len(members)):
            raise ValueError("a FittedPipeline with a combiner needs member_ids, one trial id per member")
        self.schema = schema
        self.members = members
        self.weights = [float(w) for w in weights]
        self.descriptions = descriptions or [type(m).__name__ for m in members]
        self.combiner = combiner
        self.member_ids = None if member_ids is None else [int(i) for i in member_ids]

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.schema.classes, dtype=object if _mixed(self.schema.classes) else None)

    def _align(self, X: Any) -> pd.DataFrame:
        return align_for_predict(self.schema, X)

    def _combined(self, X: pd.DataFrame) -> np.ndarray:
        k = 0 if self.task == "regression" else len(self.schema.classes)
        if self.combiner is not None:
            preds = {i: predict_matrix(m, X, k) for i, m in zip(self.member_ids, self.members)}
            return np.asarray(self.combiner.combine(preds, X), dtype=float)
        out = None
        for w, m in zip(self.weights, self.members):
            p = w * predict_matrix(m, X, k)
            out = p if out is None else out + p
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            raise AttributeError("predict_proba is only available for classification tasks")
        p = self._combined(self._align(X))
        return p / np.clip(p.sum(axis=1, keepdims=True), 1e-15, None)

    def predict(self, X: Any) -> np.ndarray:
        if self.task == "regression":
            return self._combined(self._align(X))
        idx = self.predict_proba(X).argmax(axis=1)
        return self.classes_[idx]

    def __repr__(self) -> str:
        if self.combiner is not None:
            return f"FittedPipeline({self.task}: {self.combiner.describe()} over {len(self.members)} members)"
        parts = ", ".join(f"{w:.2f}×{d}" for w, d in zip(self.weights, self.descriptions))
        return f"FittedPipeline({self.task}: {parts})"


def _mixed(values: tuple) -> bool:
    return len({type(v) for v in values}) > 1
