from __future__ import annotations

import numpy as np
import pytest

from forgeml.data import make_folds
from forgeml.errors import DataError, TargetError


def _check_partition(folds, n):
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(n))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == n


def test_small_regression_gets_five_shuffled_folds():
    y = np.arange(100.0)
    folds = make_folds(y, "regression", n_rows=100, n_cols=5, seed=0)
    assert len(folds) == 5
    _check_partition(folds, 100)
    assert folds[0][1].tolist() != list(range(20))  # shuffled


def test_medium_data_gets_three_folds():
    y = np.arange(50_000) % 2
    assert len(make_folds(y, "binary", n_rows=50_000, n_cols=40, seed=0)) == 3


def test_stratified():
    y = np.array([0] * 90 + [1] * 10)
    for _, te in make_folds(y, "binary", n_rows=100, n_cols=3, seed=1):
        assert y[te].sum() == 2


def test_rare_class_lowers_fold_count():
    y = np.array([0] * 30 + [1] * 30 + [2] * 3)
    folds = make_folds(y, "multiclass", n_rows=63, n_cols=3, seed=0)
    assert len(folds) == 3
    _check_partition(folds, 63)


def test_singleton_class_still_gives_two_folds():
    y = np.array([0] * 20 + [1] * 20 + [2])
    assert len(make_folds(y, "multiclass", n_rows=41, n_cols=2, seed=0)) == 2


def test_many_single_row_classes_are_a_target_error():
    y = np.array([0] * 20 + [1] * 20 + [2, 3, 4, 5])
    with pytest.raises(TargetError, match="4 of 6 target classes have fewer than 2 rows"):
        make_folds(y, "multiclass", n_rows=44, n_cols=2, seed=0)
    assert len(make_folds(y, "regression", n_rows=44, n_cols=2, seed=0)) == 5


def test_large_data_gets_stratified_holdout():
    y = np.array([0] * 800 + [1] * 200)
    folds = make_folds(y, "binary", n_rows=1000, n_cols=2, seed=0, holdout_rows=500)
    assert len(folds) == 1
    tr, te = folds[0]
    assert len(te) == 200 and y[te].sum() == 40 and len(tr) == 800


def test_explicit_folds_and_determinism():
    y = np.arange(60) % 3
    a = make_folds(y, "multiclass", n_rows=60, n_cols=2, seed=7, n_folds=4)
    b = make_folds(y, "multiclass", n_rows=60, n_cols=2, seed=7, n_folds=4)
    c = make_folds(y, "multiclass", n_rows=60, n_cols=2, seed=8, n_folds=4)
    assert len(a) == 4
    assert all(np.array_equal(x[1], z[1]) for x, z in zip(a, b))
    assert not all(np.array_equal(x[1], z[1]) for x, z in zip(a, c))


def test_too_few_rows():
    with pytest.raises(DataError, match="at least 2 rows"):
        make_folds(np.array([1.0]), "regression", n_rows=1, n_cols=1, seed=0)


def test_many_classes_count_as_more_work():
    """Boosting grows a tree per class: 30 classes on 7,500 x 20 cost each model what 4.5M binary cells do."""
    many = np.arange(7_500) % 30
    assert len(make_folds(many, "multiclass", n_rows=7_500, n_cols=20, seed=0)) == 3
    assert len(make_folds(many % 3, "multiclass", n_rows=7_500, n_cols=20, seed=0)) == 5
    assert len(make_folds(many % 2, "binary", n_rows=7_500, n_cols=20, seed=0)) == 5
    assert len(make_folds(many.astype(float), "regression", n_rows=7_500, n_cols=20, seed=0)) == 5
