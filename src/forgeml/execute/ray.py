"""Run trials as Ray tasks, on a local Ray instance or an existing cluster.

``(fn, context)`` is put in the object store once; each Ray worker process fetches and unpickles it on its first
trial and keeps it for later ones. Timeouts and cancellations use ``ray.cancel(force=True)`` (which kills the
task's worker). A worker that dies is retried up to ``max_retries`` times, then recorded ``CRASHED``.

Workers of an external cluster import ``forgeml`` and the trial function's module, so start the cluster from
the same Python environment (``ray start --head`` in the virtualenv where forgeml is installed).
"""
from __future__ import annotations

import os
import socket
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from forgeml.errors import ConfigError, MissingDependencyError
from forgeml.execute._worker import limit_threads, run_trial, thread_env
from forgeml.execute.base import Executor, TrialFn
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

# Worker-side cache: object-ref hex -> (fn, context), so a Ray worker unpickles the context once, not per trial.
_PAYLOAD: dict[str, Any] = {}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError('the Ray executor needs Ray; install it with: pip install "forgeml[ray]"') from e
    return ray


def _cannot_connect(address: str | None, reason: object) -> str:
    return (f"cannot connect to a Ray cluster at {address!r}: {reason}. Start one with `ray start --head` from "
            "this Python environment, or pass address=None to start a local Ray instance.")


