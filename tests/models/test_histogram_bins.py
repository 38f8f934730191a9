"""Histogram boosters bin wide tables more coarsely (their split search scans columns x bins at every leaf)."""
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from forgeml.models import get_families
from forgeml.models._common import MIN_BINS, histogram_bins
from forgeml.models.base import FitContext

DEFAULTS = {"lightgbm": ("max_bin", 255), "xgboost": ("max_bin", 256), "catboost": ("border_count", 254)}


def _ctx(n_features: int) -> FitContext:
    return FitContext(task="binary", n_rows=200, n_features=n_features, n_classes=2)


def test_bins_keep_the_library_default_on_narrow_tables_and_shrink_on_wide_ones():
    assert histogram_bins(_ctx(10), 255) == 255
    assert histogram_bins(_ctx(500), 255) == 255
    assert histogram_bins(_ctx(1_000), 255) == 128
    assert histogram_bins(_ctx(2_000), 256) == 64
    assert histogram_bins(_ctx(100_000), 254) == MIN_BINS


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_families_build_with_the_bins_and_fit_on_a_wide_table(name):
    family = get_families([name], _ctx(1_000))[name]
    param, default = DEFAULTS[name]
    params = dict(family.space(_ctx(1_000)).default())
    params.update({"n_estimators": 5} if "n_estimators" in params else {"iterations": 5})
    narrow = family.build(params, _ctx(10))
    wide = family.build(params, _ctx(1_000))
    assert narrow.get_params()[param] == default
    assert wide.get_params()[param] == 128
    assert clone(wide).get_params()[param] == 128

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 1_000)), columns=[f"c{i}" for i in range(1_000)])
    y = (X["c0"] + X["c1"] > 0).astype(int).to_numpy()
    proba = wide.fit(X, y).predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1.0)
    if name == "catboost":  # the library was given the bins, not only the wrapper
        assert wide.model_.get_params()["border_count"] == 128


def test_a_catboost_model_pickled_before_border_count_existed_still_works():
    family = get_families(["catboost"], _ctx(10))["catboost"]
    params = {**dict(family.space(_ctx(10)).default()), "iterations": 5}
    old = family.build(params, _ctx(10))
    del old.__dict__["border_count"]  # as unpickled from a model saved before the parameter
    assert "CatBoost" in repr(old) and old.get_params()["border_count"] is None
    assert clone(old).get_params()["border_count"] is None
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    assert old.fit(X, (X["a"] > 0).astype(int).to_numpy()).predict_proba(X).shape == (60, 2)
