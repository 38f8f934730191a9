"""The predict path shares the outputs of identically fitted preprocessing between ensemble members: the
predictions are exactly those of predicting each member on its own, and only identical fitted steps are shared."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from forgeml.data.infer import infer_schema
from forgeml.data.validate import align_for_predict
from forgeml.features.preprocess import Preprocessor
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.pipeline.fitted import FittedPipeline, StepCache, predict_matrix
from forgeml.pipeline.pipe import ForgePipeline


def _data(n=300, seed=0, regression=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2.0, size=n), "c": rng.choice(["u", "v", "w"], n),
                       "d": rng.choice([True, False], n)})
    df.loc[rng.choice(n, 20, replace=False), "a"] = np.nan
    signal = df.a.fillna(0) + (df.c == "u") - 0.5 * df.b + rng.normal(scale=0.3, size=n)
    df["y"] = np.exp(signal / 3) if regression else np.where(signal > 0, "yes", "no")
    return df


def _pipe(schema, params, model, target_transform="none"):
    return ForgePipeline([("prep", Preprocessor.from_schema(schema, params, seed=0)), ("model", model)],
                         target_transform=target_transform)


def _members(df, schema, regression):
    X, y = df.drop(columns=["y"]), (df["y"].to_numpy() if regression else encode_target(df, schema))
    tree = DecisionTreeRegressor if regression else DecisionTreeClassifier
    linear = (lambda: Ridge()) if regression else (lambda: LogisticRegression(max_iter=500))
    tt = "log1p" if regression else "none"
    scaled = {"scale": "standard", "indicators": True}
    members = [
        _pipe(schema, scaled, linear(), tt).fit(X, y),  # these two are fitted identically up to the model:
        _pipe(schema, scaled, tree(max_depth=3, random_state=0), tt).fit(X, y),  # they share the preprocessing
        _pipe(schema, {"impute": "none", "cat_encoding": "ordinal"}, tree(max_depth=4, random_state=0)).fit(X, y),
        _pipe(schema, scaled, tree(max_depth=2, random_state=0)).fit(X.iloc[:200], y[:200]),  # other rows: not
    ]
    folds = [np.arange(len(X)) % 2 == k for k in (0, 1)]
    members.append(BaggedPipeline([_pipe(schema, scaled, tree(max_depth=3, random_state=1)).fit(X[f], y[f])
                                   for f in folds], 0 if regression else len(schema.classes)))
    return members


@pytest.mark.parametrize("regression", [False, True])
def test_shared_steps_predict_exactly_what_each_member_predicts_alone(regression):
    df = _data(regression=regression)
    schema = infer_schema(df, "y")
    members = _members(df, schema, regression)
    weights = [0.3, 0.2, 0.2, 0.1, 0.2]
    fitted = FittedPipeline(schema, members, weights)
    new = _data(80, seed=1, regression=regression).drop(columns=["y"])
    X = align_for_predict(schema, new)
    k = 0 if regression else len(schema.classes)
    plain = sum(w * predict_matrix(m, X, k) for w, m in zip(weights, members))  # scikit-learn's path, unshared
    if regression:
        np.testing.assert_array_equal(fitted.predict(new), plain)
    else:
        np.testing.assert_array_equal(fitted.predict_proba(new), plain / plain.sum(axis=1, keepdims=True))
    shared = StepCache({})
    for m in members:
        np.testing.assert_array_equal(predict_matrix(m, X, k, shared), predict_matrix(m, X, k))
    # one preprocessing output for the first two members, one each for the third, the fourth (fitted on other
    # rows) and the two fold models
    assert len(shared.outputs) == 5
    planned = StepCache({})  # as a FittedPipeline uses it: an output is dropped after its last reader
    planned.plan(members)
    assert sorted(planned.readers.values()) == [1, 1, 1, 1, 2]
    kept = []
    for m in members:
        np.testing.assert_array_equal(predict_matrix(m, X, k, planned), predict_matrix(m, X, k))
        kept.append(len(planned.outputs))
    assert kept == [1, 0, 0, 0, 0]  # only the shared preprocessing waits, and only until its second reader


def test_a_pipeline_pickles_without_its_digests_and_predicts_the_same():
    df = _data()
    schema = infer_schema(df, "y")
    members = _members(df, schema, regression=False)
    fitted = FittedPipeline(schema, members, [0.2] * 5)
    new = _data(50, seed=2).drop(columns=["y"])
    before = fitted.predict_proba(new)
    assert fitted.__dict__.get("_digests")  # filled by the first predict
    again = pickle.loads(pickle.dumps(fitted))
    assert "_digests" not in again.__dict__
    np.testing.assert_array_equal(again.predict_proba(new), before)


def test_numbers_already_read_and_numbers_as_text_give_the_same_features():
    df = _data()
    schema = infer_schema(df, "y")
    X = df.drop(columns=["y"])
    prep = Preprocessor.from_schema(schema, {"scale": "robust", "clip": "quantile", "indicators": True}).fit(X)
    as_text = X.astype({"a": object, "b": object})
    as_text["a"] = [None if pd.isna(v) else f" {v!r} " for v in X["a"]]  # per-column parsing, not the fast path
    as_text["b"] = [repr(v) for v in X["b"]]
    pd.testing.assert_frame_equal(prep.transform(X), prep.transform(as_text))
    pd.testing.assert_frame_equal(prep.transform(X), prep.fit_transform(X))


def test_a_lone_pipeline_is_walked_without_digests():
    df = _data()
    schema = infer_schema(df, "y")
    member = _members(df, schema, regression=False)[0]
    fitted = FittedPipeline(schema, [member], [1.0])
    new = _data(30, seed=3).drop(columns=["y"])
    np.testing.assert_array_equal(fitted.predict_proba(new), member.predict_proba(align_for_predict(schema, new)))
    assert fitted.__dict__.get("_digests") == {}  # nothing to share: nothing pickled to digest it


def test_skew_lands_on_its_column_when_labels_are_numbers():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({5: rng.lognormal(0, 1.5, 400), "c": rng.normal(size=400)})
    X.loc[:19, 5] = np.nan
    prep = Preprocessor([(5, "numeric"), ("c", "numeric")], skew="log1p", indicators=True).fit(X)
    out = prep.transform(X)
    assert set(out["5__missing"].unique()) == {0.0, 1.0}  # the indicator is not transformed
    rows = X[5].notna().to_numpy()
    np.testing.assert_allclose(out["5"].to_numpy()[rows], np.log1p(X[5].to_numpy()[rows]))
    pd.testing.assert_frame_equal(out, prep.fit_transform(X))


@pytest.mark.parametrize("kind", ["RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor",
                                  "ExtraTreesRegressor"])
def test_a_forest_is_read_tree_by_tree_to_the_last_bit_on_a_few_rows_and_on_threads(kind, monkeypatch):
    """``forest_predict`` skips the forest's per-tree checks and, on a batch, splits the rows over threads; its
    sums must be the forest's own one-thread sums, exactly."""
    import sklearn.ensemble

    from forgeml._threads import ROWS_PER_THREAD
    from forgeml.pipeline.fitted import FOREST_FEW_ROWS, forest_predict

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    X.iloc[::7, 1] = np.nan
    classifier = kind.endswith("Classifier")
    y = rng.integers(0, 3, 400) if classifier else rng.normal(size=400)
    model = getattr(sklearn.ensemble, kind)(n_estimators=60, random_state=0, n_jobs=1).fit(X, y)
    big = X.sample(3 * ROWS_PER_THREAD + 17, replace=True, random_state=1)  # three threads' worth, uneven blocks
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 3)
    for rows in (X.iloc[:1], X.iloc[:7], X.iloc[:FOREST_FEW_ROWS], big):
        got = forest_predict(model, rows)
        want = model.predict_proba(rows) if classifier else model.predict(rows)
        assert got.shape == want.shape and np.array_equal(got, want)
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 1)
    assert forest_predict(model, big) is None  # one thread for a batch: the forest's own call
    assert forest_predict(model, X.iloc[:FOREST_FEW_ROWS]) is not None
    assert forest_predict(LogisticRegression().fit(X.fillna(0), rng.integers(0, 2, 400)), X.fillna(0)[:1]) is None
    model.set_params(n_jobs=2)  # threads sum in the order they finish: not replayed
    assert forest_predict(model, X.iloc[:1]) is None


