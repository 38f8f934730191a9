"""Fitted on one thread, predicting large batches on the free cores: same predictions, thread settings restored."""
import json

import numpy as np
import pytest
import torch

from forgeml._threads import ROWS_PER_THREAD, available_cores, predict_threads


def _data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    return X, y


def test_small_batches_use_one_thread_large_ones_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert predict_threads(1) == predict_threads(ROWS_PER_THREAD - 1) == 1
    assert predict_threads(10_000) == min(available_cores(), 10_000 // ROWS_PER_THREAD)
    assert predict_threads(10**9) == available_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what forgeml's workers (and a careful user) set
    assert available_cores() == 1 and predict_threads(10**6) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert predict_threads(10**9) >= 1


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_boosters_predict_a_large_batch_exactly_as_row_by_row_chunks(library):
    if library == "lightgbm":
        from forgeml.models._lgbm import LGBMClassifier as C
        from forgeml.models._lgbm import LGBMRegressor as R
    elif library == "xgboost":
        from forgeml.models._xgb import XGBClassifier as C
        from forgeml.models._xgb import XGBRegressor as R
    else:
        from forgeml.models.catboost import CatBoostClassifier as C
        from forgeml.models.catboost import CatBoostRegressor as R
    X, y = _data()
    big = np.vstack([X, X])  # 12,000 rows: several threads where the machine has them
    opts = {"lightgbm": {"n_estimators": 30, "n_jobs": 1, "verbose": -1}, "xgboost": {"n_estimators": 30, "n_jobs": 1},
            "catboost": {"iterations": 30, "thread_count": 1}}[library]
    for est, method in ((C(**opts), "predict_proba"), (R(**opts), "predict")):
        est.fit(X, y)
        whole = getattr(est, method)(big)
        chunks = np.concatenate([getattr(est, method)(big[i:i + 500]) for i in range(0, len(big), 500)])
        np.testing.assert_allclose(whole, chunks, rtol=0, atol=1e-12)
        if library == "xgboost":  # the booster is back on the thread it was fitted with
            assert json.loads(est.get_booster().save_config())["learner"]["generic_param"]["nthread"] == "1"
    assert not hasattr(R(), "predict_proba")  # regressors gained no probabilities


def test_torch_mlp_predicts_a_large_batch_exactly_and_restores_torch_threads():
    from forgeml.nn.estimator import TorchMLPClassifier

    X, y = _data(n=3000)
    est = TorchMLPClassifier(epochs=3, n_threads=1, random_state=0).fit(X, y)
    before = torch.get_num_threads()
    big = np.vstack([X] * 4)
    whole = est.predict_proba(big)
    chunks = np.concatenate([est.predict_proba(big[i:i + 1000]) for i in range(0, len(big), 1000)])
    np.testing.assert_allclose(whole, chunks, rtol=1e-5, atol=1e-6)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("weights,p", [("uniform", 2), ("distance", 1)])
def test_knn_queries_a_large_batch_over_the_cores_exactly(weights, p, monkeypatch):
    """A tree search (fitted on one thread) splits a large batch's rows over threads: every row's neighbours and
    so its prediction are the one-thread query's, exact matches (zero distances) included."""
    from forgeml._threads import in_row_blocks
    from forgeml.models import knn
    from forgeml.models.knn import KNNClassifier, KNNRegressor

    X, y = _data(3000)
    rng = np.random.default_rng(1)
    big = rng.normal(size=(3 * ROWS_PER_THREAD + 11, 6))
    big[::5] = X[rng.integers(0, len(X), len(big[::5]))]  # rows equal to training rows
    calls = []
    monkeypatch.setattr(knn, "in_row_blocks", lambda call, X, threads: calls.append(threads) or in_row_blocks(
        call, X, threads))
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 3)
    clf = KNNClassifier(n_neighbors=7, weights=weights, p=p).fit(X, y)
    reg = KNNRegressor(n_neighbors=7, weights=weights, p=p).fit(X, X[:, 0] * 2 + y)
    assert clf.model_._fit_method != "brute"  # six columns: a tree
    for model, call in ((clf, clf.predict_proba), (clf, clf.predict), (reg, reg.predict)):
        own = getattr(model.model_, call.__name__)(big)
        got = call(big)
        assert got.shape == own.shape and np.array_equal(got, own)
    assert calls == [3, 3, 3]
    clf.predict_proba(big[:ROWS_PER_THREAD])  # one thread's worth: the query as it is
    assert calls == [3, 3, 3]
