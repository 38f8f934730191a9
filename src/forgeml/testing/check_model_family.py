"""The conformance battery every model family must pass (our tests run it over ``FAMILIES``; plug-in authors can
run it on their own family).

It checks the contract the rest of forgeml relies on: spaces sample and validate, defaults are complete valid
assignments, ``build`` gives a clone-able estimator whose parameters round-trip and whose thread counts respect the
context, fitting on small synthetic data (NaN and ``category`` columns only when the capabilities promise to handle
them) gives well-formed predictions, the same seed gives the same model, a pickled model predicts the same,
``continue_from`` (if offered) trains on without touching the model it continues, and a family that declares
``Capabilities.sample_weight`` takes ``fit(X, y, sample_weight=w)`` and follows the weights.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd

from forgeml.models.base import Capabilities, FitContext, ModelFamily
from forgeml.space import Int, SearchSpace

_THREAD_PARAMS = ("n_jobs", "nthread", "thread_count", "n_threads")
_N_CLASSES = {"binary": 2, "multiclass": 3, "regression": 0}


def synthetic_data(task: str, n_rows: int, *, n_features: int = 5, missing: bool = False,
                   categorical: bool = False, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A small table in the model input contract: float64 columns, plus (when asked) a ``category`` column with
    integer categories and NaN in some cells; ``y`` integer-coded 0..k-1 (every class present) or float."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n_rows, n_features)), columns=[f"x{i}" for i in range(n_features)])
    signal = X["x0"].to_numpy() + 0.5 * X["x1"].to_numpy()
    if categorical:
        codes = rng.integers(0, 4, n_rows)
        signal = signal + np.where(codes == 2, 1.5, 0.0)
        cat = pd.Series(pd.Categorical(codes, categories=[0, 1, 2, 3]))
        if missing:
            cat[rng.random(n_rows) < 0.1] = np.nan
        X["cat"] = cat
    if missing:
        X.loc[rng.random(n_rows) < 0.15, "x1"] = np.nan
        X.loc[rng.random(n_rows) < 0.05, "x2"] = np.nan
    k = _N_CLASSES[task]
    if k == 0:
        return X, (100.0 * signal + 1000.0 + rng.normal(scale=10.0, size=n_rows)).astype(float)
    cuts = np.quantile(signal, np.linspace(0, 1, k + 1)[1:-1])
    y = np.searchsorted(cuts, signal).astype(np.int64)
    y[:k] = np.arange(k)  # every class present even in tiny samples
    return X, y


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "get_params") and hasattr(b, "get_params"):
        return type(a) is type(b) and _same_params(a.get_params(deep=False), b.get_params(deep=False))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # arrays and other values without a boolean ==
        return repr(a) == repr(b)


def _same_params(p: dict[str, Any], q: dict[str, Any]) -> bool:
    return p.keys() == q.keys() and all(_same(p[k], q[k]) for k in p)


def _predictions(est: Any, X: pd.DataFrame, k: int) -> np.ndarray:
    return np.asarray(est.predict_proba(X) if k else est.predict(X), dtype=float)


def _check_predictions(est: Any, X: pd.DataFrame, k: int, where: str) -> np.ndarray:
    pred = _predictions(est, X, k)
    assert np.all(np.isfinite(pred)), f"{where}: predictions contain NaN or inf"
    if k == 0:
        assert pred.shape == (len(X),), f"{where}: predict gave shape {pred.shape}, expected ({len(X)},)"
        return pred
    assert pred.shape == (len(X), k), f"{where}: predict_proba gave shape {pred.shape}, expected ({len(X)}, {k})"
    assert np.all(pred >= -1e-9) and np.all(pred <= 1 + 1e-9), f"{where}: probabilities outside [0, 1]"
    assert np.allclose(pred.sum(axis=1), 1.0, atol=1e-5), f"{where}: probabilities do not sum to 1"
    classes = np.asarray(est.classes_)
    assert np.array_equal(classes, np.arange(k)), f"{where}: classes_ is {classes}, expected 0..{k - 1}"
    labels = np.asarray(est.predict(X))
    assert labels.shape == (len(X),) and np.isin(labels, classes).all(), f"{where}: predict gave bad labels"
    return pred


def _check_threads(est: Any, ctx: FitContext, where: str) -> None:
    for key, value in est.get_params(deep=True).items():
        if key.rsplit("__", 1)[-1] in _THREAD_PARAMS and value is not None:
            assert 1 <= int(value) <= ctx.n_threads, \
                f"{where}: {key}={value} does not respect ctx.n_threads={ctx.n_threads}"


def _cheap(params: dict[str, Any], space: SearchSpace, caps: Capabilities, iterations: int) -> dict[str, Any]:
    """Cap the iterative parameter as a low fidelity would, to keep the battery fast."""
    it = caps.iterative_param
    if it and it in params:
        params = {**params, it: min(params[it], max(iterations, space[it].low))}
    return params


def check_model_family(family: ModelFamily, task: str, *, n_rows: int = 120, n_features: int = 5,
                       n_samples: int = 3, seed: int = 0, iterations: int = 8, n_threads: int = 1) -> int:
    """Run the battery on ``family`` for ``task``; raise ``AssertionError`` naming the first broken promise.

    ``iterations`` caps the iterative parameter of every fitted configuration. Returns how many configurations were
    fitted (all defaults plus ``n_samples`` random ones).
    """
    from sklearn.base import clone

    caps = family.capabilities
    name = family.name or type(family).__name__
    assert isinstance(family.name, str) and family.name, f"{type(family).__name__} has no name"
    assert isinstance(caps, Capabilities), f"{name}: capabilities must be a Capabilities"
    assert task in caps.tasks, f"{name} does not support task {task!r} (tasks: {caps.tasks})"
    k = _N_CLASSES[task]
    ctx = FitContext(task=task, n_rows=n_rows, n_features=n_features + caps.native_categorical, n_classes=k,
                     seed=seed, n_threads=n_threads)

    space = family.space(ctx)
    assert isinstance(space, SearchSpace), f"{name}: space() must return a SearchSpace"
    assert list(SearchSpace.from_json(space.to_json())) == list(space), f"{name}: space does not survive JSON"
    if caps.iterative_param is not None:
        assert isinstance(space.get(caps.iterative_param), Int), \
            f"{name}: iterative_param {caps.iterative_param!r} must be an Int parameter of the space"
    rng = np.random.default_rng(seed)
    samples = [dict(space.validate(space.sample(rng))) for _ in range(n_samples)]
    defaults = family.defaults(ctx)
    assert defaults, f"{name}: defaults() is empty"
    for i, d in enumerate(defaults):
        try:
            space.validate(d)
        except Exception as exc:
            raise AssertionError(f"{name}: default #{i} {d} is not a valid assignment of the space: {exc}") from exc

    X, y = synthetic_data(task, n_rows + 40, n_features=n_features, missing=caps.handles_missing,
                          categorical=caps.native_categorical, seed=seed)
    X_train, y_train, X_test = X.iloc[:n_rows], y[:n_rows], X.iloc[n_rows:]
    configs = [("default", i, d) for i, d in enumerate(defaults)] + [("sample", i, s) for i, s in enumerate(samples)]
    for kind, i, cfg in configs:
        where = f"{name}/{task} {kind} #{i} {cfg}"
        params = _cheap(dict(cfg), space, caps, iterations)
        est = family.build(params, ctx)
        p = est.get_params(deep=False)
        assert _same_params(type(est)(**p).get_params(deep=False), p), f"{where}: get_params does not round-trip"
        twin = clone(est)
        assert type(twin) is type(est) and _same_params(twin.get_params(deep=False), p), f"{where}: clone differs"
        _check_threads(est, ctx, where)
        fitted = est.fit(X_train, y_train)
        assert fitted is est, f"{where}: fit must return self"
        pred = _check_predictions(est, X_test, k, where)
        _check_predictions(est, X_test.iloc[:1], k, where + " (one row)")
        if i == 0:  # the first default and the first sample: determinism and pickling
            again = _predictions(twin.fit(X_train, y_train), X_test, k)
            assert np.allclose(pred, again, rtol=1e-6, atol=1e-9), f"{where}: not deterministic for a fixed seed"
            loaded = pickle.loads(pickle.dumps(est))
            assert np.array_equal(_predictions(loaded, X_test, k), pred), f"{where}: pickle changes predictions"
        if kind == "default" and i == 0:
            _check_continuation(family, est, params, ctx, X_train, y_train, X_test, k, pred, where)
            if caps.sample_weight:
                _check_sample_weight(family, params, ctx, X_train, y_train, X_test, k, where)
    return len(configs)


def _check_sample_weight(family: ModelFamily, params: dict[str, Any], ctx: FitContext, X: pd.DataFrame,
                         y: np.ndarray, X_test: pd.DataFrame, k: int, where: str) -> None:
    """A family declaring ``sample_weight`` fits with weights and follows them: trained on the rows twice, the
    second copy with wrong targets but weight 0, it predicts like a model trained on the clean rows only (at
    most 3/4 of the distance of the same model trained without the weights)."""
    wrong = (y + 1) % k if k else y + 5.0 * float(np.std(y))
    X2, y2 = pd.concat([X, X], ignore_index=True), np.concatenate([y, wrong])
    w = np.r_[np.ones(len(y)), np.zeros(len(y))]
    clean = _predictions(family.build(params, ctx).fit(X, y), X_test, k)
    weighted = family.build(params, ctx)
    try:
        fitted = weighted.fit(X2, y2, sample_weight=w)
    except TypeError as exc:
        raise AssertionError(f"{where}: declares sample_weight but fit does not take it: {exc}") from exc
    assert fitted is weighted, f"{where}: fit with sample_weight must return self"
    pred = _check_predictions(weighted, X_test, k, where + " (weighted)")
    ignored = _predictions(family.build(params, ctx).fit(X2, y2), X_test, k)
    d_weighted, d_ignored = float(np.mean(np.abs(pred - clean))), float(np.mean(np.abs(ignored - clean)))
    # bagged and randomised models (forests, CatBoost) draw other random numbers on twice the rows: not exact
    assert d_weighted < 0.75 * d_ignored, (
        f"{where}: rows of weight 0 still shape the model (distance to the clean fit {d_weighted:.3g} with weights, "
        f"{d_ignored:.3g} without); does fit pass sample_weight to the model?")


def _check_continuation(family: ModelFamily, fitted: Any, params: dict[str, Any], ctx: FitContext,
                        X: pd.DataFrame, y: np.ndarray, X_test: pd.DataFrame, k: int, before: np.ndarray,
                        where: str) -> None:
    """``continue_from`` (when a family offers it) trains on from ``fitted`` and leaves ``fitted`` as it was."""
    it = family.capabilities.iterative_param
    more = family.continue_from(fitted, params, ctx) if it else None
    if more is None:
        return
    assert more is not fitted, f"{where}: continue_from must return a new estimator, not modify the fitted one"
    assert more.fit(X, y) is more, f"{where}: fit of a continued estimator must return self"
    _check_predictions(more, X_test, k, where + " (continued)")
    assert np.array_equal(_predictions(fitted, X_test, k), before), \
        f"{where}: continue_from changed the predictions of the model it continued from"
    loaded = pickle.loads(pickle.dumps(more))
    assert np.array_equal(_predictions(loaded, X_test, k), _predictions(more, X_test, k)), \
        f"{where}: pickle changes the predictions of a continued model"
