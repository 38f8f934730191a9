"""The executor conformance battery: the same checks for every entry of ``EXECUTORS`` (and plug-ins).

``make_executor(n_workers=..., memory_limit_mb=...)`` must return a fresh, unstarted executor. Each check
starts its own executor with ``forgeml.testing.trial_fns.trial_fn`` and a ``CountingContext``, runs real worker
processes, and raises ``AssertionError`` with what went wrong. ``tests/execute/test_battery.py`` runs it over
every registered name. Usage::

    from forgeml.execute import make_executor, register_executor
    from forgeml.testing.check_executor import CHECKS, check_executor
    register_executor("mine", MyExecutor)
    check_executor(lambda **kw: make_executor("mine", **kw))                        # all checks
    check_executor(lambda **kw: make_executor("ray", address=ADDR, **kw), skip={"memory": "why"})
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from forgeml.execute.base import Executor
from forgeml.testing.trial_fns import CountingContext, trial_fn
from forgeml.trial import TrialResult, TrialSpec, TrialStatus

MakeExecutor = Callable[..., Executor]
_GRACE_S = 5.0  # how late a TIMEOUT/PRUNED result may arrive after it is due (spawn + kill on a busy box)


def run_specs(ex: Executor, specs: Iterable[TrialSpec], wait: float = 60.0) -> dict[int, TrialResult]:
    """Submit ``specs`` and poll until each has a result; fails if any is missing after ``wait`` seconds."""
    specs = list(specs)
    for spec in specs:
        ex.submit(spec)
    return collect(ex, {s.trial_id for s in specs}, wait)


def collect(ex: Executor, ids: set[int], wait: float = 60.0) -> dict[int, TrialResult]:
    got: dict[int, TrialResult] = {}
    deadline = time.time() + wait
    while set(got) < ids and time.time() < deadline:
        for r in ex.poll(timeout=0.2):
            assert r.trial_id not in got, f"trial {r.trial_id} was returned twice"
            got[r.trial_id] = r
    assert set(got) >= ids, f"no result after {wait:g} s for trials {sorted(ids - set(got))}"
    return got


def _started(make_executor: MakeExecutor, n_workers: int, context: CountingContext | None = None,
             **options: object) -> Executor:
    ex = make_executor(n_workers=n_workers, **options)
    ex.start(trial_fn, context if context is not None else CountingContext(value=10.0))
    return ex


def _ok(i: int, x: float = 0.0, **kw: object) -> TrialSpec:
    return TrialSpec(trial_id=i, config={"action": "ok", "x": x}, **kw)


def _assert_complete(r: TrialResult, loss: float | None = None) -> None:
    assert r.status is TrialStatus.COMPLETE, f"trial {r.trial_id}: {r.status} {r.error}"
    if loss is not None:
        assert r.loss == loss, f"trial {r.trial_id}: loss {r.loss}, expected {loss}"


def check_ok(make_executor: MakeExecutor) -> None:
    """Results come back complete, computed from spec and context, with ``worker`` and ``duration`` set."""
    with _started(make_executor, 2) as ex:
        assert ex.capacity == 2, f"capacity {ex.capacity}, expected 2"
        assert ex.poll(timeout=0.05) == [], "poll with nothing submitted must return []"
        got = run_specs(ex, [_ok(i, x=i) for i in range(5)])
        for i, r in got.items():
            _assert_complete(r, loss=10.0 + i)
            assert isinstance(r.worker, str) and r.worker, f"trial {i}: worker not set ({r.worker!r})"
            assert r.duration >= 0.0
        assert ex.running == set(), f"running after all results were polled: {ex.running}"


def check_context_shipped_once(make_executor: MakeExecutor) -> None:
    """Each worker process unpickles the context once, however many trials it runs."""
    with _started(make_executor, 2) as ex:
        got = run_specs(ex, [_ok(i) for i in range(8)])
        loads = {r.trial_id: r.extra.get("context_loads") for r in got.values()}
        assert all(v == 1 for v in loads.values()), f"context unpickled more than once per process: {loads}"


def check_thread_env(make_executor: MakeExecutor) -> None:
    """Workers run with capped OpenMP/BLAS pools and passive OpenMP waits."""
    with _started(make_executor, 1) as ex:
        r = run_specs(ex, [TrialSpec(0, {"action": "env"})])[0]
        _assert_complete(r)
        env = r.extra["env"]
        assert env["OMP_WAIT_POLICY"] == "PASSIVE", env
        assert env["OMP_NUM_THREADS"] and int(env["OMP_NUM_THREADS"]) >= 1, env


def check_raises(make_executor: MakeExecutor) -> None:
    """A trial function that raises gives ``FAILED`` with the error; the worker keeps serving."""
    with _started(make_executor, 1) as ex:
        got = run_specs(ex, [TrialSpec(0, {"action": "raise"}), _ok(1, x=1)])
        r = got[0]
        assert r.status is TrialStatus.FAILED, f"{r.status} {r.error}"
        assert r.error is not None and r.error.type == "ValueError", r.error
        assert "boom in trial 0" in r.error.message and "trial_fn" in r.error.traceback, r.error
        _assert_complete(got[1], loss=11.0)


def check_timeout(make_executor: MakeExecutor) -> None:
    """A trial past ``spec.timeout`` is stopped and reported ``TIMEOUT``; later trials still run."""
    with _started(make_executor, 1) as ex:
        t0 = time.time()
        r = run_specs(ex, [TrialSpec(0, {"action": "sleep", "seconds": 60}, timeout=1.0)], wait=30)[0]
        elapsed = time.time() - t0
        assert r.status is TrialStatus.TIMEOUT, f"{r.status} {r.error}"
        assert r.error is not None and r.error.type == "TimeoutError" and "1 s" in r.error.message, r.error
        assert 0.9 <= elapsed <= 1.0 + _GRACE_S, f"timeout reported after {elapsed:.1f} s for a 1 s limit"
        _assert_complete(run_specs(ex, [_ok(1, x=2)])[1], loss=12.0)


def check_crash(make_executor: MakeExecutor) -> None:
    """A worker that exits hard (``os._exit``, SIGKILL to itself) gives ``CRASHED``; the run goes on."""
    with _started(make_executor, 2) as ex:
        got = run_specs(ex, [TrialSpec(0, {"action": "exit", "code": 3}), TrialSpec(1, {"action": "sigkill"}),
                             _ok(2, x=3)], wait=90)
        for i in (0, 1):
            assert got[i].status is TrialStatus.CRASHED, f"trial {i}: {got[i].status} {got[i].error}"
            assert got[i].error is not None and got[i].error.message, got[i]
        _assert_complete(got[2], loss=13.0)


def check_kill_worker(make_executor: MakeExecutor) -> None:
    """A worker killed from outside mid-trial: its trial is retried or ``CRASHED``, the others complete."""
    tmp = tempfile.mkdtemp(prefix="forgeml-kill-")
    try:
        with _started(make_executor, 2, CountingContext(value=10.0, tmp_dir=tmp)) as ex:
            ex.submit(TrialSpec(0, {"action": "pid_sleep", "seconds": 2.0}))
            pid_file = Path(tmp) / "0.pid"
            deadline = time.time() + 60
            early: list[TrialResult] = []
            while not pid_file.exists() and time.time() < deadline:
                early += ex.poll(timeout=0.1)
            assert pid_file.exists(), "the trial never started"
            time.sleep(0.2)
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            for i in range(1, 4):
                ex.submit(_ok(i, x=i))
            got = {r.trial_id: r for r in early}
            got.update(collect(ex, {0, 1, 2, 3} - set(got), wait=90))
            r = got[0]
            retried = r.status is TrialStatus.COMPLETE and r.extra.get("attempts", 1) >= 2
            assert r.status is TrialStatus.CRASHED or retried, f"killed trial: {r.status} {r.extra} {r.error}"
            for i in range(1, 4):
                _assert_complete(got[i], loss=10.0 + i)
            _assert_complete(run_specs(ex, [_ok(4)])[4], loss=10.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_memory(make_executor: MakeExecutor) -> None:
    """A trial above ``memory_limit_mb`` is stopped: ``CRASHED`` with a ``MemoryError``; the run goes on."""
    with _started(make_executor, 1, memory_limit_mb=300) as ex:
        got = run_specs(ex, [TrialSpec(0, {"action": "alloc", "mb": 1200, "hold": 30}), _ok(1)], wait=60)
        r = got[0]
        assert r.status is TrialStatus.CRASHED, f"{r.status} {r.error}"
        assert r.error is not None and r.error.type == "MemoryError", r.error
        _assert_complete(got[1], loss=10.0)


def check_memory_spike(make_executor: MakeExecutor) -> None:
    """A trial that goes above ``memory_limit_mb`` only briefly and returns at once is still a ``MemoryError``.

    A limit enforced only by polling misses a spike that falls between two polls; it must not be missed.
    """
    with _started(make_executor, 1, memory_limit_mb=300) as ex:
        got = run_specs(ex, [TrialSpec(0, {"action": "spike", "mb": 900}), _ok(1)], wait=60)
        r = got[0]
        assert r.status is TrialStatus.CRASHED, f"a 900 MB spike under a 300 MB limit gave {r.status} {r.error}"
        assert r.error is not None and r.error.type == "MemoryError", r.error
        _assert_complete(got[1], loss=10.0)


def check_cancel(make_executor: MakeExecutor) -> None:
    """``cancel`` stops a running and a queued trial (``PRUNED``); unknown ids are ignored."""
    with _started(make_executor, 1) as ex:
        ex.submit(TrialSpec(0, {"action": "sleep", "seconds": 60}))
        ex.submit(TrialSpec(1, {"action": "sleep", "seconds": 60}))
        early = ex.poll(timeout=1.0)
        assert early == [], f"nothing should have finished yet: {early}"
        t0 = time.time()
        ex.cancel(1)
        ex.cancel(0)
        ex.cancel(12345)
        got = collect(ex, {0, 1}, wait=_GRACE_S + 5)
        assert time.time() - t0 <= _GRACE_S, "cancellation took too long"
        for i in (0, 1):
            assert got[i].status is TrialStatus.PRUNED, f"trial {i}: {got[i].status}"
        _assert_complete(run_specs(ex, [_ok(2, x=1)])[2], loss=11.0)


def check_parallel(make_executor: MakeExecutor) -> None:
    """With two workers, two 1-second trials run at the same time: their sleeps overlap.

    Overlap, not elapsed time, is the evidence: a loaded machine slows both trials but cannot make two
    sleeps that ran side by side stop overlapping, nor make two that ran one after the other overlap.
    """
    with _started(make_executor, 2) as ex:
        next_id = 0
        for _ in range(10):  # warm up until two worker processes are up (Ray starts its workers lazily)
            warm = run_specs(ex, [TrialSpec(next_id + i, {"action": "sleep", "seconds": 0.3}) for i in (0, 1)])
            next_id += 2
            if len({r.extra.get("pid") for r in warm.values()}) == 2:
                break
        got = run_specs(ex, [TrialSpec(next_id + i, {"action": "sleep", "seconds": 1.0}) for i in (0, 1)])
        assert all(r.ok for r in got.values()), got
        (s0, e0), (s1, e1) = (tuple(r.extra["slept"]) for r in got.values())
        assert len({r.extra["pid"] for r in got.values()}) == 2, "both trials ran in the same worker process"
        assert max(s0, s1) < min(e0, e1), (
            f"two 1 s trials on two workers slept at {s0:.2f}-{e0:.2f} and {s1:.2f}-{e1:.2f}: they did not run "
            "in parallel")


def check_large_result(make_executor: MakeExecutor) -> None:
    """A result carrying a 16 MB numpy array comes back intact."""
    with _started(make_executor, 1) as ex:
        r = run_specs(ex, [TrialSpec(0, {"action": "big", "n": 2_000_000})])[0]
        _assert_complete(r)
        arr = r.extra["array"]
        assert arr.shape == (2_000_000,) and float(arr[-1]) == 1_999_999.0


def check_shutdown(make_executor: MakeExecutor) -> None:
    """``shutdown`` is idempotent, forgets pending trials, and refuses new work."""
    ex = _started(make_executor, 1)
    ex.submit(TrialSpec(0, {"action": "sleep", "seconds": 60}))
    ex.poll(timeout=0.3)
    ex.shutdown()
    ex.shutdown()
    assert ex.running == set(), ex.running
    try:
        ex.submit(_ok(1))
    except RuntimeError:
        pass
    else:
        raise AssertionError("submit after shutdown must raise RuntimeError")


CHECKS: dict[str, Callable[[MakeExecutor], None]] = {
    "ok": check_ok,
    "context_shipped_once": check_context_shipped_once,
    "thread_env": check_thread_env,
    "raises": check_raises,
    "timeout": check_timeout,
    "crash": check_crash,
    "kill_worker": check_kill_worker,
    "memory": check_memory,
    "memory_spike": check_memory_spike,
    "cancel": check_cancel,
    "parallel": check_parallel,
    "large_result": check_large_result,
    "shutdown": check_shutdown,
}


def check_executor(make_executor: MakeExecutor, *, skip: Mapping[str, str] | Iterable[str] = ()) -> list[str]:
    """Run every check not in ``skip`` (name -> reason); returns the names of the checks run."""
    unknown = set(skip) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown executor checks in skip: {sorted(unknown)}; known: {', '.join(CHECKS)}")
    ran = []
    for name, check in CHECKS.items():
        if name not in skip:
            check(make_executor)
            ran.append(name)
    return ran
