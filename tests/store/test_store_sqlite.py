"""The SQLite experiment store: round trips, WAL, schema versions, corrupt files, resume bookkeeping."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import ConfigError, StoreError
from forgeml.store import DB_NAME, SCHEMA_VERSION, Store, runs_frame, trials_frame
from forgeml.store.schema import MIGRATIONS, current_version, migrate
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

REQUIRED = ["trial_id", "status", "score", "loss", "config", "fit_time", "predict_time", "duration", "fidelity",
            "kind", "error", "oof_path", "model_path", "started_at", "ended_at"]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "run") as s:
        yield s


def full_result(trial_id: int = 0) -> TrialResult:
    return TrialResult(trial_id=trial_id, status=TrialStatus.COMPLETE, score=0.875, loss=-0.875,
                       fold_scores=(0.85, 0.9), fit_time=1.25, predict_time=0.5, duration=2.0, fidelity=0.5,
                       oof_path="artifacts/oof/0.npy", model_path=None, worker="local:123",
                       extra={"n_folds": 2, "note": "ok"})


def test_open_creates_db_in_run_directory(tmp_path):
    with Store.open(tmp_path / "new" / "run") as s:
        assert s.db_path == tmp_path / "new" / "run" / DB_NAME and s.db_path.exists()
    with Store.open(tmp_path / "other.db") as s:  # a .db path is the file itself
        assert s.db_path == tmp_path / "other.db"
    with Store.open(tmp_path / "new" / "run" / DB_NAME) as s:
        assert s.run_dir == tmp_path / "new" / "run"


def test_run_round_trip(store):
    assert store.latest_run() is None
    meta = {"task": "binary", "metric": "roc_auc", "target": "y", "seed": 3, "budget": 60.0, "search": "tpe"}
    first = store.start_run(meta)
    second = store.start_run({**meta, "seed": 4})
    assert first != second and len(first) <= 12
    assert store.latest_run() == second
    run = store.get_run(first)
    assert {k: run[k] for k in meta} == meta
    assert run["status"] == "running" and run["ended_at"] is None and run["best_trial_id"] is None
    store.update_run(first, status="complete", best_trial_id=0, ended_at=123.0, elapsed=9.5, meta={"n_rows": 10})
    run = store.get_run(first)
    assert (run["status"], run["best_trial_id"], run["ended_at"]) == ("complete", 0, 123.0)
    assert run["elapsed"] == 9.5 and run["n_rows"] == 10 and run["task"] == "binary"
    store.add_trial(first, TrialSpec(0, {"a": 1}))
    store.finish_trial(first, full_result(0))
    frame = store.runs()
    assert list(frame["run_id"]) == [second, first]
    row = frame.set_index("run_id").loc[first]
    assert (row["n_trials"], row["n_complete"], row["best_score"], row["task"]) == (1, 1, 0.875, "binary")


def test_run_errors(store):
    run = store.start_run({})
    with pytest.raises(ConfigError, match="unknown run status"):
        store.update_run(run, status="done")
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.get_run("nope")
    with pytest.raises(StoreError, match="no run"):
        store.add_trial("nope", TrialSpec(0, {}))


def test_trial_round_trip(store):
    run = store.start_run({"task": "regression"})
    config = {"family": "lightgbm", "num_leaves": np.int64(31), "lr": np.float32(0.25), "cols": ("a", "b"),
              "nested": {"x": None, "flag": True}}
    spec = TrialSpec(0, config, seed=7, fidelity=0.5, timeout=30.0, kind="cv", parent_id=None, extra={"k": 1})
    store.add_trial(run, spec)
    row = store.trials(run).iloc[0]
    assert row["status"] == "running" and row["started_at"] > 0 and pd.isna(row["ended_at"])
    result = full_result(0)
    store.finish_trial(run, result)
    frame = store.trials(run)
    assert set(REQUIRED) <= set(frame.columns) and len(frame) == 1
    row = frame.iloc[0]
    assert row["config"] == {"family": "lightgbm", "num_leaves": 31, "lr": 0.25, "cols": ["a", "b"],
                             "nested": {"x": None, "flag": True}}
    assert (row["status"], row["score"], row["kind"], row["fidelity"]) == ("complete", 0.875, "cv", 0.5)
    assert row["fold_scores"] == [0.85, 0.9] and row["error"] is None and row["ended_at"] >= row["started_at"]
    assert store.trial_results(run) == [result]
    assert store.trial_specs(run)[0] == TrialSpec(0, {**row["config"]}, seed=7, fidelity=0.5, timeout=30.0,
                                                  kind="cv", extra={"k": 1})


def test_failed_trial_keeps_error_and_unknown_trial_is_inserted(store):
    run = store.start_run({})
    err = ErrorInfo("ValueError", "bad value\nsecond line", "Traceback ...")
    failed = TrialResult(3, TrialStatus.FAILED, error=err, duration=0.25, fidelity=1.0, worker="w")
    store.finish_trial(run, failed)  # never added: inserted, not lost
    row = store.trials(run).iloc[0]
    assert row["error"] == "ValueError: bad value" and row["error_traceback"] == "Traceback ..."
    assert store.trial_results(run) == [failed]


def test_duplicate_trial_and_next_trial_id(store):
    run = store.start_run({})
    assert store.next_trial_id(run) == 0
    for tid in (0, 1, 5):
        store.add_trial(run, TrialSpec(tid, {}))
    assert store.next_trial_id(run) == 6
    with pytest.raises(StoreError, match="already recorded"):
        store.add_trial(run, TrialSpec(1, {}))


def test_trials_across_runs(store):
    a, b = store.start_run({}), store.start_run({})
    store.add_trial(a, TrialSpec(0, {"x": 1}))
    store.add_trial(b, TrialSpec(0, {"x": 2}))
    every = store.trials()
    assert list(zip(every["run_id"], every["trial_id"])) == [(a, 0), (b, 0)]
    assert list(store.trials(b)["config"]) == [{"x": 2}]
    empty = store.trials("no-such-run")
    assert empty.empty and set(REQUIRED) <= set(empty.columns)


def test_mark_running_as_on_resume(store):
    run = store.start_run({})
    for tid in range(3):
        store.add_trial(run, TrialSpec(tid, {}))
    store.finish_trial(run, full_result(1))
    assert [r.trial_id for r in store.trial_results(run)] == [1]
    assert store.mark_running_as(run, "crashed") == 2
    results = {r.trial_id: r for r in store.trial_results(run)}
    assert sorted(results) == [0, 1, 2]
    assert results[0].status is TrialStatus.CRASHED and results[0].error.type == "Interrupted"
    assert results[1].status is TrialStatus.COMPLETE
    assert store.mark_running_as(run, TrialStatus.CRASHED) == 0


def test_wal_mode_and_concurrent_reader(tmp_path):
    with Store.open(tmp_path) as writer:
        run = writer.start_run({})
        writer.add_trial(run, TrialSpec(0, {}))
        raw = sqlite3.connect(tmp_path / DB_NAME)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
        assert list(trials_frame(tmp_path)["status"]) == ["running"]  # a second connection sees the commit
        assert list(runs_frame(tmp_path)["run_id"]) == [run]


def test_newer_schema_is_refused(tmp_path):
    Store.open(tmp_path).close()
    raw = sqlite3.connect(tmp_path / DB_NAME)
    raw.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", (SCHEMA_VERSION + 7,))
    raw.commit()
    raw.close()
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path)
    msg = str(info.value)
    assert f"version {SCHEMA_VERSION + 7}" in msg and f"version {SCHEMA_VERSION} " in msg and "upgrade" in msg


def test_forward_migration_keeps_data(tmp_path):
    db = tmp_path / "old.db"
    with Store.open(db) as s:
        run = s.start_run({"task": "binary"})
        s.add_trial(run, TrialSpec(0, {"a": 1}))
    newer = {**MIGRATIONS, SCHEMA_VERSION + 1: ["ALTER TABLE trials ADD COLUMN note TEXT"]}
    conn = sqlite3.connect(db, isolation_level=None)
    assert current_version(conn) == SCHEMA_VERSION
    assert migrate(conn, str(db), newer) == SCHEMA_VERSION + 1
    assert conn.execute("SELECT trial_id, note FROM trials").fetchall() == [(0, None)]
    assert migrate(conn, str(db), newer) == SCHEMA_VERSION + 1  # idempotent
    conn.close()


def test_corrupt_file_is_store_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not an sqlite database at all " * 200)
    with pytest.raises(StoreError, match=r"corrupt or not an SQLite database.*move it"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match=str(tmp_path / DB_NAME).replace("\\", "\\\\")):
        trials_frame(tmp_path)


def test_foreign_sqlite_file_is_store_error(tmp_path):
    raw = sqlite3.connect(tmp_path / "x.db")
    raw.execute("CREATE TABLE stuff (a)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not a forgeml store"):
        Store.open(tmp_path / "x.db")


def test_readers_do_not_create_a_store(tmp_path):
    with pytest.raises(StoreError, match="no forgeml store"):
        trials_frame(tmp_path / "missing")
    with pytest.raises(StoreError, match="no forgeml store"):
        runs_frame(tmp_path)
    assert not (tmp_path / DB_NAME).exists() and not (tmp_path / "missing").exists()


def test_trials_frame_defaults_to_latest_run(tmp_path):
    with Store.open(tmp_path) as s:
        assert trials_frame(tmp_path).empty and "config" in trials_frame(tmp_path).columns
        a, b = s.start_run({}), s.start_run({})
        s.add_trial(a, TrialSpec(0, {"x": 1}))
        s.add_trial(b, TrialSpec(0, {"x": 2}))
        s.add_trial(b, TrialSpec(1, {"x": 3}))
    assert list(trials_frame(tmp_path)["config"]) == [{"x": 2}, {"x": 3}]
    assert list(trials_frame(tmp_path, a)["config"]) == [{"x": 1}]
    assert len(trials_frame(tmp_path, all_runs=True)) == 3
    with pytest.raises(StoreError, match="no run 'zzz'"):
        trials_frame(tmp_path, "zzz")
