"""The ensemble and the final refit with row weights."""
import numpy as np
import pandas as pd
import pytest

from forgeml.metrics import METRICS
from forgeml.orchestrate.final import choose_weights
from forgeml.orchestrate.loop import SearchState
from forgeml.trial import TrialResult, TrialStatus


def test_choose_weights_scores_the_blends_on_the_masked_rows_weights(tmp_path):
    # trial 0 is right on the first 600 rows, trial 1 on the last 200; weighing those 5x makes trial 1 the pick
    n = 800
    y = np.tile([0, 1], n // 2)
    good, bad = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[1 - y] * 0.8 + 0.1
    first = np.arange(n) < 600
    st = SearchState()
    for tid, pred in [(0, np.where(first[:, None], good, bad)), (1, np.where(first[:, None], bad, good))]:
        np.save(tmp_path / f"t{tid}.npy", pred)
        st.results[tid] = TrialResult(tid, TrialStatus.COMPLETE, score=0.0, loss=0.0, fit_time=1.0,
                                      oof_path=str(tmp_path / f"t{tid}.npy"), extra={"n_folds": 5})
    mask = np.ones(n, bool)
    mask[:100] = False  # the ensemble sees the masked rows only, with their own weights
    w = np.where(first, 1.0, 5.0)
    m = METRICS["accuracy"]
    assert choose_weights(st, y, mask, m, ensemble=True)[0] == {0: 1.0}
    weights, score = choose_weights(st, y, mask, m, ensemble=True, sample_weight=w)
    assert weights == {1: 1.0}
    assert score == pytest.approx(1000 / 1500)  # 200 rows x 5 right out of 500 x 1 + 200 x 5


def test_the_final_refit_fits_with_every_weight(tmp_path):
    from forgeml.data.infer import infer_schema
    from forgeml.evaluate.evaluator import EvalContext
    from forgeml.evaluate.refit import refit_in_process
    from forgeml.space import Config

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200)})
    group = rng.random(200) < 0.5
    df["y"] = np.where(group, 10.0, 0.0)
    schema = infer_schema(df, "y", task="regression")
    y = df["y"].to_numpy()
    w = np.where(group, 3.0, 1.0)
    ctx = EvalContext(X=df[["a"]], y=y, folds=[], schema_json=schema.to_json(), metric="rmse", run_dir=str(tmp_path),
                      sample_weight=w)
    config = Config({"family": "linear", "linear.model": "ridge", "linear.alpha": 1e-5})
    pipe, _ = refit_in_process(config, ctx, seed=0, n_threads=1)
    assert pipe.predict(df[["a"]]).mean() == pytest.approx(np.average(y, weights=w), abs=0.2)  # 7.5, not 5
