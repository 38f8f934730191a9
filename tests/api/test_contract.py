"""Focused tests for the scikit-learn contract of AutoML / AutoClassifier / AutoRegressor (issue 15): each names
one behaviour scikit-learn users rely on, independently of sklearn's own check battery."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.exceptions
from scipy import sparse

from forgeml import AutoClassifier, AutoML, AutoRegressor
from forgeml.errors import (
    DataError,
    ForgeMLError,
    NotFittedError,
    SchemaMismatchError,
    TargetError,
    TaskMismatchError,
    UnsupportedValueError,
)

FAST = {"time_budget": 60, "max_trials": 2, "n_jobs": 1, "verbose": 0, "families": ["linear"], "seed": 0}
RNG = np.random.RandomState(0)
X4 = RNG.normal(size=(60, 4))
Y_CLASS = (X4[:, 0] + X4[:, 1] > 0).astype(int)
Y_NUM = X4 @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * RNG.normal(size=60)


@pytest.fixture(scope="module")
def clf() -> AutoClassifier:
    return AutoClassifier(**FAST).fit(X4.tolist(), Y_CLASS)  # a list of rows, as sklearn users pass


@pytest.fixture(scope="module")
def reg() -> AutoRegressor:
    return AutoRegressor(**FAST).fit(sparse.csr_matrix(X4), Y_NUM)


# ------------------------------------------------------------------------------------------- not fitted
def test_not_fitted_error_is_sklearns_and_forgemls():
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError)
    assert issubclass(NotFittedError, ForgeMLError)
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted"):
        AutoClassifier().predict(X4)


# ------------------------------------------------------------------------------------- input at the edge
def test_list_of_rows_fits_and_predicts_like_an_array(clf):
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict(X4[:10].tolist()), clf.predict(X4[:10]))
    assert (clf.predict(X4) == Y_CLASS).mean() > 0.9


def test_sparse_input_fits_and_predicts_like_dense(reg):
    np.testing.assert_allclose(reg.predict(sparse.csr_array(X4[:10])), reg.predict(X4[:10]))
    assert reg.score(X4, Y_NUM) > 0.9


@pytest.mark.parametrize("width", [2, 5])
def test_predict_checks_the_number_of_features(clf, width):
    X = RNG.normal(size=(3, width))
    for bad in (X, X.tolist(), sparse.csr_matrix(X)):
        with pytest.raises(SchemaMismatchError, match=f"X has {width} features, but AutoClassifier is "
                                                      "expecting 4 features"):
            clf.predict(bad)
    with pytest.raises(SchemaMismatchError, match="expecting 4 features"):
        clf.predict_proba(X)
    with pytest.raises(SchemaMismatchError, match="expecting 4 features"):
        clf.score(X, [0, 1, 0][:len(X)])


def test_predict_on_one_dimensional_input_says_reshape(clf):
    with pytest.raises(DataError, match="Reshape your data"):
        clf.predict(X4[0])


def test_complex_input_is_refused_at_fit_and_predict(clf):
    Xc = X4 + 1j
    with pytest.raises(DataError, match="Complex data not supported"):
        AutoRegressor(**FAST).fit(Xc, Y_NUM)
    with pytest.raises(TargetError, match="Complex data not supported"):
        AutoRegressor(**FAST).fit(X4, Y_NUM + 1j)
    with pytest.raises(DataError, match="Complex data not supported"):
        clf.predict(Xc)


def test_nested_cells_are_a_type_error():
    X = X4.astype(object)
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be a string or a number") as info:
        AutoClassifier(**FAST).fit(X, Y_CLASS)
    assert isinstance(info.value, UnsupportedValueError)


def test_empty_feature_set_and_single_sample_are_named():
    with pytest.raises(DataError, match=r"0 feature\(s\) \(shape=\(12, 0\)\)"):
        AutoRegressor(**FAST).fit(np.empty((12, 0)), np.arange(12.0))
    with pytest.raises(DataError, match="1 sample"):
        AutoRegressor(**FAST).fit(X4[:1], Y_NUM[:1])


# ----------------------------------------------------------------------------------------------- target
@pytest.mark.parametrize("est", [AutoClassifier(**FAST), AutoML(task="classification", **FAST)])
def test_continuous_target_for_a_classifier_points_to_the_regressor(est):
    with pytest.raises(TargetError, match="Unknown label type.*AutoRegressor") as info:
        est.fit(X4, Y_NUM)
    assert isinstance(info.value, ValueError)


def test_integral_float_labels_are_still_classes():
    with pytest.raises(TargetError, match="only one class"):  # reaches the class-count check, not "continuous"
        AutoClassifier(**FAST).fit(X4, np.ones(60))


def test_missing_y_says_y_is_required():
    with pytest.raises(TargetError, match="requires y to be passed, but the target y is None"):
        AutoRegressor(**FAST).fit(X4)


def test_column_vector_y_warns_like_sklearn():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AutoClassifier(**FAST).fit(X4, Y_CLASS[:, None])
    assert any(issubclass(w.category, sklearn.exceptions.DataConversionWarning)
               and "column-vector y" in str(w.message) for w in caught)


# ----------------------------------------------------------------------------------------- predict_proba
def test_predict_proba_exists_only_where_it_applies(clf, reg):
    assert not hasattr(AutoRegressor(), "predict_proba")
    assert not hasattr(reg, "predict_proba")
    assert hasattr(AutoClassifier(), "predict_proba")
    assert clf.predict_proba(X4[:5]).shape == (5, 2)


def test_predict_proba_of_automl_fit_for_regression_is_a_clear_error():
    model = AutoML(**FAST).fit(X4, Y_NUM)
    assert model.task_ == "regression"
    with pytest.raises(TaskMismatchError, match="regression.*use predict") as info:
        model.predict_proba(X4[:3])
    assert isinstance(info.value, AttributeError) and isinstance(info.value, ForgeMLError)
