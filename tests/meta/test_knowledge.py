"""The knowledge base: runs append, neighbours come back nearest first, concurrent writers lose nothing, and a
file that cannot be used is a warning and a cold start, never a failed fit."""
import multiprocessing as mp
import sqlite3

import numpy as np
import pytest

from forgeml.errors import SearchWarning
from forgeml.meta.knowledge import ConfigRecord, KnowledgeBase, KnowledgeError, RunRecord, default_path, open_or_warn
from forgeml.meta.metafeatures import NAMES, MetaFeatures


def _mf(x: float, task="binary"):
    return MetaFeatures(task, {n: x + i * 0.01 for i, n in enumerate(NAMES)})


def _run(name, x, losses=(0.3, 0.2, 0.4), metric="log_loss", task="binary"):
    configs = [ConfigRecord({"family": f"f{i}", "f.c": i}, score=loss, loss=loss, fit_time=1.0, source="optimizer")
               for i, loss in enumerate(losses)]
    return RunRecord(name, f"fp-{name}", metric, False, _mf(x, task), configs, time_budget=30.0)


def test_runs_are_appended_and_summarised(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        kb.add_run(_run("a", 0.0))
        kb.add_run(_run("a", 0.0, losses=(0.1,)))
        kb.add_run(_run("b", 1.0))
        runs, summary = kb.runs(), kb.summary().set_index("dataset")
    assert len(runs) == 3 and runs["configs"].tolist() == [3, 1, 3]
    assert summary.loc["a", "runs"] == 2 and summary.loc["a", "configs"] == 4
    assert summary.loc["a", "best_score"] == pytest.approx(0.1)  # log loss: lower is better
    assert summary.loc["b", "best_family"] == "f1"
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:  # it persists
        assert len(kb.runs()) == 3


def test_neighbours_are_the_nearest_datasets_of_the_same_task_and_metric(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        for name, x in (("near", 0.1), ("mid", 1.0), ("far", 5.0)):
            kb.add_run(_run(name, x))
        kb.add_run(_run("regression", 0.0, metric="rmse", task="regression"))
        got = kb.neighbours(_mf(0.0), "log_loss", k=2, per_dataset=2)
        assert [n.dataset for n in got] == ["near", "mid"] and got[0].distance < got[1].distance
        assert [c["family"] for c in got[0].configs] == ["f1", "f0"]  # best (lowest loss) first
        assert [n.dataset for n in kb.neighbours(_mf(0.0), "log_loss", exclude=["fp-near"])] == ["mid", "far"]
        assert kb.neighbours(_mf(0.0), "log_loss", keep=lambda sketch: False) == []
        assert kb.neighbours(_mf(0.0), "roc_auc") == []


def test_a_neighbours_defaults_and_what_did_no_better_are_not_offered(tmp_path):
    def rec(i, loss, source):
        return ConfigRecord({"family": f"f{i}", "f.c": i}, score=loss, loss=loss, fit_time=1.0, source=source)

    beaten = [rec(0, 0.30, "default"), rec(1, 0.25, "default"), rec(2, 0.20, "optimizer"), rec(3, 0.22, "portfolio"),
              rec(4, 0.25, "optimizer"), rec(5, 0.40, "optimizer")]
    unbeaten = [rec(0, 0.10, "default"), rec(1, 0.20, "optimizer")]
    with KnowledgeBase.open(tmp_path / "kb.db") as kb:
        kb.add_run(RunRecord("beaten", "fp-beaten", "log_loss", False, _mf(0.1), beaten))
        kb.add_run(RunRecord("unbeaten", "fp-unbeaten", "log_loss", False, _mf(0.2), unbeaten))
        kb.add_run(_run("unsourced", 0.3))  # recorded no defaults: no bar
        got = {n.dataset: [c["family"] for c in n.configs] for n in kb.neighbours(_mf(0.0), "log_loss", per_dataset=5)}
    # only what scored better than the best default (0.25); a tie is no evidence
    assert got == {"beaten": ["f2", "f3"], "unsourced": ["f1", "f0", "f2"]}


def _writer(path, tag, n):
    kb = KnowledgeBase.open(path)
    for i in range(n):
        kb.add_run(_run(f"{tag}{i}", float(i), losses=tuple(np.linspace(0.1, 0.9, 20))))
    kb.close()


def test_two_processes_writing_at_once_lose_no_rows(tmp_path):
    path = tmp_path / "shared" / "kb.db"  # neither process finds it: both create it
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, tag, 40)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with KnowledgeBase.open(path) as kb:
        runs = kb.runs()
        assert len(runs) == 80 and runs["configs"].sum() == 80 * 20
        assert sorted(runs["dataset"]) == sorted([f"{t}{i}" for t in "ab" for i in range(40)])


def test_an_unusable_file_is_a_warning_and_a_cold_start(tmp_path):
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KnowledgeError, match="corrupt or not a forgeml knowledge base"):
        KnowledgeBase.open(bad)
    with pytest.warns(SearchWarning, match="starts without past knowledge"):
        assert open_or_warn(bad) is None

    newer = tmp_path / "newer.db"
    KnowledgeBase.open(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE info SET value = '99' WHERE key = 'format'")
    with pytest.raises(KnowledgeError, match="newer or unknown forgeml"):
        KnowledgeBase.open(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE info SET value = 'v2' WHERE key = 'format'")  # not a number: no raw ValueError
    with pytest.warns(SearchWarning, match="unknown forgeml"):
        assert open_or_warn(newer) is None

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.warns(SearchWarning, match="cannot open the knowledge base"):
        assert open_or_warn(blocker / "kb.db") is None  # its parent is a file: not writable
    assert open_or_warn(None) is None


def test_default_path_follows_forgeml_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEML_HOME", str(tmp_path))
    assert default_path() == tmp_path / "knowledge.db"
    monkeypatch.delenv("FORGEML_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "forgeml" / "knowledge.db"


def test_a_base_written_before_row_sketches_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the first layout: no row_sketch column
        conn.execute("CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO info VALUES ('format', '1')")
        conn.execute("""CREATE TABLE runs (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, fingerprint TEXT NOT NULL,
            task TEXT NOT NULL, metric TEXT NOT NULL, greater_is_better INTEGER NOT NULL, mf_version INTEGER NOT NULL,
            metafeatures TEXT NOT NULL, time_budget REAL, best_score REAL, forgeml_version TEXT,
            created REAL NOT NULL)""")
        conn.execute("INSERT INTO runs (dataset, fingerprint, task, metric, greater_is_better, mf_version, "
                     "metafeatures, created) VALUES ('old', 'fp-old', 'binary', 'log_loss', 0, 1, '{}', 0)")
    with KnowledgeBase.open(path) as kb:
        kb.add_run(_run("new", 0.0))
        assert sorted(kb.runs()["dataset"]) == ["new", "old"]
        assert [n.dataset for n in kb.neighbours(_mf(0.0), "log_loss")] == ["new"]  # "old" shares no meta-feature