@pytest.mark.parametrize("kind", ["RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor",
                                  "ExtraTreesRegressor"])
def test_a_few_rows_walk_every_tree_at_once_to_the_forests_last_bit(kind, monkeypatch):
    """The packed walk (``_PackedForest``) must give the forest's own predictions exactly: deep trees (leaves of
    one row), four classes, rows on thresholds; rows with a missing value and forests over ``PACK_MAX_NODES`` take
    the tree-by-tree path, also exact."""
    import sklearn.ensemble

    from forgeml.pipeline import fitted
    from forgeml.pipeline.fitted import FOREST_FEW_ROWS, forest_predict

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(600, 6)), columns=list("abcdef"))
    X["f"] = rng.integers(0, 4, 600).astype(float)  # ties: rows fall exactly on thresholds' neighbours
    classifier = kind.endswith("Classifier")
    y = rng.integers(0, 4, 600) if classifier else X.a * 3 + rng.normal(size=600)
    model = getattr(sklearn.ensemble, kind)(n_estimators=40, random_state=0, n_jobs=1).fit(X, y)
    walked = []
    real = fitted._PackedForest.mean_over_trees
    monkeypatch.setattr(fitted._PackedForest, "mean_over_trees",
                        lambda self, X32: walked.append(len(X32)) or real(self, X32))
    new = pd.DataFrame(rng.normal(size=(FOREST_FEW_ROWS, 6)), columns=list("abcdef"))
    new["f"] = rng.integers(0, 4, FOREST_FEW_ROWS).astype(float)
    for rows in (new.iloc[:1], new.iloc[:5], new, X.iloc[:FOREST_FEW_ROWS]):
        got = forest_predict(model, rows)
        want = model.predict_proba(rows) if classifier else model.predict(rows)
        assert got.shape == want.shape and np.array_equal(got, want)
    assert walked == [1, 5, FOREST_FEW_ROWS, FOREST_FEW_ROWS]  # every call above took the packed walk
    model.set_params(n_estimators=25, max_depth=4).fit(X, y[::-1])  # refit in place: the packed trees are stale
    want = model.predict_proba(new) if classifier else model.predict(new)
    assert np.array_equal(forest_predict(model, new), want)
    walked.clear()
    holed = new.iloc[:3].copy()
    holed.iloc[1, 2] = np.nan
    fresh = getattr(sklearn.ensemble, kind)(n_estimators=10, random_state=0, n_jobs=1).fit(X, y)
    monkeypatch.setattr(fitted, "PACK_MAX_NODES", 10)
    for m, rows in ((model, holed), (fresh, new.iloc[:2])):  # a missing value; too many nodes to pack
        got = forest_predict(m, rows)
        want = m.predict_proba(rows) if classifier else m.predict(rows)
        assert np.array_equal(got, want)
    assert walked == []


