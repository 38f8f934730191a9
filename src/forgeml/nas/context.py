"""``NASContext``: the one place NAS trains networks. Strategies call ``evaluate(genotype, epochs)``; the context
trains on the search split under the deadline, scores on the validation split, catches failures (an exception,
running out of memory, a NaN loss) as failed candidates, and keeps the history.

Scores are higher-is-better: for classification accuracy (ties broken by validation log loss) or minus the log
loss (``metric``), R² for regression. The weights of full-fidelity candidates are kept so the winner can be used
without retraining.
"""
from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from forgeml.nas.base import Candidate, NASSpace, Problem

#: What a candidate is scored and selected by, for classification (regression always uses R²).
METRICS = ("accuracy", "log_loss")


class NASContext:
    """Data, space and clock of one search. ``deadline`` is a ``time.time()`` value."""

    def __init__(self, space: NASSpace, problem: Problem, X_train: np.ndarray, y_train: np.ndarray,
                 X_valid: np.ndarray, y_valid: np.ndarray, *, deadline: float, seed: int = 0,
                 n_threads: int = 1, device: str = "cpu", epochs: tuple[int, int] = (5, 30),
                 patience: int = 8, metric: str = "accuracy", augment: Any = None) -> None:
        self.nas_space = space
        self.problem = problem
        self.space = space.space(problem)
        self.X_train, self.y_train, self.X_valid, self.y_valid = X_train, y_train, X_valid, y_valid
        self.deadline = float(deadline)
        self.seed = int(seed)
        self.n_threads = int(n_threads)
        self.device = device
        self.low_epochs, self.high_epochs = int(epochs[0]), int(epochs[1])
        self.patience = int(patience)
        if metric not in METRICS:
            raise ValueError(f"unknown NAS metric {metric!r}; use one of {', '.join(METRICS)}")
        self.metric = metric
        self.augment = augment  # applied to every network's training batches (``train_module``'s ``augment``)
        self.history: list[Candidate] = []
        self.rng = np.random.default_rng(seed)

    def time_left(self) -> float:
        return self.deadline - time.time()

    def evaluate(self, genotype: Mapping[str, Any], epochs: int, *, source: str = "",
                 module: Any = None, keep: bool | None = None) -> Candidate:
        """Train ``genotype``'s network (or ``module``, already built from it) for up to ``epochs`` epochs and
        score it on the validation split. Never raises for a broken candidate: it is recorded as failed."""
        from forgeml.nn.trainer import predict_batches

        cid = len(self.history)
        genotype = dict(genotype)
        start = time.time()
        cand = Candidate(id=cid, genotype=genotype, epochs=int(epochs), score=None, source=source)
        try:
            if module is None:  # initial weights from the candidate's seed, not from whatever ran before
                import torch

                torch.manual_seed(self.seed + cid)
                module = self.nas_space.build(genotype, self.problem)
            cand.n_params = int(sum(p.numel() for p in module.parameters()))
            result = self._train(module, genotype, self.X_train, self.y_train, epochs, seed=self.seed + cid,
                                 deadline=self.deadline, X_valid=self.X_valid, y_valid=self.y_valid,
                                 patience=self.patience)
            cand.epochs, cand.best_epoch = result.epochs, result.best_epoch
            if not any(math.isfinite(v) for v in result.history):
                raise FloatingPointError("the loss is not finite (the network diverged)")
            out = predict_batches(module, self.X_valid).astype(np.float64)
            score = self.score(out, self.y_valid)
            if not math.isfinite(score):
                raise FloatingPointError("the validation predictions are not finite (the network diverged)")
            cand.score = score
            if keep if keep is not None else epochs >= self.high_epochs:
                cand.state_dict = result.state_dict
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 (a broken candidate must not end the search)
            cand.status, cand.score = "failed", None
            cand.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            cand.state_dict = None
            if not isinstance(exc, (RuntimeError, MemoryError, FloatingPointError, ValueError)):
                cand.error += "\n" + traceback.format_exc(limit=3)
        cand.seconds = time.time() - start
        self.history.append(cand)
        return cand

    def train_final(self, genotype: Mapping[str, Any], X: np.ndarray, y: np.ndarray, epochs: int, *,
                    deadline: float) -> Candidate:
        """Train ``genotype`` from scratch on ``X, y`` for exactly ``epochs`` epochs (no validation to stop on)
        before ``deadline``; the result is not part of the search history."""
        start = time.time()
        cand = Candidate(id=-1, genotype=dict(genotype), epochs=0, score=None, source="final")
        try:
            module = self.nas_space.build(genotype, self.problem)
            result = self._train(module, genotype, X, y, epochs, seed=self.seed, deadline=deadline)
            if not result.history or not math.isfinite(result.history[-1]):
                raise FloatingPointError("the loss is not finite (the network diverged)")
            cand.epochs, cand.state_dict, cand.score = result.epochs, result.state_dict, -result.history[-1]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 (the search-time weights remain)
            cand.status, cand.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
        cand.seconds = time.time() - start
        return cand

    def _train(self, module: Any, genotype: Mapping[str, Any], X: np.ndarray, y: np.ndarray, epochs: int, *,
               seed: int, deadline: float, **valid: Any) -> Any:
        """forgeml's trainer with the genotype's training choices (lr, weight decay, batch size, schedule)."""
        from forgeml.nn.trainer import train_module

        train = self.nas_space.training(genotype)
        return train_module(module, X, y, loss=self.problem.loss, lr=float(train["lr"]),
                            weight_decay=float(train["weight_decay"]), batch_size=int(train["batch_size"]),
                            epochs=int(epochs), seed=seed, deadline=deadline, n_threads=self.n_threads,
                            device=self.device, schedule=str(train["schedule"]), augment=self.augment,
                            **valid)

    def score(self, out: np.ndarray, y: np.ndarray) -> float:
        """Higher is better: R² for regression; for classification accuracy (ties broken by 1e-4 × log loss) or,
        with ``metric="log_loss"``, minus the log loss."""
        if self.problem.task == "regression":
            pred = out.reshape(-1)
            ss = float(np.sum((y - y.mean()) ** 2)) or 1.0
            return 1.0 - float(np.sum((y - pred) ** 2)) / ss
        if not np.all(np.isfinite(out)):
            return math.nan
        z = out - out.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        yi = y.astype(np.int64)
        logloss = float(-np.mean(logp[np.arange(len(yi)), yi]))
        if self.metric == "log_loss":
            return -logloss
        acc = float(np.mean(np.argmax(out, axis=1) == yi))
        return acc - 1e-4 * min(logloss, 100.0)

    def best(self, *, trained: bool = False) -> Candidate | None:
        """The best successful candidate; with ``trained``, only among those whose weights were kept."""
        pool = [c for c in self.history if c.ok and (not trained or c.state_dict is not None)]
        return max(pool, key=lambda c: (c.score, -c.id)) if pool else None
