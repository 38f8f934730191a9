"""Process helpers for the local executor: child environment, exit codes, memory and killing of process trees."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
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


class SubprocessHandle:
    """The parts of ``multiprocessing.Process`` the executor uses, for a ``subprocess.Popen`` worker."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.sentinel = None  # the worker's end of the pipe closes when it dies; that is the signal

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()


def start_subprocess_worker(payload: bytes, threads: int, recycle_mb: float | None = None
                            ) -> tuple[SubprocessHandle, Any]:
    """Start ``python -c worker`` with one end of a socket pair; send it ``payload`` from a thread.

    A fresh interpreter imports only forgeml (never the user's ``__main__``), and sending from a thread lets
    several workers start at once without the caller waiting for their imports.
    """
    from multiprocessing.connection import Connection

    from forgeml.execute._worker import thread_env

    parent_sock, child_sock = socket.socketpair()
    env = {**os.environ, **thread_env(threads)}
    code = (f"from forgeml.execute._worker import subprocess_main; "
            f"subprocess_main({child_sock.fileno()}, {int(threads)}, {os.getpid()}, {recycle_mb!r})")
    popen = subprocess.Popen([sys.executable, "-c", code], pass_fds=(child_sock.fileno(),), env=env,
                             stdin=subprocess.DEVNULL, close_fds=True)
    child_sock.close()
    conn = Connection(parent_sock.detach())

    def send() -> None:
        with contextlib.suppress(OSError, ValueError):
            conn.send_bytes(payload)

    threading.Thread(target=send, name="forgeml-payload", daemon=True).start()
    return SubprocessHandle(popen), conn
