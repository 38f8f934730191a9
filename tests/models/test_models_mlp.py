"""The PyTorch MLP estimators and the shared training loop in ``forgeml.nn``."""
from __future__ import annotations

import pickle
import sys
import time

import numpy as np
import pytest

from forgeml.errors import NotFittedError
from forgeml.models import FAMILIES
from forgeml.models.base import FitContext
from forgeml.nn import TorchMLPClassifier, TorchMLPRegressor, build_mlp, train_module
from forgeml.testing.check_model_family import synthetic_data


def _data(task: str, n: int = 400, seed: int = 0):
    X, y = synthetic_data(task, n, seed=seed)
    return X.to_numpy(), y


def test_mlp_learns_a_simple_signal():
    X, y = _data("binary", 600)
    clf = TorchMLPClassifier(hidden_sizes=(64, 64), epochs=40, batch_size=64, lr=3e-3).fit(X[:400], y[:400])
    assert (clf.predict(X[400:]) == y[400:]).mean() > 0.85
    Xr, yr = _data("regression", 600)
    reg = TorchMLPRegressor(hidden_sizes=(64,), epochs=60, batch_size=64, lr=3e-3).fit(Xr[:400], yr[:400])
    rmse = np.sqrt(np.mean((reg.predict(Xr[400:]) - yr[400:]) ** 2))
    assert rmse < 0.5 * yr.std()  # the target is around 1000 with sd ~110: standardization must be undone


def test_inputs_far_outside_the_training_range_are_clipped():
    # a network extrapolates linearly: unclipped, one absurd value (a unit error, a rare 0/1 column at 17 standard
    # deviations) drives the softmax to certainty or a regression far off the scale of the target
    X, y = _data("binary", 300)
    clf = TorchMLPClassifier(hidden_sizes=(32,), epochs=20, random_state=0).fit(X, y)
    far = np.repeat(X[:1], 3, axis=0)
    far[:, 0] = X[:, 0].mean() + X[:, 0].std() * np.array([5.0, 1e3, 1e9])
    p = clf.predict_proba(far)
    assert np.allclose(p[0], p[1]) and np.allclose(p[0], p[2])
    Xr, yr = _data("regression", 300)
    reg = TorchMLPRegressor(hidden_sizes=(32,), epochs=20, random_state=0).fit(Xr, yr)
    far = np.repeat(Xr[:1], 2, axis=0)
    far[:, 0] = [1e6, 1e12]
    out = reg.predict(far)
    assert np.isfinite(out).all() and out[0] == pytest.approx(out[1])
    del reg.x_clip_  # as a network pickled before the clip: it predicts as it was fitted, unclipped
    assert reg.predict(far)[0] != pytest.approx(reg.predict(far)[1])


def test_mlp_honours_the_deadline():
    import torch  # noqa: F401  (a first import can take seconds on a busy machine: keep it out of the timing)

    X, y = _data("multiclass", 2000)
    ctx = FitContext(task="multiclass", n_rows=2000, n_features=X.shape[1], n_classes=3, deadline=time.time() + 1.0)
    family = FAMILIES["mlp"]()
    params = {**family.defaults(ctx)[0], "epochs": 300, "batch_size": 64}
    est = family.build(params, ctx)
    est.set_params(patience=10_000)  # only the deadline may stop it
    t0 = time.time()
    est.fit(X, y)
    assert time.time() - t0 < 4.0
    assert est.stopped_ == "deadline" and 1 <= est.n_epochs_ < 300
    assert np.isfinite(est.predict_proba(X)).all()


def test_a_past_deadline_still_takes_one_step():
    X, y = _data("binary", 200)
    est = TorchMLPClassifier(epochs=50, deadline=time.time() - 10).fit(X, y)
    assert est.stopped_ == "deadline" and est.n_epochs_ <= 1
    assert np.allclose(est.predict_proba(X).sum(axis=1), 1.0)


def test_early_stopping_restores_the_best_epoch_on_noise():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.normal(size=300)
    est = TorchMLPRegressor(hidden_sizes=(128, 128), epochs=200, patience=3, lr=1e-2, valid_fraction=0.2).fit(X, y)
    assert est.stopped_ == "early_stopping"
    assert est.n_epochs_ == est.best_epoch_ + 3 < 200
    assert min(est.history_) == est.history_[est.best_epoch_ - 1]


