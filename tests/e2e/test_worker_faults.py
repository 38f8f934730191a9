"""A worker killed from outside mid-trial is a recorded crash; the run still ends with a valid model."""
import contextlib
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
    m = AutoML(time_budget=25, families=["random_forest", "lightgbm"], n_jobs=2, verbose=0, path=str(tmp_path))
    killed = []

    def killer():
        """Kill a worker while a trial runs, until the store shows the crash: a worker may be idle, or its trial
        may finish just before the kill, so one kill proves nothing; waiting on the crash itself cannot lose."""
        import forgeml

        deadline = time.time() + 22
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                trials = forgeml.trials(str(tmp_path))
            except Exception:
                continue
            if (trials.status == "crashed").any():
                return
            if (trials.status == "complete").sum() >= 1 and (trials.status == "running").any():
                for w in _workers():  # every worker: the one running the trial is among them
                    with contextlib.suppress(psutil.NoSuchProcess):
                        w.kill()
                        killed.append(w.pid)
                time.sleep(2.0)  # let the run record what the kill did before looking again

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
