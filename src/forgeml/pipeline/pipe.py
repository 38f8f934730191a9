"""``ForgePipeline``: a scikit-learn ``Pipeline`` that can also change *which rows* and *which target scale* the
steps are fitted on, which a plain ``Pipeline`` cannot (its steps only ever transform ``X``).

* ``missing_rows="drop"`` fits every step on the training rows without missing values; at predict time no row
  is dropped (the preprocessing's imputer, fitted on the kept rows, fills the gaps).
* ``target_transform`` (regression) fits the steps on a transformed target and maps predictions back through
  the exact inverse, so every score is computed on the original scale.

Steps are ``prep`` (``Preprocessor``), optional feature-engineering steps, and ``model`` last.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from forgeml.errors import ConfigError
from forgeml.pipeline.target import TARGET_TRANSFORMS, fit_target

MISSING_ROWS = ("impute", "drop")


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
        """The training rows the steps are fitted on (all of them unless ``missing_rows="drop"``)."""
        return X, y, params

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
