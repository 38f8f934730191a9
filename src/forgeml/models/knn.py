"""k-nearest neighbours: no training, a very different inductive bias from trees (useful in ensembles).

The estimators clip ``n_neighbors`` to the rows they are fitted on, because a cross-validation fold or a
low-fidelity subsample can be smaller than the bound the space was drawn with.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from forgeml._threads import in_row_blocks, predict_threads
from forgeml.models._common import require_fitted, threads
from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Categorical, Int, SearchSpace

MAX_ROWS = 100_000


class _ClippedKNN(BaseEstimator):
    def __init__(self, n_neighbors: int = 5, weights: str = "uniform", p: int = 2, n_jobs: int = 1) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p
        self.n_jobs = n_jobs

    def _make(self, n_neighbors: int) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _ClippedKNN:
        k = int(max(1, min(int(self.n_neighbors), len(y))))
        self.model_ = self._make(k).fit(X, y)
        self.n_neighbors_ = k
        self.n_features_in_ = self.model_.n_features_in_
        return self

    def _check(self) -> None:
        require_fitted(self)

    def _by_rows(self, call: Any, X: Any) -> np.ndarray:
        """``call`` on a batch over ``predict_threads`` threads: fitted in a trial on one thread, a tree search
        (``kd_tree``, ``ball_tree``) would query on one thread in the user's process too (860 ms for 10,000 rows
        of 15 columns; 535 ms on 2 threads). Each row's neighbours are found on their own and the query releases
        the GIL, so blocks of rows give each row the same result; brute force already splits its distances over
        the cores."""
        own = self.model_
        if not hasattr(X, "shape") or own._fit_method == "brute" or own.n_jobs not in (None, 1):
            return call(X)
        threads = predict_threads(X.shape[0])
        return call(X) if threads < 2 else in_row_blocks(call, X, threads)

    def predict(self, X: Any) -> np.ndarray:
        self._check()
        return self._by_rows(self.model_.predict, X)


class KNNClassifier(ClassifierMixin, _ClippedKNN):
    """``KNeighborsClassifier`` with ``n_neighbors`` clipped to the training rows."""

    def _make(self, n_neighbors: int) -> Any:
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=n_neighbors, weights=self.weights, p=self.p, n_jobs=self.n_jobs)

    @property
    def classes_(self) -> np.ndarray:
        self._check()
        return self.model_.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check()
        return self._by_rows(self.model_.predict_proba, X)


class KNNRegressor(RegressorMixin, _ClippedKNN):
    """``KNeighborsRegressor`` with ``n_neighbors`` clipped to the training rows."""

    def _make(self, n_neighbors: int) -> Any:
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(n_neighbors=n_neighbors, weights=self.weights, p=self.p, n_jobs=self.n_jobs)


class KNNFamily(ModelFamily):
    name = "knn"
    capabilities = Capabilities(needs_scaling=True, max_rows=MAX_ROWS, cost=1.0)

    def space(self, ctx: FitContext) -> SearchSpace:
        high = int(max(1, min(100, ctx.n_rows // 2)))
        return SearchSpace({
            "n_neighbors": Int(1, high, log=True, default=min(10, high)),
            "weights": Categorical(("uniform", "distance")),
            "p": Categorical((2, 1)),
        })

    def defaults(self, ctx: FitContext) -> list[dict[str, Any]]:
        k = self.space(ctx)["n_neighbors"]
        out = [
            {"n_neighbors": k.get_default(), "weights": "uniform", "p": 2},
            {"n_neighbors": min(25, k.high), "weights": "distance", "p": 2},
            {"n_neighbors": k.get_default(), "weights": "distance", "p": 1},
        ]
        return [d for i, d in enumerate(out) if d not in out[:i]]

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        cls = KNNRegressor if ctx.task == "regression" else KNNClassifier
        return cls(n_neighbors=int(params["n_neighbors"]), weights=params["weights"], p=int(params["p"]),
                   n_jobs=threads(ctx))
