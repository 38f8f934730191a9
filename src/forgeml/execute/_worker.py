"""What runs inside a local worker process (kept apart from ``local.py`` so the child imports little).

The worker limits its native thread pools, loads ``(fn, context)`` once, then answers one ``TrialSpec`` at a time
over its pipe. It exits when the parent sends ``None``, closes the pipe, or dies.
"""
from __future__ import annotations

import contextlib
import gc
import os
import pickle
import re
import resource
import signal
import sys
import threading
import time
import warnings
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

PAYLOAD_FILE = b"forgeml-payload-file:"  # a payload that names the file holding the pickle, not the pickle itself

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                   "NUMEXPR_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps OpenMP/BLAS pools at ``threads`` and keeps idle OpenMP threads from spinning."""
    env = {name: str(int(threads)) for name in THREAD_ENV_VARS}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def limit_threads(threads: int) -> None:
    """Apply ``thread_env`` here, and cap pools of native libraries that are already loaded."""
    os.environ.update(thread_env(threads))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            threadpool_limits(int(threads))
        except Exception:  # a library threadpoolctl cannot drive must not stop the worker
            pass


_HWM = re.compile(rb"VmHWM:\s*(\d+)\s*kB")


def _resettable_peak() -> bool:
    """Reset this process's peak resident memory (Linux >= 4.0: ``5`` to ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_mb() -> float | None:
    """Peak resident memory since the last reset (``VmHWM``, Linux), or None where there is no such counter."""
    try:
        with open("/proc/self/status", "rb") as fh:
            m = _HWM.search(fh.read())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def _max_rss_mb() -> float:
    """Peak resident memory over the process's life (``ru_maxrss``: bytes on macOS, kB elsewhere)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:  # the platform refuses: the lifetime peak alone must do
        return 0.0


def run_measured(fn, spec: TrialSpec, context: object, worker: str) -> tuple[TrialResult, float]:
    """``run_trial`` plus the most memory this process held during the trial, in MB.

    The parent polls memory only every so often, so a trial that spikes above the limit and returns between
    two polls would slip through; the peak measured here cannot miss it. Where the peak can be reset (Linux)
    it is the trial's own peak; elsewhere it is the lifetime peak if the trial raised it, else the current
    resident size (a lower bound of the trial's peak). Child processes the trial started are not counted here
    (the parent's polling covers those while they live).
    """
    if _resettable_peak() and _vm_hwm_mb() is not None:
        result = run_trial(fn, spec, context, worker)
        return result, _vm_hwm_mb() or 0.0
    before = _max_rss_mb()
    result = run_trial(fn, spec, context, worker)
    after = _max_rss_mb()
    return result, after if after > before else _current_rss_mb()


def load_payload(payload: bytes) -> object:
    """``(fn, context)`` from the bytes the parent sent: the pickle itself, or ``PAYLOAD_FILE`` + the path of a
    file holding it (a large context is read from disk, so the parent never holds a second copy in memory)."""
    if payload.startswith(PAYLOAD_FILE):
        with open(payload_path(payload), "rb") as fh:
            return pickle.load(fh)
    return pickle.loads(payload)


def payload_path(payload: bytes) -> str | None:
    """The file a ``PAYLOAD_FILE`` payload names, else None."""
    return os.fsdecode(payload[len(PAYLOAD_FILE):]) if payload.startswith(PAYLOAD_FILE) else None


def _watch_parent(parent_pid: int, interval: float = 0.5, leftover: str | None = None) -> None:
    """Exit this process as soon as the parent is gone, so a killed orchestrator leaves no orphans (and no
    payload file: ``leftover`` is removed first)."""
    def gone() -> None:
        if leftover is not None:
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                gone()
            except PermissionError:  # the pid was reused by another user's process: the parent is gone
                gone()

    threading.Thread(target=watch, name="forgeml-parent-watch", daemon=True).start()


