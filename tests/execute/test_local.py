"""LocalExecutor: local-only behaviour (exit codes, orphans, parent death, memory peaks); the shared battery
runs over every registered executor in ``test_battery.py``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import psutil
import pytest

from forgeml.errors import ConfigError
from forgeml.execute import EXECUTORS, make_executor
from forgeml.execute.local import LocalExecutor, recycle_threshold
from forgeml.testing.check_executor import CHECKS, check_executor, run_specs
from forgeml.testing.trial_fns import CountingContext, trial_fn
from forgeml.trial import TrialSpec, TrialStatus


def make_local(**options) -> LocalExecutor:
    return LocalExecutor(**options)


def test_battery_size_is_not_shrinking():
    assert len(CHECKS) == 13
    assert check_executor(make_local, skip=[n for n in CHECKS if n != "ok"]) == ["ok"]
    with pytest.raises(ValueError, match="unknown executor checks"):
        check_executor(make_local, skip=["no-such-check"])


def test_registry_builds_local():
    ex = make_executor("local", n_workers=2)
    assert isinstance(ex, LocalExecutor) and ex.capacity == 2
    assert EXECUTORS.names()[:2] == ["local", "ray"]  # then any plug-ins (conftest registers one)
    with pytest.raises(ConfigError, match="available: local, ray"):
        make_executor("lokal")


@pytest.mark.parametrize("kwargs", [{"start_method": "fork"}, {"n_workers": 0}, {"memory_limit_mb": -1}])
def test_invalid_options(kwargs):
    with pytest.raises(ConfigError):
        LocalExecutor(**kwargs)


def test_exit_code_in_crash_message_and_worker_replaced():
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext())
        first = list(ex.worker_pids)
        got = run_specs(ex, [TrialSpec(0, {"action": "exit", "code": 3}), TrialSpec(1, {"action": "ok"})])
        assert got[0].status is TrialStatus.CRASHED
        assert got[0].error.type == "WorkerCrashedError" and "exit code 3" in got[0].error.message
        assert got[1].ok and got[1].worker != f"local:{first[0]}"
        assert ex.worker_pids != first and len(ex.worker_pids) == 1


def test_unpicklable_context_is_config_error():
    ex = LocalExecutor()
    with pytest.raises(ConfigError, match="picklable"):
        ex.start(trial_fn, lambda: 1)
    ex.shutdown()


def _payload_files(where) -> list:
    return sorted(where.glob("forgeml-payload-*"))


def test_a_large_context_reaches_workers_through_a_file_removed_at_shutdown(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with LocalExecutor(n_workers=1, spill_mb=1) as ex:
        ex.start(trial_fn, CountingContext(value=2.5, ballast_mb=4))
        assert len(_payload_files(tmp_path)) == 1 and _payload_files(tmp_path)[0].stat().st_size > 4 * 2**20
        got = run_specs(ex, [TrialSpec(0, {"action": "exit", "code": 3}), TrialSpec(1, {"action": "ok"})])
        assert got[0].status is TrialStatus.CRASHED
        assert got[1].ok and got[1].loss == pytest.approx(2.5)  # the replacement worker read the file too
    assert _payload_files(tmp_path) == []


def test_a_small_context_and_an_unpicklable_one_leave_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext(value=1.0))
        assert _payload_files(tmp_path) == []
        assert run_specs(ex, [TrialSpec(0, {"action": "ok"})])[0].loss == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="picklable"):
        LocalExecutor(spill_mb=0).start(trial_fn, lambda: 1)
    assert _payload_files(tmp_path) == []


def test_a_small_context_needs_no_temporary_directory_and_a_disk_error_is_not_called_unpicklable(tmp_path,
                                                                                               monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))  # a temporary directory that does not exist
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext(value=1.0))
        assert run_specs(ex, [TrialSpec(0, {"action": "ok"})])[0].ok
    with pytest.raises(OSError):  # the disk's fault, reported as such (not as a ConfigError about pickling)
        LocalExecutor(spill_mb=1).start(trial_fn, CountingContext(ballast_mb=2))


def test_a_payload_file_left_by_a_killed_process_is_removed_by_the_next_start(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"forgeml-payload-{int(gone.stdout)}-abc.pkl"
    alive = tmp_path / f"forgeml-payload-{os.getppid()}-abc.pkl"  # a live process's file is left alone
    stale.write_bytes(b"x")
    alive.write_bytes(b"x")
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext())
        assert not stale.exists() and alive.exists()


def test_shutdown_leaves_no_worker_processes():
    ex = LocalExecutor(n_workers=2)
    ex.start(trial_fn, CountingContext())
    pids = list(ex.worker_pids)
    ex.submit(TrialSpec(0, {"action": "sleep", "seconds": 60}))  # one busy, one idle
    ex.poll(timeout=0.2)
    ex.shutdown()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


PARENT = textwrap.dedent("""
    import sys, time
    from forgeml.execute.local import LocalExecutor
    from forgeml.testing.trial_fns import CountingContext, trial_fn
    from forgeml.trial import TrialSpec

    if __name__ == "__main__":
        ex = LocalExecutor(n_workers=2, spill_mb=float(sys.argv[1]) if len(sys.argv) > 1 else 16)
        ex.start(trial_fn, CountingContext())
        ex.submit(TrialSpec(0, {"action": "sleep", "seconds": 60}))
        ex.poll(timeout=0.3)
        print(" ".join(map(str, ex.worker_pids)), flush=True)
        time.sleep(60)
