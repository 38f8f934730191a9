"""NAS as a product: AutoML(nas=True) cross-validates and ensembles the found network; `forgeml nas` searches,
prints and saves one that `forgeml predict` uses in a fresh process."""
import json
import subprocess
import sys

import numpy as np
import pytest
from nas_helpers import table

from forgeml import AutoML, load
from forgeml.errors import ConfigError


def _table(n=300, seed=0):
    return table(n, seed, n_features=5, rule=lambda X: X[:, 0] * X[:, 1] + 0.3 * X[:, 2] > 0, labels=("a", "b"),
                 target="y")


def test_automl_nas_adds_the_found_network_to_the_candidates(tmp_path):
    df = _table()
    # trials, not the clock, end the search (a loaded machine still gets the network cross-validated)
    model = AutoML(time_budget=60, max_trials=4, nas={"time_share": 0.125, "epochs": (2, 8)}, families=["linear"],
                   verbose=0, feature_engineering=False, seed=0, path=str(tmp_path / "run")).fit(df, target="y")
    lb = model.leaderboard()
    nas_rows = lb[lb["family"] == "nas"]
    assert len(nas_rows) >= 1
    score = lb.columns[lb.columns.str.startswith("cv_")][0]
    assert np.isfinite(nas_rows[score]).all()
    # without generated products the interaction x0*x1 is beyond a linear model: the network must beat it
    assert nas_rows[score].max() > lb.loc[lb["family"] == "linear", score].max()
    again = load(str(tmp_path / "run"))
    X = df.drop(columns="y")
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("spec, match", [({"bogus": 1}, "unknown nas option.*'bogus'"), ("yes", "nas must be True"),
                                         ({"time_share": 1.5}, "time_share")])
def test_bad_nas_options(spec, match):
    with pytest.raises(ConfigError, match=match):
        AutoML(time_budget=5, nas=spec, verbose=0).fit(_table(), target="y")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "forgeml.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_nas_searches_prints_saves_and_predicts(tmp_path):
    df = _table()
    df.to_csv(tmp_path / "train.csv", index=False)
    df.drop(columns="y").head(20).to_csv(tmp_path / "new.csv", index=False)
    out = _cli("nas", "train.csv", "--target", "y", "--strategy", "rl", "--time-budget", "8", "--epochs", "2,6",
               "--out", "model", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "macro network: n_layers=" in out.stdout and "validation neg_log_loss" in out.stdout
    genotype = json.loads((tmp_path / "model" / "genotype.json").read_text())
    assert genotype["space"] == "macro" and "width" in genotype
    pred = _cli("predict", "model", "new.csv", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    lines = pred.stdout.strip().splitlines()
    assert lines[0] == "y" and len(lines) == 21 and set(lines[1:]) <= {"a", "b"}


def test_cli_nas_bad_input_is_one_clear_line(tmp_path):
    _table().to_csv(tmp_path / "train.csv", index=False)
    out = _cli("nas", "train.csv", "--target", "y", "--image-shape", "3x3", "--time-budget", "5", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: image_shape 3x3 needs a multiple of 9")
    assert "Traceback" not in out.stderr
