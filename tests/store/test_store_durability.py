"""Artifacts are written atomically, and a writer killed with SIGKILL loses no committed trial."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from forgeml.errors import StoreError
from forgeml.store import ArtifactStore, Store
from forgeml.trial import TrialStatus


def test_array_and_object_round_trip(tmp_path):
    art = ArtifactStore(tmp_path)
    arr = np.random.default_rng(0).normal(size=(50, 3))
    path = art.save_array("oof/trial_3", arr)
    assert path.endswith("trial_3.npy") and os.path.isabs(path)
    np.testing.assert_array_equal(art.load_array(path), arr)
    np.testing.assert_array_equal(art.load_array("artifacts/oof/trial_3.npy"), arr)  # relative to the run dir
    obj = {"weights": [0.25, 0.75], "members": (1, 2)}
    opath = art.save_object("ensemble", obj)
    assert opath.endswith("ensemble.pkl") and art.load_object(opath) == obj
    assert pickle.loads(pickle.dumps(art)).root == art.root  # workers receive it by pickle


@pytest.mark.parametrize("name", ["../escape", "/abs/path", ""])
def test_artifact_names_stay_inside_the_run_dir(tmp_path, name):
    with pytest.raises(StoreError, match="relative path"):
        ArtifactStore(tmp_path).save_array(name, np.zeros(2))


def test_missing_or_damaged_artifact_is_store_error(tmp_path):
    art = ArtifactStore(tmp_path)
    with pytest.raises(StoreError, match="cannot read"):
        art.load_array(tmp_path / "nope.npy")
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(StoreError, match="damaged"):
        art.load_object(tmp_path / "bad.pkl")


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle me")


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    art = ArtifactStore(tmp_path)
    path = art.save_object("model", {"version": 1})
    with pytest.raises(RuntimeError, match="cannot pickle me"):
        art.save_object("model", {"version": 2, "bad": _Unpicklable()})
    assert art.load_object(path) == {"version": 1}
    assert sorted(p.name for p in art.root.iterdir()) == ["model.pkl"]


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from forgeml.store import ArtifactStore, Store
    from forgeml.trial import TrialResult, TrialSpec, TrialStatus

    run_dir = sys.argv[1]
    store, art = Store.open(run_dir), ArtifactStore(run_dir)
    run = store.start_run({"task": "binary"})
    print(run, flush=True)
    i = 0
    while True:
        store.add_trial(run, TrialSpec(i, {"i": i}))
        path = art.save_array(f"oof/{i}", np.full(20_000, float(i)))
        store.finish_trial(run, TrialResult(i, TrialStatus.COMPLETE, score=float(i), loss=-float(i), oof_path=path))
        print(i, flush=True)
        i += 1
""")


@pytest.mark.parametrize("n_seen", [3, 40])
def test_sigkill_of_writer_loses_no_committed_trial(tmp_path, n_seen):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        committed = [int(proc.stdout.readline()) for _ in range(n_seen)]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert committed == list(range(n_seen))
    with Store.open(run_dir) as store:
        results = {r.trial_id: r for r in store.trial_results(run_id)}
        for i in committed:
            assert results[i].status is TrialStatus.COMPLETE and results[i].score == float(i)
        art = ArtifactStore(run_dir)
        for r in results.values():  # every recorded artifact is whole
            assert art.load_array(r.oof_path)[0] == r.score
        store.mark_running_as(run_id, TrialStatus.CRASHED)  # the trial in flight, if any
        assert set(store.trials(run_id)["status"]) <= {"complete", "crashed"}
