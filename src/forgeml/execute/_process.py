"""Process helpers for the local executor: child environment, exit codes, memory and killing of process trees."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil

_ENV_LOCK = threading.Lock()
_KILL_GRACE_S = 0.3


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """Temporarily set ``env`` so a spawned child starts with it (before it imports numpy or torch)."""
    with _ENV_LOCK:
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}, exit code {code}"
        except ValueError:
            return f"killed by signal {-code}, exit code {code}"
    return f"exit code {code}"


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (0 if it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def kill_tree(pid: int, grace: float = _KILL_GRACE_S, process: Any = None) -> None:
    """SIGTERM a process and its descendants, then SIGKILL whatever is left after ``grace`` seconds.

    Pass the ``multiprocessing`` ``process`` for ``pid`` so that it, not psutil, reaps the child (and records
    its exit code).
    """
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    deadline = time.time() + grace
    if process is not None:
        process.join(grace)
        procs = procs[1:]
    _, alive = psutil.wait_procs(procs, timeout=max(0.0, deadline - time.time()))
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    if process is not None and process.is_alive():
        with contextlib.suppress(psutil.Error):
            proc.kill()
        process.join(2.0)
    psutil.wait_procs(alive, timeout=2.0)
