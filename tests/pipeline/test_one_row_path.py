"""A one-row request is walked as ``Rows`` (an array and its labels) and its scalers and linear models are applied
without scikit-learn's input checks: the predictions are the frame path's to the last bit, and anything the
shortcuts do not cover goes the frame path."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from forgeml._direct import linear_output, scaled
from forgeml.data.coerce import FEW_ROWS
from forgeml.data.infer import infer_schema
from forgeml.data.validate import align_for_predict
from forgeml.features._frame import Rows
from forgeml.features.generate import FeatureGenerator
from forgeml.features.preprocess import Preprocessor
from forgeml.features.select import FeatureSelector
from forgeml.models._xgb import XGBClassifier, XGBRegressor
from forgeml.models.base import FitContext
from forgeml.models.lightgbm import LightGBMFamily
from forgeml.nn.estimator import TorchMLPClassifier
from forgeml.orchestrate.prepare import encode_target
from forgeml.pipeline.bagged import BaggedPipeline
from forgeml.pipeline.fitted import FittedPipeline, StepCache, predict_matrix, rows_matrix
from forgeml.pipeline.pipe import ForgePipeline


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)  # -0.0 and 0.0 differ, as NaN payloads do


@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False)])
def test_a_standard_scaler_shortcut_is_the_scalers_transform_to_the_bit(with_mean, with_std):
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 7.0, size=(200, 9)) * rng.gamma(1.0, size=9)
    sc = StandardScaler(with_mean=with_mean, with_std=with_std).fit(train)
    for n in (1, 5, FEW_ROWS):
        X = rng.normal(3.0, 7.0, size=(n, 9)) * 10.0 ** rng.integers(-8, 8, size=(n, 9))
        X[0, 2] = np.nan  # a scaler lets missing values through
        original = X.copy()
        got = scaled(sc, X)
        np.testing.assert_array_equal(_bits(got), _bits(sc.transform(X)))
        np.testing.assert_array_equal(_bits(X), _bits(original))  # the caller's rows are not written into
        assert scaled(sc, X[:, :4]) is None  # another width
    # what its own check would handle differently goes to the scaler itself
    X = rng.normal(size=(3, 9))
    assert scaled(sc, np.where(np.eye(3, 9) > 0, np.inf, X)) is None  # infinity: the scaler's own error
    assert scaled(sc, X.astype(np.float32)) is None
    assert scaled(sc, rng.normal(size=(FEW_ROWS + 1, 9))) is None
    assert scaled(sc, pd.DataFrame(X)) is None
    assert scaled(type("Sub", (StandardScaler,), {})().fit(train), X) is None  # a subclass may change transform


@pytest.mark.parametrize("n_classes", [2, 4])
def test_a_logistic_regression_shortcut_is_its_predict_proba_to_the_bit(n_classes):
    rng = np.random.default_rng(n_classes)
    train = rng.normal(size=(400, 12))
    y = np.argmax(train[:, :n_classes] + rng.normal(scale=0.5, size=(400, n_classes)), axis=1)
    model = LogisticRegression(C=0.7, max_iter=1000).fit(train, y)
    for n in (1, 2, 17, FEW_ROWS):
        X = rng.normal(scale=3.0, size=(n, 12))
        got = linear_output(model, X, proba=True)
        np.testing.assert_array_equal(_bits(got), _bits(model.predict_proba(X)))
        fortran = np.asfortranarray(X)  # the layout a frame hands over after a concat: the model's product of it
        np.testing.assert_array_equal(_bits(linear_output(model, fortran, proba=True)),
                                      _bits(model.predict_proba(fortran)))
    X = rng.normal(size=(3, 12))
    assert linear_output(model, X, proba=False) is None  # labels: the model's own predict
    for bad in (np.where(np.eye(3, 12) > 0, np.nan, X), np.where(np.eye(3, 12) > 0, np.inf, X)):
        assert linear_output(model, bad, proba=True) is None  # the model's own error
    assert linear_output(model, X[:, :11], proba=True) is None
    assert linear_output(model, rng.normal(size=(FEW_ROWS + 1, 12)), proba=True) is None


def test_a_ridge_shortcut_is_its_predict_to_the_bit():
    rng = np.random.default_rng(5)
    train = rng.normal(size=(300, 7))
    target = train @ rng.normal(size=7) + rng.normal(size=300)
    for model in (Ridge(alpha=3.0).fit(train, target), Ridge(fit_intercept=False).fit(train, target)):
        for n in (1, 9, FEW_ROWS):
            X = rng.normal(scale=5.0, size=(n, 7))
            np.testing.assert_array_equal(_bits(linear_output(model, X, proba=False)), _bits(model.predict(X)))
        assert linear_output(model, X, proba=True) is None
    # as forgeml builds its linear regression: Ridge on a standardized target
    from sklearn.compose import TransformedTargetRegressor

    from forgeml.models._common import standardized_target

    wrapped = standardized_target(Ridge(alpha=30.0)).fit(train, target * 1e3 + 7)
    for n in (1, 9, FEW_ROWS):
        X = rng.normal(scale=5.0, size=(n, 7))
        np.testing.assert_array_equal(_bits(linear_output(wrapped, X, proba=False)), _bits(wrapped.predict(X)))
    assert linear_output(wrapped, X, proba=True) is None
    other = TransformedTargetRegressor(regressor=Ridge(), func=np.log1p, inverse_func=np.expm1).fit(train, target ** 2)
    assert linear_output(other, X, proba=False) is None  # another transformer: its own predict
    two = Ridge().fit(train, np.c_[target, -target])  # two targets: a 2-d coefficient
    X = rng.normal(size=(4, 7))
    np.testing.assert_array_equal(_bits(linear_output(two, X, proba=False)), _bits(two.predict(X)))
    assert linear_output(SVC().fit(train, target > 0), X, proba=True) is None  # not a linear model


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.gamma(2.0, size=n), "c": rng.choice(["u", "v", "w"], n),
                       "d": rng.choice([True, False], n), "e": rng.normal(10, 3, size=n), "f": rng.uniform(size=n)})
    df.loc[rng.choice(n, n // 15, replace=False), "a"] = np.nan
    df.loc[rng.choice(n, n // 12, replace=False), "c"] = None  # a missing category: NaN among the codes
    signal = df.a.fillna(0) * df.e / 10 + (df.c == "u") - 0.5 * df.b + rng.normal(scale=0.3, size=n)
    df["y"] = np.where(signal > 0, "yes", "no")
    return df


def _engineered(schema, params, model, select="mutual_info"):
    return ForgePipeline([("prep", Preprocessor.from_schema(schema, params, seed=0)),
                          ("generate", FeatureGenerator(k=4, task="binary", seed=0)),
                          ("select", FeatureSelector(select, 0.6, task="binary", seed=0)),
                          ("model", model)])


def _members(df, schema):
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    scaled_params = {"scale": "standard", "indicators": True, "skew": "yeo-johnson"}
    native = {"cat_encoding": "native", "impute": "none"}
    ctx = FitContext(task="binary", n_rows=len(X), n_features=6, n_classes=2, seed=0)
    fam = LightGBMFamily()

    def lgbm():
        return fam.build({**fam.defaults(ctx)[0], "n_estimators": 20}, ctx)

    folds = [np.arange(len(X)) % 2 == k for k in (0, 1)]
    return [
        _engineered(schema, scaled_params, LogisticRegression(max_iter=1000)).fit(X, y),
        _engineered(schema, scaled_params, KNeighborsClassifier(7), select="none").fit(X, y),
        _engineered(schema, {"cat_encoding": "onehot"}, lgbm()).fit(X, y),  # not scikit-learn's: given a frame
        ForgePipeline([("prep", Preprocessor.from_schema(schema, {"cat_encoding": "native", "impute": "none"})),
                       ("model", lgbm())]).fit(X, y),
        BaggedPipeline([_engineered(schema, scaled_params, LogisticRegression(C=0.3, max_iter=1000)).fit(X[f], y[f])
                        for f in folds], 2),
        _engineered(schema, scaled_params, TorchMLPClassifier(hidden_sizes=(16,), epochs=3)).fit(X, y),  # by position
        # native categories travel as their codes to the models that read codes (XGBoost, scikit-learn's forests)
        _engineered(schema, native, XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True,
                                                  n_jobs=1)).fit(X, y),
        _engineered(schema, native, ExtraTreesClassifier(30, random_state=0), select="none").fit(X, y),
    ]


def test_one_row_requests_walk_rows_and_predict_the_frame_paths_probabilities_to_the_bit():
    df = _data(400, 0)
    schema = infer_schema(df, "y")
    members = _members(df, schema)
    fitted = FittedPipeline(schema, members, [0.2, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
    new = _data(40, 1).drop(columns=["y"])
    new.loc[new.index[1::6], "c"] = "z"  # a category training never saw
    assert new.c.isna().any()
    whole = align_for_predict(schema, new)
    for i in range(len(new)):
        row = align_for_predict(schema, new.iloc[[i]])
        plain = [predict_matrix(m, row, 2) for m in members]  # each pipeline's own predict_proba: frames, checks
        for m, p in zip(members, plain):
            np.testing.assert_array_equal(_bits(predict_matrix(m, row, 2, StepCache({}))), _bits(p))
        combined = sum(w * p for w, p in zip(fitted.weights, plain))
        np.testing.assert_array_equal(_bits(fitted.predict_proba(new.iloc[[i]])),
                                      _bits(combined / combined.sum(axis=1, keepdims=True)))
    # the path under test is taken: a row leaves the steps as Rows where every step is numeric
    row = align_for_predict(schema, new.iloc[[0]])
    walked = StepCache({})
    walked.sharing = False
    assert isinstance(walked.transform(members[0].steps, row), Rows)
    rows = walked.transform(members[5].steps, row)
    assert rows_matrix(members[5].steps[-1][1], rows) is rows.values  # the network reads the array itself
    for m in members[3], members[6], members[7]:  # native categories: their codes, or the very frame from them
        rows = walked.transform(m.steps, row)
        assert isinstance(rows, Rows) and rows.codes
        pd.testing.assert_frame_equal(rows.frame(), _frame_path(m.steps[:-1], row, pd.concat([whole, whole])))
    assert isinstance(rows_matrix(members[3].steps[-1][1], walked.transform(members[3].steps, row)), pd.DataFrame)
    for m in members[6], members[7]:  # XGBoost and extra trees read the codes
        rows = walked.transform(m.steps, row)
        assert rows_matrix(m.steps[-1][1], rows) is rows.values
    assert not isinstance(walked.transform(members[0].steps, whole.iloc[:2]), Rows)  # several rows: frames


def _frame_path(steps, X, pad):
    """The transform steps' output for ``X``'s rows computed inside a batch of more than ``FEW_ROWS`` rows
    (``X`` then ``pad``): the plain frame path, which shares no code with the few-rows paths under test."""
    assert len(X) + len(pad) > FEW_ROWS
    big = pd.concat([X, pad])
    for _, step in steps:
        big = step.transform(big)
    return big.iloc[:len(X)]


def test_a_selection_of_rows_with_category_codes_keeps_them_where_they_land():
    df = _data(300, 7)
    schema = infer_schema(df, "y")
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    pre = Preprocessor.from_schema(schema, {"cat_encoding": "native", "impute": "none"}).fit(X)
    Xt = pre.transform(X)
    keep = list(Xt.columns[1:-1:2]) + [Xt.columns[-1]]  # the category column (the last) moves
    sel = FeatureSelector("none", task="binary").fit(Xt, y)
    sel.selected_ = keep
    pad = align_for_predict(schema, _data(80, 9).drop(columns=["y"]))
    requests = _data(10, 8).drop(columns=["y"])
    requests.loc[requests.index[[1, 3]], "c"] = ["z", None]  # a category training never saw; a missing one
    for i in range(5):
        row = align_for_predict(schema, requests.iloc[[i]])
        rows = pre.transform_rows(row)
        assert isinstance(rows, Rows) and list(rows.codes) == [Xt.shape[1] - 1]
        pd.testing.assert_frame_equal(rows.frame(), _frame_path([("prep", pre)], row, pad))
        got = sel.transform_rows(rows)
        assert list(got.codes) == [len(keep) - 1]
        pd.testing.assert_frame_equal(got.frame(), _frame_path([("prep", pre), ("select", sel)], row, pad))
    # who reads the codes: XGBoost where its booster has the category, scikit-learn's forests, nothing else
    xgb = XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1).fit(Xt, y)
    cat = Xt.shape[1] - 1
    assert xgb.reads_rows(rows.columns, {cat}) and not xgb.reads_rows(rows.columns, set())
    assert not xgb.reads_rows(rows.columns[::-1], {0})  # not its columns' order
    assert rows_matrix(ExtraTreesClassifier(5, random_state=0).fit(Xt, y), rows) is rows.values
    assert isinstance(rows_matrix(KNeighborsClassifier().fit(Xt.fillna(0), y), rows), pd.DataFrame)
    assert not TorchMLPClassifier().reads_rows(rows.columns, {cat})


def test_rows_under_other_labels_go_the_frame_path():
    df = _data(300, 2)
    schema = infer_schema(df, "y")
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    pre = Preprocessor.from_schema(schema, {"scale": "standard"}).fit(X)
    gen = FeatureGenerator(k=3, task="binary").fit(pre.transform(X), y)
    rows = pre.transform_rows(align_for_predict(schema, X.iloc[[0]]))
    assert isinstance(rows, Rows)
    np.testing.assert_array_equal(gen.transform_rows(rows).frame().to_numpy(), gen.transform(rows.frame()).to_numpy())
    renamed = Rows(rows.values, pd.Index([f"z{j}" for j in range(len(rows.columns))]), rows.index)
    assert gen.transform_rows(renamed) is None  # not the columns it was fitted on
    sel = FeatureSelector("none", task="binary").fit(pre.transform(X), y)
    assert sel.transform_rows(renamed) is None
    assert sel.transform_rows(rows) is rows  # every column kept: no copy
    assert gen.transform_rows(rows.frame()) is None and sel.transform_rows(rows.frame()) is None
    # a scikit-learn model gets the array only when fitted on these very columns, in this order
    Xt = pre.transform(X)
    own = LogisticRegression(max_iter=500).fit(Xt, y)
    assert rows_matrix(own, rows) is rows.values
    for other in (LogisticRegression(max_iter=500).fit(Xt[Xt.columns[::-1]], y),
                  LogisticRegression(max_iter=500).fit(Xt.to_numpy(), y)):
        got = rows_matrix(other, rows)
        assert isinstance(got, pd.DataFrame) and list(got.columns) == list(rows.columns)


def test_a_step_pickles_the_same_after_a_one_row_request():
    """What the rows path memoises (labels' positions, Index objects) stays out of pickles: the digests that let
    members share a step, and saved models, do not depend on whether a step has predicted."""
    df = _data(300, 3)
    schema = infer_schema(df, "y")
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    ordinal = _engineered(schema, {"cat_encoding": "ordinal"}, LogisticRegression(max_iter=500)).fit(X, y)
    for member in (_members(df, schema)[0], ordinal):  # (the ordinal encoder's lookup stays out too)
        before = [pickle.dumps(step) for _, step in member.steps[:-1]]
        fitted = FittedPipeline(schema, [member, member], [0.5, 0.5])
        fitted.predict_proba(X.iloc[[0]])
        assert [pickle.dumps(step) for _, step in member.steps[:-1]] == before
    assert "ordinal_lookup_" in ordinal.steps[0][1].encoder_.__dict__  # the path under test was taken


def test_a_requests_raw_columns_are_read_once_and_only_within_the_request():
    from forgeml.data.coerce import request_column, request_columns

    frame = pd.DataFrame({"a": [1.5], "b": ["yes"]})
    reads = []

    def read(s):
        reads.append(s.name)
        return s.to_numpy()

    with request_columns():
        first = request_column(frame, "a", "number", read)
        assert request_column(frame, "a", "number", read) is first
        request_column(frame, "a", "other reading", read)
        request_column(frame.copy(), "a", "number", read)  # another frame: read on its own
    request_column(frame, "a", "number", read)  # outside a request: read every time
    request_column(frame, "a", "number", read)
    assert reads == ["a", "a", "a", "a", "a"]


def test_a_frame_changed_in_place_between_two_predictions_is_read_again():
    df = _data(300, 4)
    schema = infer_schema(df, "y")
    fitted = FittedPipeline(schema, _members(df, schema), [0.2, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])
    row = align_for_predict(schema, _data(5, 5).drop(columns=["y"]).iloc[[0]])
    before = fitted.proba_aligned(row)  # (predict_proba aligns a new frame each call; this one takes the frame)
    other = align_for_predict(schema, _data(5, 6).drop(columns=["y"]).iloc[[1]])
    for c in row.columns:
        row[c] = other[c].to_numpy()  # the same frame object, other values
    np.testing.assert_array_equal(fitted.proba_aligned(row), fitted.proba_aligned(other))
    assert not np.array_equal(fitted.proba_aligned(row), before)


def test_steps_and_models_refit_in_place_are_read_by_their_new_columns():
    """What the rows path memoises (label positions, whether a model reads the array) is keyed by the fitted
    attributes a refit replaces: a selector, generator or model refit in place predicts as its frame path does."""
    df = _data(300, 9)
    schema = infer_schema(df, "y")
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    pre = Preprocessor.from_schema(schema, {"scale": "standard"}).fit(X)
    Xt = pre.transform(X)
    sel = FeatureSelector("none", task="binary").fit(Xt, y)
    gen = FeatureGenerator(k=3, task="binary").fit(Xt, y)
    model = LogisticRegression(max_iter=500).fit(Xt, y)
    pipe = ForgePipeline([("prep", pre), ("select", sel), ("model", model)])
    row = align_for_predict(schema, X.iloc[[3]])
    walked = StepCache({})
    walked.sharing = False
    predict_matrix(pipe, row, 2, walked)  # the memos are filled
    gen.transform_rows(pre.transform_rows(row))
    sel.selected_ = [c for c in Xt.columns[::-1] if c != Xt.columns[0]]  # other columns, another order
    gen.fit(Xt[Xt.columns[::-1]], y)  # its inputs in another order
    model.fit(Xt[sel.selected_], y)
    np.testing.assert_array_equal(_bits(predict_matrix(pipe, row, 2, walked)), _bits(predict_matrix(pipe, row, 2)))
    rows = pre.transform_rows(row)
    assert gen.transform_rows(rows) is None  # its columns, but not in its order: the frame path
    sel.fit(Xt, y)
    model.fit(Xt, y)
    np.testing.assert_array_equal(_bits(predict_matrix(pipe, row, 2, walked)), _bits(predict_matrix(pipe, row, 2)))
    model.fit(Xt[Xt.columns[::-1]], y)  # the same steps before it: only the model knows its columns changed
    for shared in (walked, None):  # both paths give scikit-learn's own answer: the frame's names do not match
        with pytest.raises(ValueError, match="feature names"):
            predict_matrix(pipe, row, 2, shared)


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_regression_with_a_target_transform_and_multiclass_rows_predict_the_frame_paths_values(task):
    from forgeml.models.base import FitContext as Ctx
    from forgeml.models.linear import LinearFamily

    rng = np.random.default_rng(11)
    df = _data(400, 10).drop(columns=["y"])
    df["y"] = (np.exp(df.a.fillna(0) / 2 + df.e / 10 + rng.normal(scale=0.2, size=len(df))) if task == "regression"
               else np.array(["p", "q", "r"])[np.digitize(df.e + rng.normal(size=len(df)), [9, 11])])
    schema = infer_schema(df, "y")
    X = df.drop(columns=["y"])
    y = df["y"].to_numpy() if task == "regression" else encode_target(df, schema)
    k = 0 if task == "regression" else 3
    ctx = Ctx(task=task, n_rows=len(X), n_features=6, n_classes=k, seed=0)
    linear = LinearFamily()
    params = {"scale": "standard", "indicators": True}
    members = [ForgePipeline([("prep", Preprocessor.from_schema(schema, params)),
                              ("generate", FeatureGenerator(k=3, task=task)),
                              ("model", linear.build(linear.defaults(ctx)[0], ctx))],
                             target_transform="log1p" if task == "regression" else "none").fit(X, y),
               _engineered(schema, {"cat_encoding": "native", "impute": "none"},
                           (XGBRegressor if task == "regression" else XGBClassifier)(
                               n_estimators=10, enable_categorical=True, n_jobs=1), select="none").fit(X, y)]
    new = _data(20, 11).drop(columns=["y"])
    for i in range(len(new)):
        row = align_for_predict(schema, new.iloc[[i]])
        for m in members:
            np.testing.assert_array_equal(_bits(predict_matrix(m, row, k, StepCache({}))),
                                          _bits(predict_matrix(m, row, k)))


@pytest.mark.parametrize("with_numbers", [False, True])
def test_one_row_of_native_categories_predicts_what_a_large_batch_predicts_for_it(with_numbers):
    """A request's row against the same row inside a batch of more than 64 rows (the plain frame path, which never
    takes the few-rows shortcuts), for forests on native categories, missing and unseen categories included. With
    no numeric column the encoder's frame of categories reaches the forest, whose check reads a missing category
    as a huge negative integer, not NaN: the row must not reach it as codes with NaN."""
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"c": rng.choice(list("uvwt"), n), "k": rng.choice([f"k{i}" for i in range(12)], n)})
    if with_numbers:
        df["a"] = rng.normal(size=n)
    df.loc[rng.choice(n, 40, replace=False), "c"] = None
    df["y"] = np.where((df.c == "u") + df.k.isin(["k1", "k2"]) + rng.normal(scale=0.5, size=n) > 0.3, "yes", "no")
    schema = infer_schema(df, "y")
    X, y = df.drop(columns=["y"]), encode_target(df, schema)
    native = {"cat_encoding": "native", "impute": "none"}
    members = [ForgePipeline([("prep", Preprocessor.from_schema(schema, native)), ("model", model)]).fit(X, y)
               for model in (ExtraTreesClassifier(30, random_state=0), RandomForestClassifier(30, random_state=0))]
    fitted = FittedPipeline(schema, members, [0.5, 0.5])
    new = X.sample(80, random_state=1).reset_index(drop=True)
    new.loc[[0, 5, 9], "c"] = None
    new.loc[[1, 6], "k"] = "never seen"
    batch = fitted.predict_proba(new)
    for i in range(12):
        np.testing.assert_array_equal(_bits(fitted.predict_proba(new.iloc[[i]])), _bits(batch[i:i + 1]))
