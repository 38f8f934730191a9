"""A found architecture as a scikit-learn estimator (``NASNetClassifier``, ``NASNetRegressor``): the MLP family's
estimator (input standardization and clip, early stopping on a validation split, deadline, numpy weights) with
the network built from a genotype instead of a list of widths. ``AutoML(nas=True)`` cross-validates and ensembles
it like any other model."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import ClassifierMixin, RegressorMixin

from forgeml.nas.base import Problem
from forgeml.nn.estimator import TorchMLPClassifier, TorchMLPRegressor, _TorchMLP


class _NASNet(_TorchMLP):
    def __init__(self, genotype: Mapping[str, Any] | None = None, space: str = "macro", lr: float = 2e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, epochs: int = 50, patience: int = 10,
                 valid_fraction: float = 0.1, n_threads: int = 1, random_state: int = 0, device: str = "auto",
                 deadline: float | None = None) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, patience=patience,
                         valid_fraction=valid_fraction, n_threads=n_threads, random_state=random_state,
                         device=device, deadline=deadline)
        self.genotype = genotype
        self.space = space

    def _build_module(self, n_in: int, n_out: int) -> Any:
        from forgeml.nas import NAS_SPACES

        task = "regression" if self._loss == "mse" else "multiclass"
        return NAS_SPACES[self.space]().build(dict(self.genotype or {}), Problem(n_in, n_out, task))

    def _schedule(self) -> str:
        return str((self.genotype or {}).get("schedule", "cosine"))


class NASNetClassifier(ClassifierMixin, _NASNet):
    _loss = "cross_entropy"
    _encode_target = TorchMLPClassifier._encode_target
    _stratify = TorchMLPClassifier._stratify
    predict_proba = TorchMLPClassifier.predict_proba
    predict = TorchMLPClassifier.predict


class NASNetRegressor(RegressorMixin, _NASNet):
    _loss = "mse"
    _encode_target = TorchMLPRegressor._encode_target
    predict = TorchMLPRegressor.predict