""")


def test_workers_exit_when_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(psutil.pid_exists(p) for p in pids):
        time.sleep(0.1)
    alive = [p for p in pids if psutil.pid_exists(p)]
    assert not alive, f"workers outlived their killed parent: {alive}"


def test_a_killed_parent_leaves_no_payload_file(tmp_path):
    script, tmp = tmp_path / "parent.py", tmp_path / "tmp"
    script.write_text(PARENT)
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), "0"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp)})
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and len(_payload_files(tmp)) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and (_payload_files(tmp) or any(psutil.pid_exists(p) for p in pids)):
        time.sleep(0.1)
    assert _payload_files(tmp) == [], "the payload file outlived the killed parent and its workers"


def test_threads_per_worker_reaches_worker_env():
    with LocalExecutor(n_workers=1, threads_per_worker=2) as ex:
        ex.start(trial_fn, CountingContext())
        r = run_specs(ex, [TrialSpec(0, {"action": "env"})])[0]
    assert r.extra["env"] == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                              "OMP_WAIT_POLICY": "PASSIVE"}


def test_stopping_a_trial_also_stops_its_child_processes(tmp_path):
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext(tmp_dir=str(tmp_path)))
        r = run_specs(ex, [TrialSpec(0, {"action": "spawn_child", "seconds": 60}, timeout=1.5)])[0]
        assert r.status is TrialStatus.TIMEOUT
        child = int((tmp_path / "0.child").read_text())
        deadline = time.time() + 5
        while time.time() < deadline and psutil.pid_exists(child) and \
                psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.05)
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_memory_spike_between_polls_is_caught():
    """Polling once an hour cannot see a 1.2 GB spike that lasts a fraction of a second; the peak check can.

    The limit sits well above a fresh worker's own footprint (~200 MB with numpy and forgeml imported), so the
    small trials are judged by what they allocate, not by how the worker started."""
    with LocalExecutor(n_workers=1, memory_limit_mb=500, memory_check_every=3600) as ex:
        ex.start(trial_fn, CountingContext())
        got = run_specs(ex, [TrialSpec(i, {"action": "spike", "mb": 1200}) for i in range(2)] +
                        [TrialSpec(2, {"action": "ok"}), TrialSpec(3, {"action": "spike", "mb": 20})])
    for i in range(2):
        assert got[i].status is TrialStatus.CRASHED, f"trial {i}: {got[i].status} {got[i].error}"
        assert got[i].error.type == "MemoryError" and "peaked at" in got[i].error.message, got[i].error
    assert got[2].ok and got[3].ok, (got[2].error, got[3].error)  # under the limit: the peak is per trial


def test_a_trials_peak_memory_is_reported_with_its_result():
    """The worker's peak resident memory during the trial (``extra["peak_mb"]``, in ``AutoML.trials()``): with
    what the worker holds anyway, what a configuration takes in memory, next to what it takes in time."""
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext())
        got = run_specs(ex, [TrialSpec(0, {"action": "spike", "mb": 600}), TrialSpec(1, {"action": "ok"})])
    assert got[0].ok and got[1].ok
    assert got[0].extra["peak_mb"] >= 600 > got[1].extra["peak_mb"] > 0  # per trial: the spike is gone after it


def test_a_worker_gives_back_what_a_finished_trial_freed():
    """Freed heap memory stays in glibc's arenas unless trimmed: a worker's resident size would only grow, and each
    trial's peak would start where the last left off. Here a trial frees 15/16 of 512 MB of small blocks between
    blocks it keeps; the next trial's peak must not carry the freed part."""
    import ctypes.util

    if not sys.platform.startswith("linux") or "libc.so" not in (ctypes.util.find_library("c") or ""):
        pytest.skip("glibc only")  # elsewhere the allocator decides, and release_memory does nothing
    with LocalExecutor(n_workers=1) as ex:
        ex.start(trial_fn, CountingContext())
        got = run_specs(ex, [TrialSpec(0, {"action": "ok"}), TrialSpec(1, {"action": "fragment", "mb": 512}),
                             TrialSpec(2, {"action": "ok"})])
    assert all(r.ok for r in got.values())
    assert got[1].extra["peak_mb"] > got[0].extra["peak_mb"] + 400  # it did hold the 512 MB
    assert got[2].extra["peak_mb"] < got[0].extra["peak_mb"] + 150  # 32 MB still held, the rest given back


