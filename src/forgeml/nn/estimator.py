"""Multilayer perceptrons as scikit-learn estimators (``TorchMLPClassifier``, ``TorchMLPRegressor``).

They standardize inputs (clipped at ``INPUT_CLIP`` standard deviations) and the regression target themselves,
hold out ``valid_fraction`` of the rows for early stopping, stop at ``deadline``, and keep their weights as numpy
arrays, so a fitted model pickles without torch tensors and predicts on CPU. torch is imported only inside
``fit`` and ``predict``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from forgeml.errors import NotFittedError

# Standardized inputs are clipped to this many standard deviations: a rare 0/1 column (a missing indicator set in
# one training row) would otherwise enter at 16 and saturate the softmax on any row that sets it.
INPUT_CLIP = 5.0


class _TorchMLP(BaseEstimator):
    _loss = ""

    def __init__(self, hidden_sizes: Sequence[int] = (128, 128), dropout: float = 0.1, activation: str = "relu",
                 lr: float = 1e-3, weight_decay: float = 1e-5, batch_size: int = 256, epochs: int = 50,
                 patience: int = 10, valid_fraction: float = 0.1, n_threads: int = 1, random_state: int = 0,
                 device: str = "auto", deadline: float | None = None) -> None:
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.activation = activation
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.n_threads = n_threads
        self.random_state = random_state
        self.device = device
        self.deadline = deadline

    # --- subclass hooks
    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return None

    def _build_module(self, n_in: int, n_out: int) -> Any:
        """A fresh network (subclasses that search architectures build theirs here)."""
        from forgeml.nn.modules import build_mlp

        return build_mlp(n_in, n_out, tuple(self.hidden_sizes), dropout=float(self.dropout),
                         activation_name=self.activation)

    def reads_rows(self, columns: Any, categorical: set[int]) -> bool:
        """Whether a request's transformed rows may come as their array instead of a frame
        (``pipeline/fitted.py: rows_matrix``): the network reads its input by position through ``check_array``,
        which reads a frame of numbers as that array."""
        return not categorical

    def _schedule(self) -> str:
        return "cosine"

    # --- fitting
    def _inputs(self, X: Any, *, fitting: bool) -> np.ndarray:
        """``X`` as float32 in a copy of its own, scaled for the network (when fitting, with the scaling learnt
        here)."""
        from sklearn.utils.validation import check_array

        # raises a clear ValueError on NaN or inf; copies only where converting made no copy (scaled in place)
        X = check_array(X, dtype=np.float32, copy=True)
        if fitting:
            self.n_features_in_ = X.shape[1]
            self.x_mean_ = X.mean(axis=0)
            # a few columns at a time: ``std`` makes a temporary as large as its input (the same result per column)
            scale = np.concatenate([X[:, j:j + 8].std(axis=0) for j in range(0, max(X.shape[1], 1), 8)])
            self.x_scale_ = np.where(scale > 1e-12, scale, 1.0).astype(np.float32)
            self.x_clip_ = INPUT_CLIP
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        return self._scaled(X)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` (this estimator's own float32 copy) scaled and clipped in place: the same arithmetic as
        ``clip((X - mean) / scale)`` without its two temporaries, each as large as ``X`` (on 750,000 rows of 102
        columns, 306 MB each)."""
        bound = getattr(self, "x_clip_", np.inf)  # a network fitted before the clip predicts as it was fitted
        X -= self.x_mean_
        X /= self.x_scale_
        return np.clip(X, -bound, bound, out=X)

    def fit(self, X: Any, y: Any) -> _TorchMLP:
        import torch

        from forgeml.nn.trainer import pick_device, train_module

        Xs = self._inputs(X, fitting=True)
        target, n_out = self._encode_target(np.asarray(y).reshape(-1))
        train_idx, valid_idx = self._split(len(Xs), target)
        # the training rows are read where they are (``rows``): a copy of them was as large as the input
        rows = train_idx if len(valid_idx) else None
        torch.manual_seed(int(self.random_state))
        module = self._build_module(Xs.shape[1], n_out)
        init = self.__dict__.pop("_init_state", None)  # set by MLPFamily.continue_from, used once
        if init is not None:
            from forgeml.nn.trainer import load_numpy_state

            load_numpy_state(module, init)
        result = train_module(
            module, Xs, target[train_idx], loss=self._loss, lr=float(self.lr), rows=rows,
            weight_decay=float(self.weight_decay), batch_size=int(self.batch_size), epochs=int(self.epochs),
            X_valid=Xs[valid_idx] if len(valid_idx) else None, y_valid=target[valid_idx] if len(valid_idx) else None,
            patience=int(self.patience), seed=int(self.random_state), deadline=self.deadline,
            n_threads=int(self.n_threads), device=pick_device(self.device), score_initial=init is not None,
            schedule=self._schedule(),
        )
        self.n_outputs_ = n_out
        self.state_dict_ = result.state_dict
        self.n_epochs_ = result.epochs
        self.best_epoch_ = result.best_epoch
        self.stopped_ = result.stopped
        self.history_ = result.history
        self.__dict__.pop("_module", None)
        return self

    def _split(self, n: int, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Train/validation row indices; no validation when it would be under 10 rows."""
        idx = np.arange(n)
        n_valid = int(round(n * float(self.valid_fraction)))
        if n_valid < 10 or n - n_valid < 10:
            return idx, idx[:0]
        from sklearn.model_selection import train_test_split

        strat = self._stratify(target)
        try:
            train, valid = train_test_split(idx, test_size=n_valid, random_state=int(self.random_state),
                                            stratify=strat)
        except ValueError:  # a class too rare to stratify on
            train, valid = train_test_split(idx, test_size=n_valid, random_state=int(self.random_state))
        return np.sort(train), np.sort(valid)

    # --- prediction
    def _outputs(self, X: Any) -> np.ndarray:
        if not hasattr(self, "state_dict_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        from forgeml._threads import predict_threads
        from forgeml.nn.trainer import load_numpy_state, predict_batches, torch_threads

        Xs = self._inputs(X, fitting=False)
        with torch_threads(max(int(self.n_threads), predict_threads(len(Xs)))):  # free cores for large batches
            module = self.__dict__.get("_module")
            if module is None:
                module = load_numpy_state(self._build_module(self.n_features_in_, self.n_outputs_), self.state_dict_)
                self.__dict__["_module"] = module
            return predict_batches(module, Xs).astype(np.float64)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_module", None)  # rebuilt from state_dict_ on first use
        return state


class TorchMLPClassifier(ClassifierMixin, _TorchMLP):
    """An MLP classifier trained with cross-entropy; ``predict_proba`` columns follow ``classes_``."""

    _loss = "cross_entropy"

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        self.classes_, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), len(self.classes_)

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return y

    def predict_proba(self, X: Any) -> np.ndarray:
        from forgeml.nn.trainer import softmax

        return softmax(self._outputs(X))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class TorchMLPRegressor(RegressorMixin, _TorchMLP):
    """An MLP regressor trained with squared error on a standardized target."""

    _loss = "mse"

    def _encode_target(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        y = y.astype(np.float64)
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 1e-12 else 1.0
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32), 1

    def predict(self, X: Any) -> np.ndarray:
        return self._outputs(X).reshape(-1) * self.y_scale_ + self.y_mean_
