"""AutoML on the Ray backend, end to end, against the real Ray head (``FORGEML_RAY_ADDRESS`` or conftest's)."""
from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import shared_dataset

from forgeml import AutoML

pytestmark = pytest.mark.ray


def test_automl_on_ray_backend(ray_address, tmp_path):
    df, entry = shared_dataset("breast_cancer")
    m = AutoML(backend="ray", ray_address=ray_address, time_budget=90, max_trials=4, n_jobs=2,
               families=["lightgbm", "linear"], verbose=0, path=str(tmp_path))
    m.fit(df, target=entry["target"])
    trials = m.trials()
    cv = trials[trials.kind == "cv"]
    assert len(cv) == 4 and (cv.status == "complete").all()
    assert cv["worker"].str.startswith("ray:").all()  # the trials really ran in Ray workers
    X = df.drop(columns=[entry["target"]])
    assert m.score(X, df[entry["target"]]) > 0.95
    assert np.isfinite(m.predict_proba(X).to_numpy()).all()
