"""``Preprocessor.describe_features`` / ``feature_sources``: every output column, named after its input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.data.infer import infer_schema
from forgeml.errors import NotFittedError
from forgeml.features.preprocess import Preprocessor


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x": rng.normal(size=n), "city": rng.choice(["Paris", "Rome", "Oslo"], n),
        "shop": rng.choice([f"s{i}" for i in range(40)], n),
        "when": pd.date_range("2020-01-01", periods=n).astype(str),
        "note": [" ".join(rng.choice(["red", "blue", "green", "cat", "dog"], 5)) + f" w{i}" for i in range(n)],
        "y": rng.integers(0, 2, n)})
    df.loc[::7, "x"] = np.nan
    return df


@pytest.mark.parametrize("encoding", ["onehot", "native", "ordinal", "target"])
def test_every_output_column_is_described_with_its_source(encoding):
    df = _frame()
    schema = infer_schema(df, "y")
    pre = Preprocessor.from_schema(schema, {"cat_encoding": encoding, "indicators": True})
    with pytest.raises(NotFittedError):
        pre.describe_features()
    out = pre.fit_transform(df.drop(columns="y"), df["y"])
    how, src = pre.describe_features(), pre.feature_sources()
    assert list(how) == list(out.columns) == list(src)
    assert how["x"] == "input" and how["x__missing"] == "missing indicator of x" and src["x__missing"] == ("x",)
    assert how["when_month"] == "month of when" and src["when_month"] == ("when",)
    assert how["note_words"] == "word count of note" and how["note_svd0"].startswith("TF-IDF SVD component 0")
    city = [c for c in out.columns if src[c] == ("city",)]
    assert city and all(src[c] == ("city",) for c in city)
    if encoding == "onehot":
        assert how["city_Paris"] == "one-hot city=Paris" and how["shop__te"] == "target encoding of shop"
    elif encoding == "target":
        assert how["city__te"] == "target encoding of city"
