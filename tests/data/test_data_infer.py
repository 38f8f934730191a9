from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgeml.data import infer_schema, infer_task
from forgeml.data.schema import Schema

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"  # <repo>/../shared, as CI lays it out


@pytest.mark.parametrize("values,task", [
    (["a", "b", "a", "b"], "binary"),
    (["a", "b", "c", "a"], "multiclass"),
    ([True, False, True, True], "binary"),
    ([0, 1, 1, 0], "binary"),
    ([0, 1, 2, 3, 2, 1], "multiclass"),
    ([0.0, 1.0, 2.0, 1.0], "multiclass"),
    ([0.5, 1.25, 2.0, 3.0], "regression"),
    (list(range(50)) * 3, "regression"),
    (pd.Categorical(["lo", "hi", "mid", "lo"]), "multiclass"),
    (["1", "2", "3"], "multiclass"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


def test_infer_task_ignores_missing():
    assert infer_task(pd.Series([1.0, np.nan, 0.0, 1.0])) == "binary"


def _all_kinds(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    text = [" ".join(rng.choice(words, size=8)) + f" number {i}" for i in range(n)]
    return pd.DataFrame({
        "num": rng.normal(size=n),
        "cat": rng.choice(["red", "green", "blue"], size=n),
        "flag": rng.choice(["yes", "no"], size=n),
        "bool_dtype": rng.random(n) > 0.5,
        "when": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "when_dtype": pd.date_range("2021-01-01", periods=n, freq="h"),
        "review": text,
        "code": [f"K{i:05d}X" for i in range(n)],
        "user_id": np.arange(1000, 1000 + n),
        "same": ["only"] * n,
        "num_str": [f"{v:.3f}" for v in rng.normal(size=n)],
        "mixed": [i if i % 2 else f"s{i % 5}" for i in range(n)],
        "y": rng.choice(["no", "yes"], size=n),
    })


def test_one_column_of_each_kind():
    schema = infer_schema(_all_kinds(), "y")
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "num": "numeric", "cat": "categorical", "flag": "boolean", "bool_dtype": "boolean",
        "when": "datetime", "when_dtype": "datetime", "review": "text", "code": "id", "user_id": "id",
        "same": "constant", "num_str": "numeric", "mixed": "categorical",
    }
    assert schema.target == "y" and schema.task == "binary" and schema.classes == ("no", "yes")
    assert "y" not in schema.names()
    assert set(schema.modelled) == {"num", "cat", "flag", "bool_dtype", "when", "when_dtype", "review",
                                    "num_str", "mixed"}


def test_statistics_and_categories():
    df = pd.DataFrame({"c": ["a", "b", None, "a", "a", "c"] * 5, "x": [1.0, np.nan, 3, 4, 5, 6] * 5,
                       "y": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] * 5})
    schema = infer_schema(df, "y")
    c = schema.column("c")
    assert c.categories[0] == "a" and set(c.categories) == {"a", "b", "c"}
    assert c.missing_frac == pytest.approx(1 / 6, abs=1e-4)
    assert c.n_unique == 3
    assert schema.column("x").missing_frac == pytest.approx(1 / 6, abs=1e-4)
    assert schema.task == "regression" and schema.classes == ()


def test_categories_are_capped():
    df = pd.DataFrame({"c": [f"v{i % 300}" for i in range(900)], "y": [0, 1] * 450})
    spec = infer_schema(df, "y").column("c")
    assert spec.kind == "categorical" and spec.n_unique == 300 and len(spec.categories) == 200


def test_integer_classes_keep_their_type_and_order():
    df = pd.DataFrame({"x": range(9), "y": [3, 1, 2] * 3})
    schema = infer_schema(df, "y")
    assert schema.classes == (1, 2, 3) and schema.task == "multiclass"


def test_explicit_task_wins():
    df = pd.DataFrame({"x": range(9), "y": [3, 1, 2] * 3})
    assert infer_schema(df, "y", task="regression").task == "regression"


def test_unique_small_frame_strings_are_categorical_not_id():
    df = pd.DataFrame({"c": ["a", "b", "c", "d"], "y": [0, 1, 0, 1]})
    assert infer_schema(df, "y").column("c").kind == "categorical"


def test_monotone_integers_without_id_name_are_numeric():
    df = pd.DataFrame({"year": np.arange(1950, 2000), "y": [0.5] * 25 + [1.5] * 25})
    assert infer_schema(df, "y").column("year").kind == "numeric"


@pytest.mark.parametrize(("values", "kind"), [
    (["63", "20", "19", "69", "20"] * 8, "categorical"),  # school codes: text holding only whole numbers
    (["1", "2", "3"] * 10, "categorical"),  # regions coded 1/2/3
    (["02139", "10001", "94105"] * 10 + ["n/a"], "categorical"),  # zip codes: a leading zero, one stray value
    ([str(10_000 + i) for i in range(40)], "id"),  # every value differs: an identifier
    (["1.5", "2", "3.25"] * 10, "numeric"),  # decimals: measurements written as text
    (["-1", "2", "3"] * 10, "numeric"),  # a sign: a quantity, not a code
    (["12", "7", "n/a"] + ["4", "9"] * 30, "numeric"),  # numbers with a stray missing marker
])
def test_text_of_digits_is_codes_unless_it_reads_as_a_quantity(values, kind):
    df = pd.DataFrame({"c": values, "y": np.arange(len(values)) % 2})
    assert infer_schema(df, "y").column("c").kind == kind


def test_codes_match_whatever_type_they_arrive_in_at_predict_time():
    from forgeml.data.coerce import to_string

    spec = infer_schema(pd.DataFrame({"c": ["63", "20", "19"] * 5, "y": [0, 1, 1] * 5}), "y").column("c")
    assert spec.kind == "categorical" and set(spec.categories) == {"63", "20", "19"}
    assert list(to_string(pd.Series([63, 20.0, "19"]))) == ["63", "20", "19"]


def test_schema_json_round_trip():
    schema = infer_schema(_all_kinds(), "y")
    again = Schema.from_json(schema.to_json())
    assert again == schema


def test_schema_json_round_trip_integer_classes():
    df = pd.DataFrame({"x": np.arange(20.0), "y": np.array([0, 1, 2, 3] * 5, dtype=np.int64)})
    schema = infer_schema(df, "y")
    again = Schema.from_json(schema.to_json())
    assert again == schema and again.classes == (0, 1, 2, 3)


def test_real_datasets():
    weather = infer_schema(pd.read_parquet(f"{DATASETS}/seattle_weather.parquet"), "weather")
    assert weather.column("date").kind == "datetime" and weather.task == "multiclass"
    assert weather.classes == ("drizzle", "fog", "rain", "snow", "sun")
    hdma = infer_schema(pd.read_parquet(f"{DATASETS}/hdma.parquet"), "deny")
    assert hdma.column("pbcr").kind == "boolean" and hdma.column("dir").kind == "numeric"
    penguins = infer_schema(pd.read_parquet(f"{DATASETS}/penguins.parquet"), "species")
    assert penguins.column("island").kind == "categorical"
    assert penguins.column("sex").missing_frac > 0
    # codes stored as text: school ids in star, state numbers in cigar
    star = infer_schema(pd.read_parquet(f"{DATASETS}/star.parquet"), "totexpk")
    assert star.column("schidkn").kind == "categorical"
    cigar = infer_schema(pd.read_parquet(f"{DATASETS}/cigar.parquet"), "sales")
    assert cigar.column("state").kind == "categorical"


def test_a_category_column_is_described_from_its_counts_as_its_strings_would_be():
    from forgeml.data.infer import infer_column

    rng = np.random.default_rng(0)
    cases = {"city": pd.Categorical(rng.choice(["a", "b", "c", None], 500)),
             "flag": pd.Categorical(rng.choice(["yes", "no"], 500)),
             "one": pd.Categorical(["x"] * 50 + [None] * 3),
             "unused": pd.Categorical(["a", "b"] * 10, categories=["a", "b", "zz"]),  # zz counts for nothing
             "clash": pd.Categorical([1, "1", "2", None] * 10),  # 1 and "1": the general path
             "empty": pd.Categorical([None] * 5, categories=["a"])}
    for name, values in cases.items():
        s = pd.Series(values, name=name)
        fast, plain = infer_column(s), infer_column(s.astype(object))
        assert (fast.kind, fast.n_unique, fast.missing_frac) == (plain.kind, plain.n_unique, plain.missing_frac), name
        assert set(fast.categories) == set(plain.categories), name
    assert infer_column(pd.Series(cases["city"], name="city")).kind == "categorical"
    assert infer_column(pd.Series(cases["flag"], name="flag")).kind == "boolean"
    assert infer_column(pd.Series(cases["unused"], name="unused")).n_unique == 2
