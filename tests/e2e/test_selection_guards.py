"""Issue 17 guards: no leakage with a shuffled target, and a 500-column table within the width cap, the memory
bound and the time budget."""
from __future__ import annotations

import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from forgeml import AutoML
from forgeml.data.infer import infer_schema
from forgeml.errors import SearchWarning
from forgeml.features.select import MAX_FEATURES, PEAK_MEMORY_BASE_MB, PEAK_MEMORY_MULTIPLE, RANKERS
from forgeml.models import get_families
from forgeml.models.base import FitContext
from forgeml.pipeline.builder import build_pipeline
from forgeml.pipeline.joint import family_config, joint_space


def _shuffled(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Realistic columns (numeric with gaps, low- and high-cardinality categoricals) and a target with no link."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(12)})
    df["city"] = rng.choice(list("abcdefgh"), n)
    df["shop"] = rng.choice([f"s{i}" for i in range(120)], n)
    df.loc[rng.choice(n, 40, replace=False), "x0"] = np.nan
    df["y"] = rng.permutation(np.r_[np.zeros(n // 2), np.ones(n - n // 2)]).astype(int)
    return df


def _wide(n: int = 1000, n_num: int = 400, n_cat: int = 100, levels: int = 15, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {f"n{i}": rng.normal(size=n) for i in range(n_num)}
    data.update({f"c{i}": rng.choice([f"v{j}" for j in range(levels)], n) for i in range(n_cat)})
    df = pd.DataFrame(data)
    df["y"] = (df["n0"] + df["n1"] + rng.normal(size=n) > 0).astype(int)
    return df


def _ctx(n_rows: int, n_features: int) -> FitContext:
    return FitContext(task="binary", n_rows=n_rows, n_features=n_features, n_classes=2, seed=0, n_threads=1)


@pytest.mark.parametrize("choice", [{"select": m, "select_keep": 0.25} for m in RANKERS]
                         + [{"select": "correlation"}, {"missing_rows": "drop", "select": "variance"}])
def test_no_leakage_with_each_selection_choice(choice):
    df = _shuffled()
    train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["y"])
    schema = infer_schema(train, "y")
    fams = get_families(["linear"], _ctx(len(train), 14), check_applies=False)
    space = joint_space(fams, schema, _ctx(len(train), 14))
    cfg = family_config("linear", fams["linear"], {"C": 1.0, "penalty": "l2", "class_weight": "none"}, schema,
                        space, prep={"cat_encoding": "target", **choice})
    pipe = build_pipeline(cfg, schema, fams, _ctx(len(train), 14))
    pipe.fit(train.drop(columns="y"), train["y"].to_numpy())
    auc = roc_auc_score(test["y"], pipe.predict_proba(test.drop(columns="y"))[:, 1])
    assert 0.4 <= auc <= 0.6, auc


def test_no_leakage_through_an_automl_run_with_engineering_on():
    df = _shuffled(seed=1)
    train, test = train_test_split(df, test_size=0.3, random_state=0, stratify=df["y"])
    # the run tries these first (in place of the shipped portfolio, whose 1,700-tree entries would take most of
    # the test's time): every step that looks at the target before the model, fitted inside the folds or not
    engineered = [{"family": "linear", "linear.prep.cat_encoding": "target", "linear.prep.generate": "arithmetic",
                   "linear.prep.select": "mutual_info"},
                  {"family": "lightgbm", "lightgbm.prep.cat_encoding": "target", "lightgbm.prep.count_encoding": True,
                   "lightgbm.prep.group_stats": True, "lightgbm.prep.select": "correlation"}]
    m = AutoML(max_trials=8, time_budget=90, families=["linear", "lightgbm"], search="random", n_jobs=1,
               verbose=0, seed=0, portfolio=engineered).fit(train, target="y")
    t = m.trials()
    cv = t[(t.kind == "cv") & (t.status == "complete")]
    assert cv.config.map(lambda c: c.get("linear.prep.select") == "mutual_info").any()
    assert cv.config.map(lambda c: c.get("lightgbm.prep.select") == "correlation").any()
    # a selection or encoding fitted on the validation rows would score the noise well in cross-validation
    assert (cv.score <= 0.6).all(), cv.score.tolist()
    auc = roc_auc_score(test["y"], m.predict_proba(test.drop(columns="y"))[1])
    assert 0.4 <= auc <= 0.6, auc


def test_a_500_column_table_stays_within_the_width_cap_and_the_memory_bound():
    df = _wide()
    X, y = df.drop(columns="y"), df["y"].to_numpy()
    schema = infer_schema(df, "y")
    fams = get_families(["linear"], _ctx(len(df), 500), check_applies=False)
    space = joint_space(fams, schema, _ctx(len(df), 500))
    input_mb = X.memory_usage(deep=True).sum() / 1e6
    for choice in ({"select": "none"}, {"select": "correlation"}):
        cfg = family_config("linear", fams["linear"], fams["linear"].defaults(_ctx(len(df), 500))[0], schema, space,
                            prep={"cat_encoding": "onehot", **choice})
        pipe = build_pipeline(cfg, schema, fams, _ctx(len(df), 500))
        tracemalloc.start()
        try:
            pipe.fit(X, y)
            peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
        assert pipe.named_steps["prep"].get_feature_names_out().size > MAX_FEATURES  # one-hot makes ~1,900
        assert pipe.named_steps["model"].n_features_in_ <= MAX_FEATURES
        assert peak_mb <= PEAK_MEMORY_MULTIPLE * input_mb + PEAK_MEMORY_BASE_MB, (choice, peak_mb, input_mb)


def test_a_500_column_table_within_the_time_budget():
    df = _wide()
    budget = 12
    t0 = time.time()
    with warnings.catch_warnings():  # on a loaded machine no trial may finish: the fallback must obey the cap too
        warnings.simplefilter("ignore", SearchWarning)
        m = AutoML(time_budget=budget, families=["linear"], n_jobs=1, verbose=0, seed=0).fit(df, target="y")
    took = time.time() - t0
    assert took <= budget * 1.05 + 5, took
    pipes = [p for member in m.best_pipeline_.members for p in getattr(member, "pipelines", [member])]
    for p in pipes:
        assert "select" in p.named_steps and p.named_steps["model"].n_features_in_ <= MAX_FEATURES
    assert len(m.predict(df.drop(columns="y"))) == len(df)
