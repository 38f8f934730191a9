"""k-fold bagging: the fold models a trial trained during cross-validation, averaged at predict time.

A ``BaggedPipeline`` stands in for a member refit on all rows when there was no time (or no wish) to refit:
each fold model saw ``(k-1)/k`` of the rows, and their average is usually as good as one model on all of them.
It answers ``predict``/``predict_proba`` on the encoded feature frame like a fitted scikit-learn ``Pipeline``,
with ``classes_ = 0..k-1``, so ``predict_matrix`` and ``FittedPipeline`` treat it as any other member.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.pipeline.fitted import predict_matrix


class BaggedPipeline:
    """The mean of ``pipelines``' predictions: probabilities over all ``n_classes`` classes (a fold that lacked
    a class gives it 0), or values for regression (``n_classes=0``)."""

    def __init__(self, pipelines: list[Any], n_classes: int) -> None:
        if not pipelines:
            raise ValueError("a BaggedPipeline needs at least one fold pipeline")
        self.pipelines = list(pipelines)
        self.n_classes = int(n_classes)

    @property
    def n_folds(self) -> int:
        return len(self.pipelines)

    @property
    def classes_(self) -> np.ndarray:
        if not self.n_classes:
            raise AttributeError("a regression BaggedPipeline has no classes_")
        return np.arange(self.n_classes)

    def _mean(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([predict_matrix(p, X, self.n_classes) for p in self.pipelines], axis=0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not self.n_classes:
            raise AttributeError("predict_proba is only available for classification")
        return self._mean(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        out = self._mean(X)
        return out if not self.n_classes else out.argmax(axis=1)

    def __repr__(self) -> str:
        return f"BaggedPipeline({self.n_folds} fold models)"