def test_fitted_mlp_pickles_without_tensors_and_predicts_the_same():
    X, y = _data("binary", 200)
    est = TorchMLPClassifier(epochs=5).fit(X, y)
    before = est.predict_proba(X)
    assert all(isinstance(v, np.ndarray) for v in est.state_dict_.values())
    loaded = pickle.loads(pickle.dumps(est))
    assert "_module" not in loaded.__dict__
    assert np.array_equal(loaded.predict_proba(X), before)


def test_mlp_rejects_nan_and_unfitted_use():
    X, y = _data("binary", 50)
    with pytest.raises(NotFittedError):
        TorchMLPClassifier().predict(X)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TorchMLPClassifier(epochs=1).fit(X, y)


def test_train_module_without_validation_runs_every_epoch():
    X, y = _data("regression", 100)
    y = (y - y.mean()) / y.std()
    module = build_mlp(X.shape[1], 1, (16,))
    res = train_module(module, X, y, loss="mse", epochs=7, batch_size=32, lr=1e-2)
    assert res.stopped == "epochs" and res.epochs == res.best_epoch == 7 and len(res.history) == 7
    assert res.history[-1] < res.history[0]


def test_importing_forgeml_nn_does_not_import_torch_by_itself():
    import subprocess

    code = "import sys, forgeml.nn, forgeml.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_training_on_from_good_weights_never_returns_worse_ones():
    from forgeml.nn.trainer import load_numpy_state

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    Xv, yv = X[300:], y[300:]
    net = build_mlp(4, 2, (16,))
    good = train_module(net, X[:300], y[:300], loss="cross_entropy", lr=1e-2, epochs=40, X_valid=Xv, y_valid=yv)

    def valid_loss(state):
        import torch

        m = load_numpy_state(build_mlp(4, 2, (16,)), state)
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(m(torch.from_numpy(Xv)), torch.from_numpy(yv)))

    start = valid_loss(good.state_dict)
    # a learning rate this large wrecks the weights in the first epoch
    for score_initial, expect_kept in ((True, True), (False, False)):
        net = load_numpy_state(build_mlp(4, 2, (16,)), good.state_dict)
        on = train_module(net, X[:300], y[:300], loss="cross_entropy", lr=50.0, epochs=3, X_valid=Xv, y_valid=yv,
                          score_initial=score_initial)
        after = valid_loss(on.state_dict)
        assert (after <= start + 1e-6) == expect_kept, (score_initial, start, after)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaling_in_place_leaves_the_callers_rows_alone_and_matches_the_formula(dtype):
    """The network's inputs are scaled in the estimator's own float32 copies (memory): the caller's array must come
    out untouched, whatever its type, and the scaled rows equal ``clip((X - mean) / scale)`` to the bit."""
    X, y = _data("binary", 300)
    X = X.astype(dtype)
    X[:5, 0] = X[:, 0].mean() + 1e4 * X[:, 0].std()  # beyond the clip
    kept = X.copy()
    clf = TorchMLPClassifier(hidden_sizes=(16,), epochs=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, kept)
    p = clf.predict_proba(X)
    np.testing.assert_array_equal(X, kept)
    X32 = X.astype(np.float32)
    expected = np.clip((X32 - clf.x_mean_) / clf.x_scale_, -clf.x_clip_, clf.x_clip_)
    np.testing.assert_array_equal(clf._inputs(X, fitting=False), expected)
    assert np.abs(expected[:5, 0]).max() == clf.x_clip_
    np.testing.assert_array_equal(clf.predict_proba(X32), p)  # float32 input: the same predictions
    np.testing.assert_array_equal(X32, X.astype(np.float32))


def test_training_on_rows_of_a_matrix_equals_training_on_a_copy_of_them():
    """``train_module(rows=)`` reads the training rows where they are (no copy of a large input): the batches, and
    so the trained weights, must be those of training on the rows copied out."""
    import torch

    X, y = _data("binary", 500)
    X = X.astype(np.float32)
    rows = np.sort(np.random.default_rng(3).choice(500, 350, replace=False))

    def train(**kw):
        torch.manual_seed(0)
        module = build_mlp(X.shape[1], 2, hidden_sizes=(16,))
        return train_module(module, loss="cross_entropy", epochs=4, batch_size=64, seed=1, **kw)

    copied = train(X=X[rows], y=y[rows])
    in_place = train(X=X, y=y[rows], rows=rows)
    assert copied.history == in_place.history and len(copied.history) == 4
    for name, value in copied.state_dict.items():
        np.testing.assert_array_equal(value, in_place.state_dict[name])
