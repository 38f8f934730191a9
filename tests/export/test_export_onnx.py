"""ONNX export: real small fits, the written file run by onnxruntime and compared with forgeml's predictions."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forgeml import AutoML
from forgeml.export import ExportError, check_onnx, onnx_feed, to_onnx

ort = pytest.importorskip("onnxruntime")
CLI = [sys.executable, "-m", "forgeml.cli.main"]


def _table(n=300, seed=0):
    """Numbers with missing values, a categorical column with missing values, a class and a numeric target."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(0, 10, n),
                       "colour": rng.choice(["red", "green", "blue", "grey"], n), "d": rng.integers(0, 5, n) * 1.0})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    df.loc[rng.random(n) < 0.1, "colour"] = None
    score = df["a"].fillna(0) + 0.3 * df["b"] - 1.5 * (df["colour"] == "red") - 1
    df["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-score)), "yes", "no")
    df["value"] = 3 * score + rng.normal(size=n)
    return df


def _fit(df, target, families, max_trials=2, **kw):
    drop = "value" if target == "label" else "label"
    return AutoML(time_budget=None, max_trials=max_trials, seed=0, families=families, ensemble=None, verbose=0,
                  n_jobs=1, **kw).fit(df.drop(columns=[drop]), target=target)


@pytest.fixture(scope="module")
def data():
    return _table(), _table(80, seed=1).drop(columns=["label", "value"])


@pytest.fixture(scope="module")
def lgbm_clf(data):
    return _fit(data[0], "label", ["lightgbm"], max_trials=1)


def _run(path, X):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, onnx_feed(sess, X))))


def test_lightgbm_classifier_with_categorical_and_missing(data, lgbm_clf, tmp_path):
    _, test = data
    lines = []
    result = to_onnx(lgbm_clf, tmp_path / "m.onnx", progress=lines.append)
    assert result.path.exists() and result.max_abs_diff < 1e-4
    assert lines[0].startswith("export: converting member 1/1 (lightgbm)") and "verified on 200 rows" in lines[-1]
    out = _run(result.path, test)
    proba = lgbm_clf.predict_proba(test)
    np.testing.assert_allclose(out["probabilities"], proba.to_numpy(), atol=1e-5)
    assert list(out["label"]) == list(lgbm_clf.predict(test))
    # the documented input format, built by hand: float64 [N, 1] numbers, strings [N, 1] ("" = missing)
    feed = {c: test[[c]].to_numpy("float64") for c in ("a", "b", "d")}
    feed["colour"] = test[["colour"]].fillna("").to_numpy(object)
    sess = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(["probabilities"], feed)[0], proba.to_numpy(), atol=1e-5)


def test_linear_classifier_and_regressor(data, tmp_path):
    train, test = data
    for target in ("label", "value"):
        model = _fit(train, target, ["linear"], max_trials=3)
        result = to_onnx(model, tmp_path / f"{target}.onnx", sample=train.drop(columns=["label", "value"]))
        out = _run(result.path, test)
        if target == "label":
            np.testing.assert_allclose(out["probabilities"], model.predict_proba(test).to_numpy(), atol=1e-5)
            assert list(out["label"]) == list(model.predict(test))
        else:
            np.testing.assert_allclose(out["prediction"].ravel(), model.predict(test), rtol=1e-5, atol=1e-4)


def test_a_target_encoded_column_exports_as_the_model_reads_it(tmp_path):
    """A column above ``max_onehot`` levels is target-encoded, and a training frame's category columns reach
    TargetEncoder as integer codes: the export must still look up the strings (known, missing and unseen)."""
    rng = np.random.default_rng(3)
    train, test = _table(400, seed=3), _table(60, seed=4).drop(columns=["label", "value"])
    shops = [f"shop{i}" for i in range(30)]
    train["shop"] = rng.choice(shops, len(train))
    test["shop"] = rng.choice([*shops[:5], "shop99", None], len(test))
    model = _fit(train, "label", ["linear"], max_trials=1)
    member = model.best_pipeline_.members[0]
    enc = member.steps[0][1].encoder_
    assert "target" in enc.groups_ and enc.target_codes_ is not None  # what this test is about
    result = to_onnx(model, tmp_path / "t.onnx", sample=train.drop(columns=["label", "value"]))
    np.testing.assert_allclose(_run(result.path, test)["probabilities"], model.predict_proba(test).to_numpy(),
                               atol=1e-5)


def test_lightgbm_regressor(data, tmp_path):
    train, test = data
    model = _fit(train, "value", ["lightgbm"], max_trials=1)
    result = to_onnx(model, tmp_path / "r.onnx")
    np.testing.assert_allclose(_run(result.path, test)["prediction"].ravel(), model.predict(test), rtol=1e-5,
                               atol=1e-4)


def test_unsupported_part_is_named_and_nothing_written(data, tmp_path):
    train, _ = data
    model = _fit(train, "label", ["knn"], max_trials=1)
    bad = [p for p in check_onnx(model) if not p.ok]
    assert bad and "k-nearest neighbours" in bad[0].reason
    target = tmp_path / "knn.onnx"
    with pytest.raises(ExportError, match=r"member 1 \(knn\).*k-nearest neighbours: not supported"):
        to_onnx(model, target)
    assert not target.exists()


def test_cli_export_and_errors(data, lgbm_clf, tmp_path):
    model_dir = tmp_path / "model"
    lgbm_clf.save(str(model_dir))
    p = subprocess.run([*CLI, "export", str(model_dir), "--format", "onnx"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "export: converting member 1/1 (lightgbm)" in p.stderr and "export: verified on" in p.stderr
    assert (model_dir / "model.onnx").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    p = subprocess.run([*CLI, "export", str(empty)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error: ")
