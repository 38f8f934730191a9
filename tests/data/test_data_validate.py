from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from forgeml.data import align_for_predict, infer_schema, validate_training
from forgeml.data.validate import check_values
from forgeml.errors import ConfigError, DataError, SchemaMismatchError, TargetError


def _frame(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"age": np.arange(n, dtype=float), "city": ["a", "b"] * (n // 2),
                         "label": ["no", "yes"] * (n // 2)})


def test_valid_frame_passes_unchanged():
    df = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = validate_training(df, "label")
    pd.testing.assert_frame_equal(out, df)


def test_empty_table():
    with pytest.raises(DataError, match="empty"):
        validate_training(_frame().iloc[:0], "label")


def test_no_feature_columns():
    with pytest.raises(DataError, match="no feature columns"):
        validate_training(_frame()[["label"]], "label")


def test_target_absent_suggests_close_match():
    with pytest.raises(TargetError) as err:
        validate_training(_frame(), "lable")
    msg = str(err.value)
    assert "'lable'" in msg and "Did you mean 'label'" in msg and "'age'" in msg


def test_target_all_missing():
    df = _frame()
    df["label"] = None
    with pytest.raises(TargetError, match="entirely missing"):
        validate_training(df, "label")


def test_constant_numeric_target():
    df = _frame()
    df["label"] = 3.0
    with pytest.raises(TargetError, match="has a single value"):
        validate_training(df, "label")


def test_single_class_integer_target_message_is_plain():
    df = _frame().assign(label=np.ones(20, dtype=np.int64))
    with pytest.raises(TargetError) as err:
        validate_training(df, "label")
    msg = str(err.value)
    assert "the target column 'label' has a single value (1)" in msg
    assert "np." not in msg


def test_one_class():
    df = _frame()
    df["label"] = "yes"
    with pytest.raises(TargetError, match="only one class"):
        validate_training(df, "label")


def test_missing_target_rows_dropped_with_warning():
    df = _frame()
    df.loc[[0, 3, 5], "label"] = None
    with pytest.warns(UserWarning, match="dropping 3 of 20 rows"):
        out = validate_training(df, "label")
    assert len(out) == 17 and out["label"].notna().all()
    assert len(df) == 20  # the caller's frame is untouched


def test_inf_in_features_is_an_error_naming_columns():
    df = _frame()
    df.loc[2, "age"] = np.inf
    df["other"] = 1.0
    df.loc[4, "other"] = -np.inf
    with pytest.raises(DataError) as err:
        validate_training(df, "label")
    msg = str(err.value)
    assert "'age'" in msg and "'other'" in msg and "NaN" in msg and "inf_as_nan" in msg


def test_inf_as_nan_converts():
    df = _frame()
    df.loc[2, "age"] = np.inf
    out = validate_training(df, "label", inf_as_nan=True)
    assert np.isnan(out.loc[2, "age"]) and np.isinf(df.loc[2, "age"])


def test_inf_in_target():
    df = _frame()
    df["label"] = np.linspace(0, 1, 20)
    df.loc[1, "label"] = np.inf
    with pytest.raises(TargetError, match="infinite"):
        validate_training(df, "label")


def test_duplicate_columns():
    df = pd.concat([_frame(), _frame()[["age"]]], axis=1)
    with pytest.raises(DataError, match="duplicate column names: 'age'"):
        validate_training(df, "label")


def test_mixed_type_column_is_coerced_not_rejected():
    df = _frame()
    df["mixed"] = [1, "x", 2.5, "y"] * 5
    out = validate_training(df, "label")
    assert out["mixed"].tolist() == df["mixed"].tolist()
    spec = infer_schema(out, "label").column("mixed")
    assert spec.kind == "categorical" and set(spec.categories) == {"1", "x", "2.5", "y"}


def test_unhashable_values():
    df = _frame()
    df["tags"] = [["a"], {"k": 1}] * 10
    with pytest.raises(DataError, match="unhashable values: 'tags'"):
        validate_training(df, "label")


def test_singleton_class_warns():
    df = _frame()
    df.loc[0, "label"] = "rare"
    with pytest.warns(UserWarning, match="single row: 'rare'"):
        validate_training(df, "label")


def test_integer_regression_target_does_not_warn_about_classes():
    df = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_training(df, "y")


# ---------------------------------------------------------------- predict time
@pytest.fixture
def schema():
    n = 40
    df = pd.DataFrame({
        "num": np.arange(n, dtype=float), "cat": ["a", "b", "c", "d"] * (n // 4),
        "when": pd.date_range("2020-01-01", periods=n), "row_id": [f"R{i:04d}" for i in range(n)],
        "y": [0, 1] * (n // 2)})
    return infer_schema(df, "y")


def _predict_frame():
    return pd.DataFrame({"num": [1.0, 2.0], "cat": ["a", "zzz"], "when": ["2021-03-04", "2021-05-06"],
                         "row_id": ["X1", "X2"]})


def test_align_reorders_and_coerces(schema):
    X = _predict_frame()[["when", "cat", "row_id", "num"]]
    out = align_for_predict(schema, X)
    assert list(out.columns) == schema.names()
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out["cat"].tolist() == ["a", "zzz"]  # unseen categories pass; the encoder handles them


def test_align_missing_column(schema):
    with pytest.raises(SchemaMismatchError, match="missing columns.*'cat'"):
        align_for_predict(schema, _predict_frame().drop(columns="cat"))


def test_align_id_and_target_not_required(schema):
    out = align_for_predict(schema, _predict_frame().drop(columns="row_id"))
    assert out["row_id"].isna().all()


def test_align_extra_column_warns(schema):
    X = _predict_frame().assign(surprise=1, y=0)
    with pytest.warns(UserWarning, match="'surprise'") as rec:
        out = align_for_predict(schema, X)
    assert "surprise" not in out.columns and "y" not in out.columns
    assert not any("'y'" in str(w.message) for w in rec)


def test_align_numbers_as_strings(schema):
    X = _predict_frame().assign(num=["1.5", " 2 "])
    out = align_for_predict(schema, X)
    assert out["num"].tolist() == [1.5, 2.0] and out["num"].dtype == "float64"


def test_align_non_numbers_in_numeric_column(schema):
    X = pd.concat([_predict_frame()] * 3, ignore_index=True).assign(num=["1", "abc", "n/a", "x", "7", "?"])
    with pytest.raises(SchemaMismatchError) as err:
        align_for_predict(schema, X)
    assert "'num'" in str(err.value) and "'abc'" in str(err.value)


def test_align_array(schema):
    arr = _predict_frame().to_numpy()
    out = align_for_predict(schema, arr)
    assert out.shape == (2, 4) and out["num"].tolist() == [1.0, 2.0]


def test_align_array_wrong_width(schema):
    with pytest.raises(SchemaMismatchError, match="3 columns but the model was fit on 4"):
        align_for_predict(schema, np.zeros((2, 3)))


def test_align_empty(schema):
    with pytest.raises(DataError, match="empty"):
        align_for_predict(schema, _predict_frame().iloc[:0])


def test_align_one_bad_number_is_an_error_naming_column_row_and_value(schema):
    X = _predict_frame().iloc[:1].assign(num=["abc"])
    X.index = ["order-17"]
    with pytest.raises(SchemaMismatchError) as err:
        align_for_predict(schema, X)
    msg = str(err.value)
    assert "'num'" in msg and "row 'order-17': 'abc'" in msg and "on_bad_value='nan'" in msg


def test_align_many_bad_numbers_names_the_first_few(schema):
    X = pd.concat([_predict_frame()] * 50, ignore_index=True)
    X["num"] = ["1.5"] * 90 + [f"bad{i}" for i in range(10)]
    with pytest.raises(SchemaMismatchError) as err:
        align_for_predict(schema, X)
    msg = str(err.value)
    assert "10 values" in msg and "row 90: 'bad0'" in msg and "row 94: 'bad4'" in msg
    assert "'bad5'" not in msg and "and 5 more" in msg


def test_align_bad_numbers_become_missing_only_when_asked(schema):
    X = pd.concat([_predict_frame()] * 50, ignore_index=True)
    X["num"] = ["1.5"] * 97 + ["oops", "n/a", "?"]
    with pytest.warns(UserWarning, match=r"2 values not readable as a number.*row 97: 'oops', row 99: '\?'"):
        out = align_for_predict(schema, X, on_bad_value="nan")
    assert out["num"].isna().sum() == 3 and out["num"].iloc[0] == 1.5


def test_align_missing_markers_are_missing_not_bad(schema):
    X = pd.concat([_predict_frame()] * 3, ignore_index=True).assign(num=["1", "", " NA ", "n/a", "null", None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = align_for_predict(schema, X)
    assert out["num"].iloc[0] == 1.0 and out["num"].iloc[1:].isna().all()


@pytest.mark.parametrize("value", [np.inf, "inf", "-inf"])
def test_align_inf_is_refused_as_at_fit(schema, value):
    X = _predict_frame().assign(num=[1.0, value])
    with pytest.raises(SchemaMismatchError, match="'num': 1 value equal to \\+/-inf: row 1.*inf_as_nan=True"):
        align_for_predict(schema, X)
    out = align_for_predict(schema, X, inf_as_nan=True)
    assert out["num"].iloc[0] == 1.0 and np.isnan(out["num"].iloc[1])


def test_align_unparseable_date_is_an_error(schema):
    X = _predict_frame().assign(when=["2021-03-04", "someday"])
    with pytest.raises(SchemaMismatchError, match="'when'.*date/time.*row 1: 'someday'"):
        align_for_predict(schema, X)
    with pytest.warns(UserWarning, match="'someday'"):
        out = align_for_predict(schema, X, on_bad_value="nan")
    assert out["when"].isna().tolist() == [False, True]


def test_align_unknown_yes_no_word_is_an_error():
    n = 40
    df = pd.DataFrame({"flag": ["yes", "no"] * (n // 2), "x": np.arange(n, dtype=float), "y": [0, 1] * (n // 2)})
    schema = infer_schema(df, "y")
    assert schema.column("flag").kind == "boolean"
    X = pd.DataFrame({"flag": ["yes", "maybe"], "x": [1.0, 2.0]})
    with pytest.raises(SchemaMismatchError, match="'flag'.*yes/no.*'maybe'"):
        align_for_predict(schema, X)
    with pytest.warns(UserWarning, match="'maybe'"):
        out = align_for_predict(schema, X, on_bad_value="nan")
    assert out["flag"].tolist()[0] == "yes" and pd.isna(out["flag"].tolist()[1])


def test_align_rejects_an_unknown_policy(schema):
    with pytest.raises(ConfigError, match="on_bad_value"):
        align_for_predict(schema, _predict_frame(), on_bad_value="drop")


def test_align_training_frame_with_numbers_as_strings_round_trips():
    n = 200
    df = pd.DataFrame({"v": [str(i) for i in range(n - 8)] + ["n/a"] * 8, "y": [0, 1] * (n // 2)})
    schema = infer_schema(df, "y")
    assert schema.column("v").kind == "numeric"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = align_for_predict(schema, df.drop(columns="y"))
    assert out["v"].dtype == "float64" and out["v"].isna().sum() == 8


# ---------------------------------------------------------------- training-time values


def _strings_frame(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"v": [str(i) for i in range(n - 2)] + ["abc", "NA"], "cat": ["a", "b"] * (n // 2),
                         "y": [0, 1] * (n // 2)})


def test_training_bad_number_is_an_error_naming_it():
    with pytest.raises(DataError) as err:
        check_values(_strings_frame(), "y")
    msg = str(err.value)
    assert "'v'" in msg and "row 98: 'abc'" in msg and "on_bad_value='nan'" in msg


def test_training_bad_number_becomes_missing_when_asked_and_kinds_stay():
    df = _strings_frame()
    with pytest.warns(UserWarning, match="row 98: 'abc'"):
        out = check_values(df, "y", on_bad_value="nan")
    assert pd.isna(out.loc[98, "v"]) and out.loc[97, "v"] == "97" and out.loc[99, "v"] == "NA"
    assert df.loc[98, "v"] == "abc"  # the caller's frame is not modified
    assert [c.kind for c in infer_schema(out, "y").columns] == [c.kind for c in infer_schema(df, "y").columns]


def test_training_inf_text_follows_inf_as_nan():
    df = _strings_frame().assign(v=[str(i) for i in range(99)] + ["inf"])
    with pytest.raises(DataError, match="'v': 1 value equal to \\+/-inf: row 99"):
        check_values(df, "y")
    assert pd.isna(check_values(df, "y", inf_as_nan=True).loc[99, "v"])


def test_training_clean_frame_is_returned_as_is():
    df = _strings_frame().assign(v=[str(i) for i in range(100)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_values(df, "y") is df


def test_many_single_row_classes_are_a_target_error_up_front():
    labels = [f"c{i}" for i in range(20) for _ in range(4)] + [f"s{i}" for i in range(9)]
    df = pd.DataFrame({"x": np.arange(len(labels), dtype=float), "y": labels})
    with pytest.raises(TargetError) as err:
        validate_training(df, "y")
    msg = str(err.value)
    assert "9 of 29 classes with fewer than 2 rows" in msg and "'s0'" in msg and "Merge rare classes" in msg


def test_training_frames_hold_categoricals_as_codes_and_predict_frames_stay_as_sent():
    from forgeml.data.infer import infer_schema
    from forgeml.data.validate import align_for_predict, compact_categoricals

    df = pd.DataFrame({"city": ["a", "b", None, "a"] * 10, "n": np.arange(40.0), "y": [0, 1] * 20})
    schema = infer_schema(df, "y")
    assert schema.column("city").kind == "categorical"
    sent = align_for_predict(schema, df.drop(columns=["y"]))
    assert sent["city"].dtype == object  # one row at predict time pays nothing for codes
    train = compact_categoricals(schema, sent)
    assert isinstance(train["city"].dtype, pd.CategoricalDtype) and list(train["city"].cat.categories) == ["a", "b"]
    assert train["city"].isna().sum() == 10 and train["n"].equals(sent["n"])
    assert sent["city"].dtype == object  # the input frame is not changed
    coded = df.assign(city=df["city"].astype("category"))
    kept = align_for_predict(schema, coded.drop(columns=["y"]), keep_categories=True)
    assert isinstance(kept["city"].dtype, pd.CategoricalDtype)  # a training frame's codes are never expanded
    assert align_for_predict(schema, coded.drop(columns=["y"]))["city"].dtype == object  # a request's are
    from forgeml.data.validate import as_sent

    pd.testing.assert_frame_equal(as_sent(train), sent)
