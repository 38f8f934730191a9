"""A worker killed from outside mid-trial is a recorded crash; the run still ends with a valid model."""
import threading
import time

import psutil
import pytest
from tests.conftest import shared_dataset

from forgeml import AutoML


def _workers():
    me = psutil.Process()
    return [p for p in me.children(recursive=True)
            if any("forgeml.execute._worker" in part for part in p.cmdline())]


@pytest.mark.slow
def test_killing_a_local_worker_mid_trial(tmp_path):
    df, entry = shared_dataset("fair")
    m = AutoML(time_budget=45, families=["random_forest", "lightgbm"], n_jobs=2, verbose=0, path=str(tmp_path))
    killed = []

    def killer():
        deadline = time.time() + 40
        while time.time() < deadline and not killed:
            time.sleep(0.5)
            trials = None
            try:
                import forgeml

                trials = forgeml.trials(str(tmp_path))
            except Exception:
                continue
            if (trials.status == "complete").sum() >= 1 and (trials.status == "running").any():
                ws = _workers()
                if ws:
                    ws[0].kill()
                    killed.append(ws[0].pid)

    t = threading.Thread(target=killer)
    t.start()
    m.fit(df, target=entry["target"])
    t.join()
    assert killed, "no worker was found to kill"
    trials = m.trials()
    crashed = trials[trials.status == "crashed"]
    assert len(crashed) >= 1 and crashed["error"].str.contains("died").all()
    assert (trials.status == "complete").sum() >= 2
    X = df.drop(columns=[entry["target"]])
    assert m.score(X, df[entry["target"]]) > 0.6