def _check_reachable(address: str) -> None:
    """Fail fast on ``HOST:PORT`` with nothing listening (``ray.init`` would retry for a minute)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=5.0).close()
    except OSError as e:
        raise ConfigError(_cannot_connect(address, e)) from e


def _use_local_token(address: str) -> None:
    """Send this machine's Ray auth token, if any, as Ray does for ``address="auto"``.

    ``ray start`` enables token authentication when ``~/.ray/auth_token`` exists, but ``ray.init`` with an
    explicit address does not pick the token up; a cluster without authentication ignores it.
    """
    if address == "auto":
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: leave authentication to RAY_AUTH_MODE
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _ray_task(box: list, spec: TrialSpec, threads: int) -> TrialResult:
    """Body of the Ray task: fetch the payload once per worker process, then run the trial."""
    import ray

    key = box[0].hex()
    if key not in _PAYLOAD:
        limit_threads(threads)
        _PAYLOAD.clear()
        _PAYLOAD[key] = ray.get(box[0])
    fn, context = _PAYLOAD[key]
    return run_trial(fn, spec, context, f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}")


@dataclass
class _Task:
    spec: TrialSpec
    started: float
    attempt: int


class RayExecutor(Executor):
    """Trials as Ray tasks with ``cpus_per_trial`` CPUs each; at most ``capacity`` run at once.

    ``address`` is ``"auto"`` (the cluster started on this machine), ``"HOST:PORT"``, or ``None``/``"local"``
    to start a private local instance. ``memory_limit_mb`` is passed to Ray as each task's memory request
    (used for scheduling; Ray's own memory monitor kills tasks when the node runs out), not a limit this
    executor enforces. ``threads_per_worker`` is accepted like every executor's, and ignored: a task's native
    thread pools are capped at ``cpus_per_trial``, the CPUs Ray reserves for it. A trial's time limit
    counts from its submission to Ray, so keep ``n_workers`` within the cluster's free CPUs. Numpy arrays in the
    context reach workers zero-copy and read-only: trial functions must not modify them in place.
    """

    name = "ray"

    def __init__(self, address: str | None = "auto", n_workers: int | None = None, cpus_per_trial: int = 1,
                 memory_limit_mb: float | None = None, max_retries: int = 1,
                 threads_per_worker: int | None = None) -> None:
        if n_workers is not None and int(n_workers) < 1:
            raise ConfigError(f"n_workers must be at least 1 or None, got {n_workers}.")
        if int(cpus_per_trial) < 1:
            raise ConfigError(f"cpus_per_trial must be at least 1, got {cpus_per_trial}.")
        if int(max_retries) < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {max_retries}.")
        self.address = address
        self.n_workers = n_workers
        self.cpus_per_trial = int(cpus_per_trial)
        self.memory_limit_mb = memory_limit_mb
        self.threads_per_worker = threads_per_worker  # accepted for the common interface; see the docstring
        self.max_retries = int(max_retries)
        self._ray: Any = None
        self._remote: Any = None
        self._box: list | None = None
        self._owns = False
        self._capacity = int(n_workers) if n_workers is not None else max(1, (os.cpu_count() or 1) // cpus_per_trial)
        self._tasks: dict[Any, _Task] = {}
        self._queue: deque[tuple[TrialSpec, int]] = deque()
        self._done: list[TrialResult] = []
        self._ids: set[int] = set()
        self._closed = False

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def running(self) -> set[int]:
        return set(self._ids)

    def start(self, fn: TrialFn, context: Any) -> None:
        """Connect to (or start) Ray and put ``(fn, context)`` in the object store once."""
        if self._closed:
            raise RuntimeError("this RayExecutor was shut down; create a new one")
        if self._remote is not None:
            return
        ray = _import_ray()
        env = {"env_vars": thread_env(self.cpus_per_trial)}
        options: dict[str, Any] = {"num_cpus": self.cpus_per_trial, "max_retries": 0}
        if self.memory_limit_mb is not None:
            options["memory"] = int(self.memory_limit_mb * 2**20)
        if ray.is_initialized():
            options["runtime_env"] = env  # someone else's session: set the limits per task
        else:
            kwargs: dict[str, Any] = {"runtime_env": env, "log_to_driver": False}
            if self.address in (None, "local"):
                kwargs.update(num_cpus=os.cpu_count() or 1, include_dashboard=False)
            else:
                kwargs["address"] = self.address
                _check_reachable(self.address)
                _use_local_token(self.address)
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as e:
                raise ConfigError(_cannot_connect(self.address, e)) from e
            self._owns = True
        self._ray = ray
        if self.n_workers is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self._capacity = max(1, cpus // self.cpus_per_trial)
        try:
            self._box = [ray.put((fn, context))]
        except Exception as e:
            if self._owns:
                ray.shutdown()
            raise ConfigError(f"the trial function and its context must be serializable to reach Ray workers: "
                              f"{type(e).__name__}: {e}") from e
        self._remote = ray.remote(_ray_task).options(**options)

    def submit(self, spec: TrialSpec) -> None:
        if self._closed:
            raise RuntimeError("this RayExecutor was shut down; create a new one")
        if self._remote is None:
            raise RuntimeError("call start(fn, context) before submit()")
        if spec.trial_id in self._ids:
            raise ValueError(f"trial {spec.trial_id} is already submitted and not yet returned by poll()")
        self._ids.add(spec.trial_id)
        self._queue.append((spec, 1))
        self._dispatch()

    def poll(self, timeout: float = 0.1) -> list[TrialResult]:
        if self._remote is None or self._closed:
            return []
        ray = self._ray
        deadline = time.time() + max(timeout, 0.0)
        while True:
            self._dispatch()
            refs = list(self._tasks)
            wait = max(0.0, min(0.1, deadline - time.time()))
            if refs:
                ready, rest = ray.wait(refs, num_returns=1, timeout=wait)
                if ready and rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                for ref in ready:
                    self._collect(ref)
            else:
                time.sleep(wait)
            self._enforce_timeouts()
            if self._done or time.time() >= deadline:
                break
        self._dispatch()
        out, self._done = self._done, []
        for r in out:
            self._ids.discard(r.trial_id)
        return out

    def cancel(self, trial_id: int) -> None:
        for item in list(self._queue):
            if item[0].trial_id == trial_id:
                self._queue.remove(item)
                self._done.append(TrialResult.failure(
                    item[0], TrialStatus.PRUNED, ErrorInfo("Cancelled", "the trial was cancelled before it started")))
                return
        for ref, task in list(self._tasks.items()):
            if task.spec.trial_id == trial_id:
                self._kill(ref, TrialStatus.PRUNED,
                           ErrorInfo("Cancelled", "the trial was cancelled while running; its Ray task was stopped"))
                return

    def shutdown(self) -> None:
        """Cancel outstanding tasks and disconnect (stopping Ray only if this executor started it)."""
        if self._closed:
            return
        self._closed = True
        if self._ray is not None:
            for ref in list(self._tasks):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # the task may be finished or its worker already gone
                    pass
            if self._owns and self._ray.is_initialized():
                self._ray.shutdown()
        self._tasks.clear()
        self._queue.clear()
        self._done.clear()
        self._ids.clear()
        self._box = None

    # -- internals ------------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while self._queue and len(self._tasks) < self._capacity:
            spec, attempt = self._queue.popleft()
            ref = self._remote.remote(self._box, spec, self.cpus_per_trial)
            self._tasks[ref] = _Task(spec, time.time(), attempt)

    def _kill(self, ref: Any, status: TrialStatus, error: ErrorInfo) -> None:
        task = self._tasks.pop(ref)
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # already finished: the result is dropped, the status stands
            pass
        self._done.append(TrialResult.failure(task.spec, status, error, duration=time.time() - task.started))

    def _enforce_timeouts(self) -> None:
        now = time.time()
        for ref, task in list(self._tasks.items()):
            t = task.spec.timeout
            if t is not None and now - task.started > t:
                self._kill(ref, TrialStatus.TIMEOUT, ErrorInfo(
                    "TimeoutError", f"trial exceeded its time limit of {t:g} s and its Ray task was stopped; raise "
                    "the per-trial timeout or the budget if such trials should finish."))

    def _collect(self, ref: Any) -> None:
        task = self._tasks.pop(ref)
        exc = self._ray.exceptions
        elapsed = time.time() - task.started
        try:
            res: TrialResult = self._ray.get(ref)
        except exc.TaskCancelledError:
            return
        except exc.RayTaskError as e:  # the task body raised outside the trial function (e.g. an import error)
            cause = getattr(e, "cause", None) or e
            self._done.append(TrialResult.failure(task.spec, TrialStatus.FAILED, ErrorInfo(
                type(cause).__name__, str(cause)[:2000], str(e)[-8000:]), duration=elapsed))
            return
        except (exc.RayError, OSError) as e:  # the worker or its node died, ran out of memory, lost the object
            if task.attempt <= self.max_retries:
                self._queue.appendleft((task.spec, task.attempt + 1))
                return
            kind = "MemoryError" if isinstance(e, exc.OutOfMemoryError) else "WorkerCrashedError"
            first = (str(e).strip().splitlines() or [""])[0]
            self._done.append(TrialResult.failure(task.spec, TrialStatus.CRASHED, ErrorInfo(
                kind, f"the Ray worker running trial {task.spec.trial_id} died ({type(e).__name__}: {first}); "
                f"gave up after {task.attempt} attempt(s).", str(e)[-8000:]), duration=elapsed))
            return
        extra = res.extra if task.attempt == 1 else {**res.extra, "attempts": task.attempt}
        self._done.append(replace(res, trial_id=task.spec.trial_id, duration=res.duration or elapsed, extra=extra))