def test_a_scikit_learn_model_reads_its_frame_as_the_array_its_own_check_makes(recwarn):
    """``checked_matrix`` hands a scikit-learn model the array its input check would make of the frame (a fifth of
    the check's cost on one row): the same predictions to the last bit, no feature-name warning, and the frame
    itself whenever that array could differ (other columns, other dtypes, a model that is not scikit-learn's)."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    from forgeml.pipeline.fitted import checked_matrix

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 6)), columns=[f"f{i}" for i in range(6)])
    y = (X.f0 + X.f1 * X.f2 > 0).astype(int).to_numpy()
    models = [LogisticRegression(max_iter=500).fit(X, y), DecisionTreeClassifier(max_depth=4).fit(X, y),
              SVC(probability=True, random_state=0).fit(X, y), KNeighborsClassifier().fit(X, y)]
    for rows in (X.iloc[:1], X.iloc[:37]):
        for model in models:
            got = checked_matrix(model, rows)
            assert isinstance(got, np.ndarray)
            pipe = ForgePipeline([("model", model)])
            np.testing.assert_array_equal(predict_matrix(pipe, rows, 2, StepCache({})), model.predict_proba(rows))
    assert not [w for w in recwarn if "feature names" in str(w.message)]
    lr = models[0]
    reordered = X[X.columns[::-1]]
    assert checked_matrix(lr, reordered) is reordered  # other columns than it was fitted on: its own check
    ints = X.assign(f3=(X.f3 > 0).astype(int))
    assert checked_matrix(LogisticRegression().fit(ints, y), ints) is ints  # not all float64: the model's own check
    assert checked_matrix(LogisticRegression().fit(X.to_numpy(), y), X) is X  # fitted without names
    assert checked_matrix(BaggedPipeline([ForgePipeline([("model", lr)])], 2), X) is X  # not scikit-learn's


@pytest.mark.parametrize("task,kernel", [("binary", "rbf"), ("multiclass", "rbf"), ("binary", "linear"),
                                         ("regression", "rbf")])
def test_an_svm_predicts_a_batch_on_threads_to_the_last_bit(task, kernel, monkeypatch):
    """``svm_predict`` splits a batch's rows over threads (libsvm works out each row alone and releases the GIL);
    every row must be the one-thread call's, through the svm family's own calibration or target scaling, and
    through ``predict_matrix``. One core, a few rows, another model or a subclass: the model's own call."""
    from sklearn.svm import SVC

    from forgeml._threads import ROWS_PER_THREAD
    from forgeml.models.base import FitContext
    from forgeml.models.svm import SVMFamily
    from forgeml.pipeline import fitted
    from forgeml.pipeline.fitted import svm_predict

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 5)), columns=list("abcde"))
    signal = X.a + X.b * X.c + rng.normal(scale=0.5, size=600)
    y = {"binary": (signal > 0).astype(int).to_numpy(), "multiclass": np.digitize(signal, [-1, 0, 1]),
         "regression": signal.to_numpy()}[task]
    n_classes = {"binary": 2, "multiclass": 4, "regression": 0}[task]
    ctx = FitContext(task=task, n_rows=600, n_features=5, n_classes=n_classes)
    params = {"kernel": kernel, "C": 2.0, "gamma_scale": 1.0, "epsilon": 0.1, "class_weight": "none"}
    model = SVMFamily().build(params, ctx).fit(X.to_numpy(), y)
    big = rng.normal(size=(3 * ROWS_PER_THREAD + 17, 5))  # three threads' worth, uneven blocks
    own = model.predict_proba(big) if n_classes else model.predict(big)
    blocks = []
    real = fitted.in_row_blocks
    monkeypatch.setattr(fitted, "in_row_blocks", lambda call, X, threads: blocks.append(threads) or real(call, X,
                                                                                                          threads))
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 3)
    got = svm_predict(model, big, proba=bool(n_classes))
    assert blocks == [3] and got.shape == own.shape and np.array_equal(got, own)
    pipe = ForgePipeline([("model", model)])
    assert np.array_equal(predict_matrix(pipe, pd.DataFrame(big), n_classes, StepCache({})), own.astype(float))
    assert blocks == [3, 3]
    assert svm_predict(model, big[:ROWS_PER_THREAD], proba=bool(n_classes)) is None  # one thread's worth of rows
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 1)
    assert svm_predict(model, big, proba=bool(n_classes)) is None
    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 3)
    assert svm_predict(LogisticRegression().fit(X, y > 0), big, proba=True) is None

    class OwnSVC(SVC):  # a subclass may predict otherwise: left alone
        pass
    assert svm_predict(OwnSVC().fit(X.to_numpy(), y > 0), big, proba=False) is None


