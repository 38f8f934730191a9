"""Run trials in local worker processes, with per-trial time limits and a per-worker memory limit.

Workers are fresh interpreters started with ``subprocess`` (default; ``spawn`` and ``forkserver`` also work),
never ``fork``: the parent may hold OpenMP or torch thread pools that a forked child would inherit in a broken
state. A ``subprocess`` worker does not re-import the user's main module, so scripts need no
``if __name__ == "__main__":`` guard (``spawn`` and ``forkserver`` workers do need it), and workers start in
parallel without blocking the caller. Each worker receives ``(fn, context)`` once, then specs over its pipe.
The parent enforces limits by killing the worker and starting a replacement, so a
trial that hangs, leaks memory, segfaults or is killed from outside becomes a result, and the run goes on.
"""
from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import pickle
import tempfile
import time
import weakref
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from typing import Any

import psutil

from forgeml.errors import ConfigError
from forgeml.execute._process import describe_exit, environ, kill_tree, start_subprocess_worker, tree_rss_mb
from forgeml.execute._worker import PAYLOAD_FILE, payload_path, thread_env, worker_main
from forgeml.execute.base import Executor, TrialFn
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

_MEMORY_CHECK_EVERY_S = 0.1
SPILL_MB = 16.0  # a pickled (fn, context) at least this large goes to a file the workers read
_MAX_STARTUP_FAILURES = 3


