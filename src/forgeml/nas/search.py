"""``NASearch``: search a network architecture for a table or for small images within a time budget.

``fit`` validates the data as ``AutoML`` does, turns it into standardized floats (tables through forgeml's
``Preprocessor``; image pixels standardized as one block, so the spatial structure stays), holds out a
validation split and lets the strategy search. The winner is the best fully trained candidate, with the weights
it had at its best validation epoch. With ``refit=True`` the last fifth of the budget retrains it from scratch on
all rows for that many epochs (kept only if it finishes in time). ``time_budget`` covers all of it.
"""
from __future__ import annotations

import copy
import json
import os
import re
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forgeml.errors import ConfigError, DataError, ForgeMLError, NotFittedError
from forgeml.nas.base import Candidate, NASSpace, NASStrategy, Problem

INPUT_CLIP = 5.0  # standardized inputs beyond 5 sd carry no more information than 5 sd (as the MLP family)


def parse_image_shape(shape: Any) -> tuple[int, int] | None:
    """``(h, w)``, ``[h, w]`` or ``"HxW"`` as a pair of positive ints; ``None`` stays ``None``."""
    if shape is None:
        return None
    if isinstance(shape, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", shape)
        if not m:
            raise ConfigError(f"image_shape {shape!r} is not HxW (for example 28x28)")
        shape = (int(m.group(1)), int(m.group(2)))
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"image_shape must be (height, width) or 'HxW', got {shape!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"image_shape must be positive, got {shape!r}")
    return h, w


class NASearch(BaseEstimator):
    """Neural architecture search with a scikit-learn interface.

    ``strategy``: one of ``forgeml.nas.NAS_STRATEGIES`` (``"evolution"``, ``"rl"``, ``"darts"``, ``"random"``) or a
    ``NASStrategy`` object.
    ``space``: one of ``NAS_SPACES`` or ``"auto"`` (the cell space for images, the macro space for tables).
    ``epochs``: the (low, full) fidelities of multi-fidelity strategies. ``refit``: retrain the winner on all rows
    (the validation split included) at the end. After ``fit``: ``genotype_`` (the found
    architecture, JSON-serialisable, with its ``space``), ``history_`` (every candidate: fidelity, score, time),
    ``best_score_`` (its validation score, ``metric_name_``) and ``classes_`` for classifiers. ``metric``: what
    classifiers are selected by, ``"accuracy"``, ``"log_loss"`` or ``"auto"`` (accuracy for images, log loss for
    tables); regression always uses R².
    """

    def __init__(self, strategy: str = "evolution", space: str = "auto", time_budget: float = 60.0,
                 image_shape: Any = None, seed: int = 0, epochs: tuple[int, int] = (5, 40),
                 valid_fraction: float = 0.2, refit: bool = False, n_threads: int | None = None,
                 device: str = "auto", task: str | None = None, metric: str = "auto", augment: str = "auto",
                 verbose: int = 0) -> None:
        self.strategy = strategy
        self.space = space
        self.time_budget = time_budget
        self.image_shape = image_shape
        self.seed = seed
        self.epochs = epochs
        self.valid_fraction = valid_fraction
        self.refit = refit
        self.n_threads = n_threads
        self.device = device
        self.task = task
        self.metric = metric
        self.augment = augment
        self.verbose = verbose

    # --- configuration -------------------------------------------------------------------------------------
    def _resolve(self, problem: Problem) -> tuple[NASSpace, Any]:
        from forgeml.nas import NAS_SPACES, NAS_STRATEGIES

        if isinstance(self.strategy, NASStrategy):  # an object: a copy, so one fit never changes the next
            strategy = copy.deepcopy(self.strategy)
        else:
            strategy = NAS_STRATEGIES[self.strategy]()
        name = self.space
        if name == "auto":
            name = "cell" if problem.image_shape is not None and "cell" in NAS_SPACES else "macro"
        space = NAS_SPACES[name]()
        if not space.applies_to(problem):
            raise ConfigError(f"the NAS space {name!r} cannot build networks for this data"
                              + (" (it needs image_shape)" if problem.image_shape is None else ""))
        if strategy.needs_supernet and not hasattr(space, "supernet"):
            able = [n for n in NAS_SPACES if hasattr(NAS_SPACES[n], "supernet")]
            raise ConfigError(f"the {strategy.name!r} strategy needs a space with a continuous relaxation; "
                              f"{name!r} has none; use space= one of {', '.join(able) or '(none installed)'}")
        return space, strategy

    def _check_params(self) -> None:
        if not isinstance(self.time_budget, (int, float)) or not self.time_budget > 0:
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget!r}")
        lo, hi = (int(e) for e in self.epochs)
        if not 1 <= lo <= hi:
            raise ConfigError(f"epochs must be (low, full) with 1 <= low <= full, got {self.epochs!r}")
        if self.metric not in ("auto", "accuracy", "log_loss"):
            raise ConfigError(f"metric must be 'auto', 'accuracy' or 'log_loss', got {self.metric!r}")
        if self.augment not in ("auto", "shift", "none"):
            raise ConfigError(f"augment must be 'auto', 'shift' or 'none', got {self.augment!r}")
        if not 0.05 <= float(self.valid_fraction) <= 0.5:
            raise ConfigError(f"valid_fraction must be in [0.05, 0.5], got {self.valid_fraction!r}")

    # --- data ----------------------------------------------------------------------------------------------
    def _frame(self, X: Any, y: Any, target: str | None) -> tuple[pd.DataFrame, str]:
        if y is None:
            if target is None:
                raise ConfigError("pass fit(X, y) or fit(df, target='column')")
            return X, target
        X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        X = X.rename(columns=str)
        y = np.asarray(y).reshape(-1)
        if len(y) != len(X):
            raise DataError(f"X has {len(X)} rows but y has {len(y)}; pass one label per row")
        name = "target" if "target" not in X.columns else "__target__"
        return X.assign(**{name: y}), name

    def _features(self, df: pd.DataFrame, *, fitting: bool) -> np.ndarray:
        """Model-ready float32 features of a frame already aligned to the schema."""
        X = df.drop(columns=[self.schema_.target], errors="ignore")
        if self.image_shape_ is not None:
            values = X.to_numpy(dtype=np.float64)
            if fitting:
                finite = values[np.isfinite(values)]
                self.pixel_mean_ = float(finite.mean()) if finite.size else 0.0
                self.pixel_scale_ = float(finite.std()) if finite.size and finite.std() > 1e-12 else 1.0
            out = (values - self.pixel_mean_) / self.pixel_scale_
            return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        if fitting:
            from forgeml.features.preprocess import Preprocessor

            self.preprocessor_ = Preprocessor.from_schema(
                self.schema_, {"impute": "median", "indicators": True, "scale": "standard",
                               "cat_encoding": "onehot"}, seed=int(self.seed))
            values = self.preprocessor_.fit_transform(X, self._y_raw).to_numpy(dtype=np.float64)
        else:
            values = self.preprocessor_.transform(X).to_numpy(dtype=np.float64)
        return np.clip(np.nan_to_num(values, nan=0.0), -INPUT_CLIP, INPUT_CLIP).astype(np.float32)

    def _check_image(self, df: pd.DataFrame, shape: tuple[int, int]) -> None:
        cols = [c for c in df.columns if c != self.schema_.target]
        h, w = shape
        if len(cols) % (h * w):
            raise DataError(f"image_shape {h}x{w} needs a multiple of {h * w} pixel columns (one block per "
                            f"channel), but the table has {len(cols)} feature columns")
        bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c].dtype) or pd.api.types.is_bool_dtype(
            df[c].dtype)]
        if bad:
            raise DataError(f"image pixels must be numbers; non-numeric columns: {', '.join(map(str, bad[:5]))}"
                            + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))

    def _encode_target(self, y: pd.Series) -> np.ndarray:
        if self.schema_.task == "regression":
            v = y.to_numpy(dtype=np.float64)
            self.y_mean_, std = float(v.mean()), float(v.std())
            self.y_scale_ = std if std > 1e-12 else 1.0
            return ((v - self.y_mean_) / self.y_scale_).astype(np.float32)
        self.classes_, codes = np.unique(y.to_numpy(), return_inverse=True)
        return codes.astype(np.int64)

    # --- fit -----------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, target: str | None = None) -> NASearch:
        from forgeml.data.infer import infer_schema
        from forgeml.data.validate import align_for_predict, validate_training

        start = time.time()
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self._check_params()
        df, target = self._frame(X, y, target)
        df = validate_training(df, target, task=self.task)
        self.schema_ = infer_schema(df, target, task=self.task)
        self.image_shape_ = parse_image_shape(self.image_shape)
        if self.image_shape_ is not None:
            self._check_image(df, self.image_shape_)
        self._y_raw = df[target]
        yv = self._encode_target(self._y_raw)
        Xv = self._features(align_for_predict(self.schema_, df.drop(columns=[target])), fitting=True)
        del self._y_raw
        problem = Problem(n_features=Xv.shape[1], task=self.schema_.task, image_shape=self.image_shape_,
                          n_outputs=1 if self.schema_.task == "regression" else len(self.classes_),
                          n_rows=len(Xv))
        space, strategy = self._resolve(problem)
        tr, va = self._split(yv)
        deadline = start + float(self.time_budget)
        # refit: a fifth of the budget is kept to retrain the winner on every row; else a small margin to finish
        search_deadline = start + float(self.time_budget) * (0.8 if self.refit else 0.97)
        from forgeml.nas.context import NASContext
        from forgeml.nn.trainer import TORCH_CPU_THREADS, pick_device

        self.n_threads_ = int(self.n_threads or TORCH_CPU_THREADS)  # one, unless asked: nn.trainer says why

        ctx = NASContext(space, problem, Xv[tr], yv[tr], Xv[va], yv[va], deadline=search_deadline,
                         seed=int(self.seed), n_threads=self.n_threads_, device=pick_device(self.device),
                         epochs=tuple(int(e) for e in self.epochs), metric=self._metric(),
                         augment=self._augmentation(Xv, space))
        strategy.search(ctx)
        self._finish(ctx, space, problem, Xv, yv, deadline)
        self.search_seconds_ = time.time() - start
        return self

    def _augmentation(self, X: np.ndarray, space: NASSpace) -> Any:
        """``shift``: images move by up to one pixel in training (the border takes the background, the smallest
        pixel value); ``auto``: so for spaces whose networks see pixels in place (``NASSpace.spatial``: cells,
        attention), not for flat MLPs; ``none``: never. Tables are never augmented."""
        if self.augment == "none" or self.image_shape_ is None or (self.augment == "auto" and not space.spatial):
            return None
        from forgeml.nn.trainer import shift_images

        return shift_images(self.image_shape_, float(X.min()) if X.size else 0.0)

    def _metric(self) -> str:
        """``auto``: accuracy for images, log loss for tables, whose small validation splits make accuracy coarse
        (one row of 50 is 2 points) and whose users judge probabilities (ROC AUC, log loss)."""
        if self.metric != "auto":
            return self.metric
        return "accuracy" if self.image_shape_ is not None else "log_loss"

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(y))
        strat = y if self.schema_.task != "regression" and np.bincount(y).min() >= 2 else None
        tr, va = train_test_split(idx, test_size=float(self.valid_fraction), random_state=int(self.seed),
                                  stratify=strat)
        return np.sort(tr), np.sort(va)

    def _finish(self, ctx: Any, space: NASSpace, problem: Problem, X: np.ndarray, y: np.ndarray,
                deadline: float) -> None:
        """Pick the winner and train the final network on every row, inside the budget."""
        self.history_ = pd.DataFrame([c.record() for c in ctx.history])
        best = ctx.best(trained=True) or ctx.best()
        if best is None:
            errors = sorted({c.error.splitlines()[0] for c in ctx.history if c.error})
            raise ForgeMLError(
                f"NAS found no working network in {len(ctx.history)} candidates"
                + (f" (errors: {'; '.join(errors[:3])})" if errors else " (no time to train one)")
                + "; give it a larger time_budget or a smaller space")
        self.genotype_ = {"space": space.name, **_plain(best.genotype)}
        self.best_score_ = float(best.score)
        self.best_epoch_ = int(best.best_epoch or best.epochs)
        self.problem_ = problem
        weights, self.final_ = best.state_dict, "search weights"
        epochs = max(1, best.best_epoch or best.epochs)
        per_epoch = best.seconds / max(1, best.epochs) * len(X) / max(1, len(ctx.X_train))
        if weights is None or (self.refit and time.time() + 1.3 * per_epoch * epochs < deadline):
            cand = ctx.train_final(best.genotype, X, y, epochs, deadline=deadline)
            if cand.ok and (weights is None or cand.epochs >= 0.8 * epochs):
                weights, self.final_ = cand.state_dict, "retrained on all rows"
        if weights is None:
            raise ForgeMLError("NAS ran out of time before any network finished training; give it a larger "
                               "time_budget")
        self.state_dict_ = weights
        self.architecture_ = json.dumps(self.genotype_, sort_keys=True)

    # --- inspect and save -------------------------------------------------------------------------------------
    @property
    def task_(self) -> str:
        return self.schema_.task

    @property
    def metric_name_(self) -> str:
        """What ``best_score_`` and the history's scores are (on the validation split; higher is better)."""
        if self.schema_.task == "regression":
            return "r2"
        return "accuracy" if self._metric() == "accuracy" else "neg_log_loss"

    def describe(self) -> str:
        """The found architecture in a few readable lines."""
        from forgeml.nas import NAS_SPACES

        params = {k: v for k, v in self.genotype_.items() if k != "space"}
        return NAS_SPACES[self.genotype_["space"]]().describe(params)

    def leaderboard(self) -> pd.DataFrame:
        """Every candidate, best first (failed ones last)."""
        return self.history_.sort_values(["score", "epochs"], ascending=[False, False], na_position="last",
                                         kind="stable").reset_index(drop=True)

    # --- predict -------------------------------------------------------------------------------------------
    def _outputs(self, X: Any) -> np.ndarray:
        if not hasattr(self, "state_dict_"):
            raise NotFittedError("this NASearch is not fitted yet; call fit first")
        from forgeml.data.validate import align_for_predict
        from forgeml.nn.trainer import predict_batches, torch_threads

        df = align_for_predict(self.schema_, X if not isinstance(X, np.ndarray) else
                               pd.DataFrame(X, columns=[c for c in self.schema_.names() if c != self.schema_.target]))
        Xv = self._features(df, fitting=False)
        with torch_threads(self.n_threads_):
            return predict_batches(self.network(), Xv).astype(np.float64)

    def network(self) -> Any:
        """The trained ``torch.nn.Module`` (rebuilt from ``genotype_`` and the stored weights)."""
        module = self.__dict__.get("_module")
        if module is None:
            from forgeml.nas import NAS_SPACES
            from forgeml.nn.trainer import load_numpy_state

            params = {k: v for k, v in self.genotype_.items() if k != "space"}
            module = NAS_SPACES[self.genotype_["space"]]().build(params, self.problem_)
            module = load_numpy_state(module, self.state_dict_)
            module.eval()
            self.__dict__["_module"] = module
        return module

    def predict_proba(self, X: Any) -> np.ndarray:
        if getattr(self, "schema_", None) is not None and self.schema_.task == "regression":
            raise ConfigError("predict_proba is for classification; this search fitted a regressor")
        from forgeml.nn.trainer import softmax

        return softmax(self._outputs(X))

    def predict(self, X: Any) -> np.ndarray:
        out = self._outputs(X)
        if self.schema_.task == "regression":
            return out.reshape(-1) * self.y_scale_ + self.y_mean_
        return self.classes_[np.argmax(out, axis=1)]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_module", None)
        return state


def _plain(genotype: dict[str, Any]) -> dict[str, Any]:
    """JSON-native values (numpy scalars to Python ones)."""
    return json.loads(json.dumps(genotype, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


__all__ = ["NASearch", "Candidate", "parse_image_shape"]