def test_svm_and_knn_row_blocks_leave_other_models_sparse_rows_and_the_callers_settings_alone(monkeypatch):
    """What ``svm_predict`` and the k-NN blocks must not touch: another model inside the same wrappers (a calibrated
    tree, a target transform other than standardizing), sparse rows (a hand-built pipeline's one-hot output), and
    the caller's scikit-learn configuration and warning filters, which the blocks' threads must honour and keep."""
    import warnings

    import scipy.sparse as sp
    import sklearn
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.svm import SVC, SVR

    from forgeml._threads import ROWS_PER_THREAD
    from forgeml.models.knn import KNNClassifier
    from forgeml.pipeline.fitted import svm_predict

    monkeypatch.setattr("forgeml._threads.available_cores", lambda: 3)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] > 0).astype(int)
    big = rng.normal(size=(3 * ROWS_PER_THREAD, 4))
    calibrated_tree = CalibratedClassifierCV(DecisionTreeClassifier(max_depth=3), cv=3, ensemble=False).fit(X, y)
    minmax = TransformedTargetRegressor(SVR(), transformer=MinMaxScaler()).fit(X, X[:, 1])
    assert svm_predict(calibrated_tree, big, proba=True) is None
    assert svm_predict(minmax, big, proba=False) is None
    standardized = TransformedTargetRegressor(SVR(), transformer=sklearn.preprocessing.StandardScaler())
    assert svm_predict(standardized.fit(X, X[:, 1]), big, proba=False) is not None
    sparse = sp.csr_matrix(big)
    lr = LogisticRegression().fit(sp.csr_matrix(X), y)
    got = predict_matrix(ForgePipeline([("model", lr)]), sparse, 2, StepCache({}))
    assert np.array_equal(got, lr.predict_proba(sparse))  # sparse rows reach a model that is no SVM as before
    svc = SVC(gamma=0.5).fit(sp.csr_matrix(X), y)
    assert np.array_equal(svm_predict(svc, sparse, proba=False), svc.predict(sparse))
    knn = KNNClassifier(n_neighbors=5).fit(sp.csr_matrix(X), y)
    assert np.array_equal(knn.predict(sparse), knn.model_.predict(sparse))
    holed = big.copy()
    holed[3] = np.nan
    plain = SVC(gamma=0.5).fit(X, y)
    with sklearn.config_context(assume_finite=True):  # the caller's setting reaches every block's thread
        assert np.array_equal(svm_predict(plain, holed, proba=False), plain.predict(holed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        before = list(warnings.filters)
        svm_predict(plain, big, proba=False)
        assert warnings.filters == before