def test_a_worker_that_keeps_memory_after_its_trials_is_replaced():
    """What a trial leaves allocated for good (CatBoost's and PyTorch's leftovers) would raise every later trial's
    peak: a worker holding more than ``recycle_mb`` above its start after a trial makes way for a fresh one."""
    with LocalExecutor(n_workers=1, recycle_mb=200) as ex:
        ex.start(trial_fn, CountingContext())
        got = run_specs(ex, [TrialSpec(0, {"action": "ok"}), TrialSpec(1, {"action": "keep", "mb": 120}),
                             TrialSpec(2, {"action": "ok"}), TrialSpec(3, {"action": "keep", "mb": 120}),
                             TrialSpec(4, {"action": "ok"}), TrialSpec(5, {"action": "ok"})])
        assert ex.recycled == 1 and len(ex.worker_pids) == 1
    assert all(r.ok for r in got.values()), [r.error for r in got.values()]
    pids = [got[i].extra["pid"] for i in range(6)]
    assert pids[0] == pids[1] == pids[2] == pids[3] != pids[4] == pids[5]  # 120 MB kept: stays; 240 MB: replaced
    assert got[4].extra["context_loads"] == 1  # the fresh worker loaded the context once, as any worker
    assert got[4].extra["peak_mb"] < got[2].extra["peak_mb"] - 50 < got[3].extra["peak_mb"] - 150


def test_recycling_off_keeps_the_worker_and_the_threshold_follows_the_context_size():
    with LocalExecutor(n_workers=1, recycle_mb=None) as ex:
        ex.start(trial_fn, CountingContext())
        got = run_specs(ex, [TrialSpec(i, {"action": "keep", "mb": 150}) for i in range(3)] +
                        [TrialSpec(3, {"action": "ok"})])
        assert ex.recycled == 0
    assert len({r.extra["pid"] for r in got.values()}) == 1
    assert got[3].extra["peak_mb"] > got[0].extra["peak_mb"] + 250  # it still holds the 450 MB kept
    assert recycle_threshold("auto", 1.0) == 512 and recycle_threshold("auto", 139.0) == 128
    assert recycle_threshold(None, 500.0) is None and recycle_threshold(64, 1.0) == 64
    for bad in (0, -5, "big"):
        with pytest.raises(ConfigError, match="recycle_mb"):
            LocalExecutor(recycle_mb=bad)
