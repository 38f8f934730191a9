"""``ForgePipeline``: a scikit-learn ``Pipeline`` that can also change *which rows* and *which target scale* the
steps are fitted on, which a plain ``Pipeline`` cannot (its steps only ever transform ``X``).

* ``missing_rows="drop"`` fits every step on the training rows without missing values in the modelled input
  columns, provided they are few: at most ``MAX_DROP_SHARE`` (10 %) of the rows, at least ``MIN_KEPT_ROWS`` (20)
  rows left, and no class lost; otherwise every row is kept (and imputed, as with ``"impute"``). At predict time
  no row is dropped: the preprocessing's imputer, fitted on the kept rows (complete, so it has a fill value for
  every column), fills the gaps, and families that take NaN receive it as they would with ``"impute"``.
* ``target_transform`` (regression) fits the steps on a transformed target and maps predictions back through
  the exact inverse, so every score is computed on the original scale.

Steps are ``prep`` (``Preprocessor``), optional feature-engineering steps, and ``model`` last.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from forgeml.data.schema import MODELLED
from forgeml.errors import ConfigError
from forgeml.pipeline.target import TARGET_TRANSFORMS, fit_target

MISSING_ROWS = ("impute", "drop")
MAX_DROP_SHARE = 0.10  # the most rows "drop" may remove; above it every row is kept and imputed
MIN_KEPT_ROWS = 20  # nor may it leave fewer rows than this


class ForgePipeline(Pipeline):
    def __init__(self, steps: list[tuple[str, Any]], *, missing_rows: str = "impute", target_transform: str = "none",
                 transform_input: Any = None, memory: Any = None, verbose: bool = False) -> None:
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.missing_rows = missing_rows
        self.target_transform = target_transform

    def fit(self, X: Any, y: Any = None, **params: Any) -> ForgePipeline:
        if self.missing_rows not in MISSING_ROWS:
            raise ConfigError(f"missing_rows={self.missing_rows!r} is not one of {', '.join(MISSING_ROWS)}")
        if self.target_transform not in TARGET_TRANSFORMS:
            raise ConfigError(f"target_transform={self.target_transform!r} is not one of "
                              f"{', '.join(TARGET_TRANSFORMS)}")
        X, y, params = self._rows(X, y, params)
        self.target_ = None
        super().fit(X, self._forward(y), **params)
        return self

    def _rows(self, X: Any, y: Any, params: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
        """The training rows the steps are fitted on (all of them unless ``missing_rows="drop"``), with ``y`` and
        every ``*sample_weight`` fit parameter subset alike."""
        keep = self.kept_rows(X, y)
        self.n_rows_dropped_ = 0 if keep is None else int((~keep).sum())
        if keep is None:
            return X, y, params
        params = {k: (np.asarray(v)[keep] if k.endswith("sample_weight") and v is not None else v)
                  for k, v in params.items()}
        return X[keep], np.asarray(y)[keep], params

    def kept_rows(self, X: Any, y: Any) -> np.ndarray | None:
        """A boolean mask of the rows ``fit`` keeps from ``(X, y)``, or None when it keeps them all. Deterministic,
        so a continued model (PBT) is trained on exactly the rows its pipeline was fitted on."""
        if self.missing_rows != "drop" or not isinstance(X, pd.DataFrame) or not len(X):
            return None
        cols = modelled_columns(self.steps[0][1], X)
        if not cols:
            return None
        keep = ~X[cols].isna().to_numpy().any(axis=1)
        n_drop = int((~keep).sum())
        if n_drop == 0 or n_drop > MAX_DROP_SHARE * len(X) or keep.sum() < MIN_KEPT_ROWS:
            return None
        yv = np.asarray(y) if y is not None else None
        if yv is not None and yv.dtype.kind in "iub" and len(np.unique(yv[keep])) < len(np.unique(yv)):
            return None  # dropping would remove a class the model must still predict
        return keep

    def _forward(self, y: Any) -> Any:
        """``y`` on the scale the steps learn on (fits ``self.target_`` when a transform is set; see
        ``pipeline/target.py`` for the fallbacks)."""
        self.target_ = fit_target(self.target_transform, y) if y is not None else None
        return self.transform_target(y)

    def transform_target(self, y: Any) -> Any:
        """``y`` through the fitted target transform (unchanged without one): what the model step learns."""
        target = getattr(self, "target_", None)
        return y if target is None else target.forward(y)

    def _inverse(self, pred: np.ndarray) -> np.ndarray:
        target = getattr(self, "target_", None)
        return pred if target is None else target.inverse(pred)

    def predict(self, X: Any, **params: Any) -> np.ndarray:
        return self._inverse(super().predict(X, **params))

    @property
    def transformer(self) -> Any:
        """Every step but the model, as one transformer (raw frame in, model input out)."""
        return self[:-1]


def modelled_columns(prep: Any, X: pd.DataFrame) -> list[str]:
    """The columns of ``X`` the first step models (a ``Preprocessor``'s ``(name, kind)`` columns of a modelled
    kind); every column of ``X`` for any other first step."""
    pairs = getattr(prep, "columns", None)
    if isinstance(pairs, (list, tuple)) and all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        return [name for name, kind in pairs if kind in MODELLED and name in X.columns]
    return list(X.columns)
