"""Validation plans: which rows train and which rows score each fold.

Small data gets 5 folds (every row scored once, low variance), medium data 3 folds, large data one
stratified 20% holdout, as FLAML does. Size is rows x columns, times the number of classes for a multiclass
target: boosting grows a tree per class each round and forests weigh every class at every split, so a
30-class table of 7,500 x 20 costs each model what a 4,500,000-cell binary table does. Held to 5 folds there,
a 60 s run gave its best family (a network) under 6 s for all five fits, stopped by its deadline (test log loss
0.953); with 3 folds it trained to the end (0.731). Classification folds are stratified; a rare class lowers
the number of folds (never below 2). The same seed always gives the same folds.
"""
from __future__ import annotations

import warnings

import numpy as np

from forgeml.errors import DataError, TargetError

SMALL_CELLS = 1_000_000  # rows * cols (* classes above 2) at or below which 5 folds are used
HOLDOUT_FRAC = 0.2
MAX_RARE_CLASSES = 3  # single-row target classes tolerated (validate_training warns) before it is an error


def n_folds_for(n_rows: int, n_cols: int, holdout_rows: int = 100_000, n_classes: int = 0) -> int:
    """Default number of folds for a table of this size (1 means a single holdout); ``n_classes`` above 2 weighs
    the cells by the classes (see the module docstring)."""
    if n_rows > holdout_rows:
        return 1
    work = n_rows * max(1, n_cols) * (n_classes if n_classes > 2 else 1)
    return 5 if work <= SMALL_CELLS else 3


def make_folds(y: np.ndarray, task: str, *, n_rows: int, n_cols: int, seed: int,
               n_folds: int | None = None, holdout_rows: int = 100_000) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_idx, valid_idx)`` pairs of integer positions into ``y``.

    ``n_folds=1`` (or more than ``holdout_rows`` rows when ``n_folds`` is None) gives one holdout split.
    """
    from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit

    y = np.asarray(y)
    n = len(y)
    if n < 2:
        raise DataError(f"need at least 2 rows to validate a model, got {n}")
    classify = task in ("binary", "multiclass")
    labels, counts = np.unique(y, return_counts=True) if classify else (None, None)
    n_classes = len(labels) if task == "multiclass" else 0
    k = n_folds_for(n_rows, n_cols, holdout_rows, n_classes) if n_folds is None else int(n_folds)
    if k < 1:
        raise DataError(f"n_folds must be >= 1, got {n_folds}")
    if classify:
        _check_classes(labels, counts)
    dummy = np.zeros((n, 1))
    if k == 1:
        n_test = max(1, int(round(HOLDOUT_FRAC * n)))
        if classify:
            if counts.min() >= 2 and n_test >= len(counts) and n - n_test >= len(counts):
                split = StratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
                return [(tr, te) for tr, te in split.split(dummy, y)]
        split = ShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
        return [(tr, te) for tr, te in split.split(dummy)]
    k = min(k, n)
    if classify:
        k = max(2, min(k, int(counts.min())))
        with warnings.catch_warnings():  # a singleton class is warned about once, in validate_training
            warnings.simplefilter("ignore", UserWarning)
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            return [(tr, te) for tr, te in cv.split(dummy, y)]
    cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(dummy)]


def _check_classes(labels: np.ndarray, counts: np.ndarray) -> None:
    """Many classes with a single row (never both trained on and scored): say so here, not as a budget that no
    trial finished in (``validate_training`` names the labels; this catches a classification task
    chosen for a target it inferred as numeric)."""
    rare = labels[counts < 2]
    if len(rare) > MAX_RARE_CLASSES:
        shown = ", ".join(str(v) for v in rare[:5]) + (", ..." if len(rare) > 5 else "")
        raise TargetError(f"{len(rare)} of {len(labels)} target classes have fewer than 2 rows (class codes {shown}): "
                          "cross-validation can neither train on nor score them. Merge rare classes into larger ones "
                          "or drop their rows, or fit a regression if the target is numeric")