def pack_payload(fn: TrialFn, context: Any, spill_mb: float = SPILL_MB) -> bytes:
    """The bytes a worker is started with: the pickle of ``(fn, context)``, or, once that reaches ``spill_mb``,
    ``PAYLOAD_FILE`` + the path of a temporary file holding it.

    The pickle is streamed (``_Spill``), so the parent never holds a large one in memory: on a 750,000-row table
    it is as large as the rows, and kept for as long as workers may need replacing. The executor removes the
    file at shutdown (or when it is collected); a worker that sees its parent gone removes it too; and a file left
    by a process that was killed with its workers is removed by the next ``pack_payload`` (its name holds the pid).
    Where the temporary directory is in memory (tmpfs), the file costs memory that no process's RSS shows.
    """
    _sweep_stale_payloads()
    out = _Spill(spill_mb * 2**20)
    try:
        pickle.dump((fn, context), out, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # the disk, not the context: say so
        out.discard()
        raise
    except Exception as e:
        out.discard()
        raise ConfigError(f"the trial function and its context must be picklable to reach worker processes: "
                          f"{type(e).__name__}: {e}") from e
    return out.close()


def payload_mb(payload: bytes) -> float:
    """The size of the pickled ``(fn, context)`` a payload carries (or names), in MB."""
    path = payload_path(payload)
    if path is None:
        return len(payload) / 2**20
    try:
        return os.path.getsize(path) / 2**20
    except OSError:
        return 0.0


def recycle_threshold(recycle_mb: float | str | None, context_mb: float) -> float | None:
    """``LocalExecutor``'s ``recycle_mb`` in MB for a context of ``context_mb`` (see there)."""
    if recycle_mb != "auto":
        return None if recycle_mb is None else float(recycle_mb)
    return 128.0 if context_mb >= 64 else 512.0


class _Spill:
    """A file-like sink for ``pickle.dump``: bytes in memory up to ``limit``, then a temporary file."""

    def __init__(self, limit: float) -> None:
        self.limit, self.buf, self.fh, self.path = limit, bytearray(), None, None

    def write(self, data: Any) -> int:  # bytes, or a PickleBuffer of an array's memory (protocol 5)
        size = memoryview(data).nbytes
        if self.fh is None and len(self.buf) + size >= self.limit:
            fd, self.path = tempfile.mkstemp(prefix=f"{_PAYLOAD_PREFIX}{os.getpid()}-", suffix=".pkl")
            self.fh = os.fdopen(fd, "wb")
            self.fh.write(self.buf)
            self.buf = bytearray()
        if self.fh is not None:
            return self.fh.write(data)
        self.buf += data
        return size

    def close(self) -> bytes:
        if self.fh is None:
            return bytes(self.buf)
        self.fh.close()
        return PAYLOAD_FILE + os.fsencode(self.path)

    def discard(self) -> None:
        if self.fh is not None:
            with contextlib.suppress(OSError):
                self.fh.close()
            _unlink(self.path)


_PAYLOAD_PREFIX = "forgeml-payload-"


def _unlink(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _sweep_stale_payloads() -> None:
    """Remove payload files whose process is gone (it was killed together with its workers)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            name = entry.name
            if not (name.startswith(_PAYLOAD_PREFIX) and name.endswith(".pkl")):
                continue
            pid = name[len(_PAYLOAD_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
                _unlink(entry.path)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    pid: int
    ready: bool = False
    spec: TrialSpec | None = None
    started: float = 0.0
    settling: bool = False  # its last result is in, it is giving memory back: not free for the next trial yet

    @property
    def name(self) -> str:
        return f"local:{self.pid}"


class LocalExecutor(Executor):
    """``n_workers`` local processes, each limited to ``threads_per_worker`` native threads.

    ``memory_limit_mb`` caps each worker's resident memory: the parent polls the worker's (and its child
    processes') memory every ``memory_check_every`` seconds, and the worker reports its own peak at the end of
    every trial, so a trial that goes above the limit is caught even if it returns between two polls. Either
    way the worker is killed (and replaced) and its trial recorded ``CRASHED`` with a ``MemoryError``, even if
    it finished. Time limits come from ``spec.timeout``. A pickled ``(fn, context)`` of ``spill_mb`` or more
    reaches the workers through a temporary file (``pack_payload``), removed at ``shutdown``.

    ``recycle_mb`` replaces a worker that still holds that much more memory after a trial (freed memory given
    back) than when it started: what a library kept from a fit would otherwise raise every later trial's peak.
    ``"auto"`` is 128 MB when the pickled context is 64 MB or more (a large table, whose trials take long enough
    that a fresh worker's two seconds of start-up are cheap), else 512 MB (on small data those two seconds cost
    more trials than the memory is worth: PyTorch alone leaves about 200 MB after an MLP trial); ``None`` never
    replaces a worker for that.
    ``recycled`` counts the workers replaced so.
    """

    name = "local"

    def __init__(self, n_workers: int = 1, threads_per_worker: int = 1, memory_limit_mb: float | None = None,
                 start_method: str = "subprocess", start_timeout: float = 120.0, wait_ready: bool = True,
                 memory_check_every: float = _MEMORY_CHECK_EVERY_S, spill_mb: float = SPILL_MB,
                 recycle_mb: float | str | None = "auto") -> None:
        if int(n_workers) < 1:
            raise ConfigError(f"n_workers must be at least 1, got {n_workers}.")
        if int(threads_per_worker) < 1:
            raise ConfigError(f"threads_per_worker must be at least 1, got {threads_per_worker}.")
        if start_method not in ("subprocess", "spawn", "forkserver"):
            raise ConfigError(f"start_method {start_method!r} is not supported; use 'subprocess', 'spawn' or "
                              "'forkserver' "
                              "('fork' would copy the parent's OpenMP/torch thread state into the workers).")
        if memory_limit_mb is not None and memory_limit_mb <= 0:
            raise ConfigError(f"memory_limit_mb must be positive or None, got {memory_limit_mb}.")
        if not (recycle_mb is None or recycle_mb == "auto" or (isinstance(recycle_mb, int | float)
                                                                and recycle_mb > 0)):
            raise ConfigError(f"recycle_mb must be a positive number of MB, 'auto' or None, got {recycle_mb!r}.")
        if not memory_check_every > 0:
            raise ConfigError(f"memory_check_every must be a positive number of seconds, got {memory_check_every}.")
        self.n_workers = int(n_workers)
        self.threads_per_worker = int(threads_per_worker)
        self.memory_limit_mb = memory_limit_mb
        self.start_method = start_method
        self.start_timeout = start_timeout
        self.wait_ready = wait_ready
        self.memory_check_every = float(memory_check_every)
        self.spill_mb = float(spill_mb)
        self.recycle_mb = recycle_mb
        self.recycled = 0
        self._recycle_at: float | None = None
        self._payload: bytes | None = None
        self._workers: list[_Worker] = []
        self._queue: deque[TrialSpec] = deque()
        self._done: list[TrialResult] = []
        self._ids: set[int] = set()
        self._closed = False
        self._startup_failures = 0
        self._broken: ErrorInfo | None = None
        self._last_memory_check = 0.0
        self._atexit = None

    # -- protocol -------------------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return self.n_workers

    @property
    def running(self) -> set[int]:
        return set(self._ids)

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the current worker processes (replacements included)."""
        return [w.pid for w in self._workers]

    def start(self, fn: TrialFn, context: Any) -> None:
        """Start the workers; with ``wait_ready`` wait (up to ``start_timeout`` s) until each has loaded
        ``(fn, context)``, else return at once and let submitted trials wait for the first free worker."""
        if self._closed:
            raise RuntimeError("this LocalExecutor was shut down; create a new one")
        if self._payload is not None:
            return
        self._payload = pack_payload(fn, context, self.spill_mb)
        self._recycle_at = recycle_threshold(self.recycle_mb, payload_mb(self._payload))
        weakref.finalize(self, _unlink, payload_path(self._payload))  # dropped without shutdown(): no leftover
        ref = weakref.ref(self)

        def _at_exit() -> None:
            ex = ref()
            if ex is not None:
                ex.shutdown()

        self._atexit = _at_exit
        atexit.register(_at_exit)
        for _ in range(self.n_workers):
            self._spawn()
        if not self.wait_ready:
            return
        deadline = time.time() + self.start_timeout
        while time.time() < deadline and self._broken is None and not all(w.ready for w in self._workers):
            self._pump(0.05)

    def submit(self, spec: TrialSpec) -> None:
        if self._closed:
            raise RuntimeError("this LocalExecutor was shut down; create a new one")
        if self._payload is None:
            raise RuntimeError("call start(fn, context) before submit()")
        if spec.trial_id in self._ids:
            raise ValueError(f"trial {spec.trial_id} is already submitted and not yet returned by poll()")
        self._ids.add(spec.trial_id)
        if self._broken is not None:
            self._done.append(TrialResult.failure(spec, TrialStatus.CRASHED, self._broken))
            return
        self._queue.append(spec)
        self._dispatch()

    def poll(self, timeout: float = 0.1) -> list[TrialResult]:
        if self._payload is None or self._closed:
            return []
        deadline = time.time() + max(timeout, 0.0)
        while True:
            self._pump(max(0.0, min(0.05, deadline - time.time())))
            if self._done or time.time() >= deadline:
                break
        out, self._done = self._done, []
        for r in out:
            self._ids.discard(r.trial_id)
        return out

    def cancel(self, trial_id: int) -> None:
        for spec in list(self._queue):
            if spec.trial_id == trial_id:
                self._queue.remove(spec)
                self._done.append(TrialResult.failure(
                    spec, TrialStatus.PRUNED, ErrorInfo("Cancelled", "the trial was cancelled before it started")))
                return
        for w in self._workers:
            if w.spec is not None and w.spec.trial_id == trial_id:
                self._stop(w, TrialStatus.PRUNED,
                           ErrorInfo("Cancelled", "the trial was cancelled while running; its worker was stopped"))
                return

    def shutdown(self) -> None:
        """Stop every worker (idle ones gracefully, busy ones killed); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        for w in self._workers:
            if w.spec is None:
                with contextlib.suppress(OSError, ValueError):
                    w.conn.send(None)
            else:
                kill_tree(w.pid, grace=0.0, process=w.process)
        deadline = time.time() + 1.0
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.time()))
            if w.process.is_alive():
                kill_tree(w.pid, process=w.process)
                w.process.join(1.0)
            with contextlib.suppress(OSError):
                w.conn.close()
        self._workers.clear()
        self._queue.clear()
        self._done.clear()
        self._ids.clear()
        _unlink(payload_path(self._payload or b""))

    # -- workers --------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self.start_method == "subprocess":
            process, conn = start_subprocess_worker(self._payload, self.threads_per_worker, self._recycle_at)
            self._workers.append(_Worker(process, conn, process.pid))
            return
        ctx = mp.get_context(self.start_method)
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=worker_main, name="forgeml-worker",
                              args=(child_conn, self._payload, self.threads_per_worker, os.getpid(),
                                    self._recycle_at))
        with environ(thread_env(self.threads_per_worker)):
            process.start()
        child_conn.close()
        self._workers.append(_Worker(process, parent_conn, process.pid))

    def _retire(self, w: _Worker) -> None:
        """Forget a dead worker and start a replacement."""
        with contextlib.suppress(OSError):
            w.conn.close()
        w.process.join(0.5)
        if w in self._workers:
            self._workers.remove(w)
        if not self._closed and self._broken is None:
            self._spawn()

    def _stop(self, w: _Worker, status: TrialStatus, error: ErrorInfo) -> None:
        """Kill a busy worker, report its trial with ``status``, replace the worker."""
        spec = w.spec
        kill_tree(w.pid, process=w.process)
        if spec is not None:
            self._done.append(TrialResult.failure(spec, status, error, duration=time.time() - w.started,
                                                  worker=w.name))
        w.spec = None
        self._retire(w)

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if w.ready and w.spec is None and not w.settling and w.process.is_alive():
                spec = self._queue.popleft()
                try:
                    w.conn.send(spec)
                except (OSError, ValueError):
                    self._queue.appendleft(spec)  # the worker is dead; _pump notices and replaces it
                    continue
                w.spec, w.started = spec, time.time()

    def _on_message(self, w: _Worker, msg: tuple) -> None:
        kind = msg[0]
        if kind == "ready":
            w.ready = True
            self._startup_failures = 0
        elif kind == "init_error":
            self._broken = msg[1]
            for spec in self._queue:
                self._done.append(TrialResult.failure(spec, TrialStatus.CRASHED, self._broken))
            self._queue.clear()
        elif kind in ("free", "retire"):
            self._on_settled(w, kind)
        elif kind == "result" and w.spec is not None:
            spec, res = w.spec, msg[1]
            peak = msg[2] if len(msg) > 2 else 0.0
            if self.memory_limit_mb is not None and peak > self.memory_limit_mb:
                self._stop(w, TrialStatus.CRASHED, self._memory_error(peak, "peaked at"))
                return
            w.spec, w.settling = None, True
            extra = {**res.extra, "peak_mb": round(float(peak), 1)} if peak else res.extra  # the worker's, in trials()
            self._done.append(replace(res, trial_id=spec.trial_id, worker=res.worker or w.name,
                                      duration=res.duration or (time.time() - w.started), extra=extra))

    def _on_settled(self, w: _Worker, kind: str) -> None:
        """The worker gave back what its trial freed: it is free again, or it retires (and is replaced)."""
        w.settling = False
        if kind == "retire":
            self.recycled += 1
            self._retire(w)

    def _memory_error(self, used: float, how: str = "used") -> ErrorInfo:
        return ErrorInfo("MemoryError", f"the worker {how} {used:.0f} MB, above the memory limit of "
                         f"{self.memory_limit_mb:g} MB, and was stopped; raise memory_limit_mb or lower the data "
                         "size or model complexity.")

    def _on_death(self, w: _Worker) -> None:
        w.process.join(0.5)
        if w.process.is_alive():  # its pipe broke but the process lingers: make sure it is gone
            kill_tree(w.pid, process=w.process)
        how = describe_exit(w.process.exitcode)
        if w.spec is not None:
            self._done.append(TrialResult.failure(
                w.spec, TrialStatus.CRASHED,
                ErrorInfo("WorkerCrashedError",
                          f"worker process {w.pid} died while running trial {w.spec.trial_id} ({how}); a crash in "
                          "native code, running out of memory or an external kill can cause this. The worker "
                          "was replaced."),
                duration=time.time() - w.started, worker=w.name))
            w.spec = None
        elif not w.ready and self._broken is None:
            self._startup_failures += 1
            if self._startup_failures >= _MAX_STARTUP_FAILURES:
                self._broken = ErrorInfo(
                    "WorkerStartupError",
                    f"worker processes exit before they are ready ({how}), {self._startup_failures} times in a "
                    "row. A script that starts workers must guard its entry point with "
                    "`if __name__ == \"__main__\":`, and the trial function's module must import cleanly in a "
                    "fresh Python process.")
                for spec in self._queue:
                    self._done.append(TrialResult.failure(spec, TrialStatus.CRASHED, self._broken))
                self._queue.clear()
                with contextlib.suppress(OSError):
                    w.conn.close()
                self._workers.remove(w)
                return
        self._retire(w)

    def _pump(self, timeout: float) -> None:
        """Dispatch, wait up to ``timeout`` for messages or deaths, handle them, enforce limits."""
        self._dispatch()
        if not self._workers:
            time.sleep(timeout)
            return
        waitables = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers
                                                        if w.process.sentinel is not None]
        mp_wait(waitables, timeout=timeout)
        for w in list(self._workers):
            dead = False
            try:
                while w in self._workers and w.conn.poll():
                    self._on_message(w, w.conn.recv())
            except (EOFError, OSError):
                dead = True
            if w not in self._workers:  # stopped (and replaced) while handling its messages
                continue
            if dead or not w.process.is_alive():
                self._on_death(w)
        self._enforce_limits()
        self._dispatch()

    def _enforce_limits(self) -> None:
        now = time.time()
        for w in list(self._workers):
            spec = w.spec
            if spec is not None and spec.timeout is not None and now - w.started > spec.timeout:
                self._stop(w, TrialStatus.TIMEOUT, ErrorInfo(
                    "TimeoutError", f"trial exceeded its time limit of {spec.timeout:g} s and its worker was "
                    "stopped; raise the per-trial timeout or the budget if such trials should finish."))
        if self.memory_limit_mb is None or now - self._last_memory_check < self.memory_check_every:
            return
        self._last_memory_check = now
        for w in list(self._workers):
            if w.spec is None:
                continue
            used = tree_rss_mb(w.pid)
            if used > self.memory_limit_mb:
                self._stop(w, TrialStatus.CRASHED, self._memory_error(used))