def run_trial(fn, spec: TrialSpec, context: object, worker: str) -> TrialResult:
    """Call ``fn`` and set ``worker`` on its result.

    An exception, or a value that is not a ``TrialResult``, becomes a ``FAILED`` result.
    """
    t0 = time.time()
    try:
        result = fn(spec, context)
        if not isinstance(result, TrialResult):
            raise TypeError(f"the trial function returned {type(result).__name__}, expected a TrialResult")
    except BaseException as exc:  # noqa: B036 - SystemExit/KeyboardInterrupt from user code are trial failures
        return TrialResult.failure(spec, TrialStatus.FAILED, ErrorInfo.from_exception(exc),
                                   duration=time.time() - t0, worker=worker)
    return result if result.worker else replace(result, worker=worker)


def release_memory() -> None:
    """Give the memory a finished trial freed back to the system (glibc keeps freed heap memory in its arenas, one
    per thread that allocated: a worker's resident size otherwise only grows, trial after trial, and the next
    trial's peak starts from there). Nothing where there is no glibc."""
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
            _TRIM.argtypes = [ctypes.c_size_t]
        except (ImportError, OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        gc.collect()
        _TRIM(0)


_TRIM: Any = None


def _quick_exit() -> None:
    """End the worker now that the parent has asked it to: every result is sent and nothing here is the parent's
    to keep, while the interpreter's own teardown (freeing every module's objects, more so with PyTorch loaded)
    took 0.3-0.9 s, which the parent waited for at the end of every fit."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def subprocess_main(fd: int, threads: int, parent_pid: int, recycle_mb: float | None = None) -> None:
    """Entry point of a ``subprocess`` worker: read the payload from the inherited socket, then serve."""
    conn = Connection(fd)
    try:
        payload = conn.recv_bytes()
    except (EOFError, OSError):
        return
    worker_main(conn, payload, threads, parent_pid, recycle_mb)


def worker_main(conn: Connection, payload: bytes, threads: int, parent_pid: int,
                recycle_mb: float | None = None) -> None:
    """Entry point of a local worker process.

    After each result the worker gives freed memory back, then tells the parent it is ``free`` for the next
    trial, or, when it still holds more than ``recycle_mb`` above what it held when it became ready, that it
    ``retire``s: some libraries keep what a fit allocated for the life of the process (CatBoost about 170 MB
    after a trial on 83,000 rows, PyTorch its 180 MB of code and buffers), and every later trial's peak would
    start from there. The parent starts a fresh worker in its place."""
    limit_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    _watch_parent(parent_pid, leftover=payload_path(payload))
    name = f"local:{os.getpid()}"
    try:
        fn, context = load_payload(payload)
        del payload
    except BaseException as exc:  # noqa: B036
        info = ErrorInfo.from_exception(exc)
        conn.send(("init_error", ErrorInfo(info.type, "the worker could not load the trial function and its "
                                           f"context: {info.message}", info.traceback)))
        return
    conn.send(("ready", os.getpid()))
    ready_mb = _current_rss_mb()
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return
        if spec is None:
            _quick_exit()
        result, peak_mb = run_measured(fn, spec, context, name)
        try:
            conn.send(("result", result, peak_mb))
        except (EOFError, OSError):
            return
        except Exception as exc:  # the result could not be pickled
            conn.send(("result", TrialResult.failure(
                spec, TrialStatus.FAILED,
                ErrorInfo(type(exc).__name__, f"the trial result could not be sent back to the parent: {exc}"),
                duration=result.duration, worker=name), peak_mb))
        del result
        release_memory()  # after the result is on its way: the trim never delays it
        held_mb = _current_rss_mb()
        retire = recycle_mb is not None and ready_mb > 0 and held_mb - ready_mb > recycle_mb
        try:
            conn.send(("retire" if retire else "free", held_mb))
        except (EOFError, OSError):
            return
        if retire:
            _quick_exit()
