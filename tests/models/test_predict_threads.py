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
