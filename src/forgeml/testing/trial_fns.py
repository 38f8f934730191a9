"""Top-level trial functions and a context for the executor battery (importable by spawned and Ray workers).

``trial_fn`` does what ``spec.config["action"]`` says: return a result, raise, sleep, exit hard, kill itself,
allocate memory (and hold it, free it at once, or keep it for good) or report its pid. ``CountingContext``
counts how many times it was unpickled in the current process (per context instance), so a test can check that
an executor ships the context once per worker, not once per trial.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from forgeml.trial import TrialResult, TrialSpec, TrialStatus

_HELD: list = []  # per process: what a "fragment" trial keeps alive after it returns
_KEPT: list = []  # per process: what "keep" trials allocated, never freed
_LOADS: dict[str, int] = {}  # per process: context token -> how many times it was unpickled here


def context_loads(context: CountingContext) -> int:
    """How many times this process has unpickled (a copy of) ``context``."""
    return _LOADS.get(context.token, 0)


class CountingContext:
    """A picklable context holding ``value`` (added to the loss), a scratch directory and optional ballast."""

    def __init__(self, value: float = 0.0, tmp_dir: str | None = None, ballast_mb: float = 0.0) -> None:
        self.value = value
        self.token = uuid.uuid4().hex
        self.tmp_dir = tmp_dir
        self.ballast = np.ones(int(ballast_mb * 2**20 / 8)) if ballast_mb else None

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _LOADS[self.token] = _LOADS.get(self.token, 0) + 1


def _ok(spec: TrialSpec, context: CountingContext, t0: float, **extra: Any) -> TrialResult:
    loss = float(context.value) + float(spec.config.get("x", 0.0))
    return TrialResult(trial_id=spec.trial_id, status=TrialStatus.COMPLETE, score=-loss, loss=loss,
                       fold_scores=(-loss,), fit_time=time.time() - t0, fidelity=spec.fidelity,
                       extra={"pid": os.getpid(), "context_loads": context_loads(context), **extra})


def trial_fn(spec: TrialSpec, context: CountingContext) -> TrialResult:
    """Behave as ``spec.config["action"]`` asks (default ``"ok"``)."""
    t0 = time.time()
    cfg = spec.config
    action = cfg.get("action", "ok")
    if action == "ok":
        return _ok(spec, context, t0)
    if action == "raise":
        raise ValueError(f"boom in trial {spec.trial_id}")
    if action == "sleep":  # reports when it slept, so overlap (not elapsed time) shows trials ran in parallel
        time.sleep(float(cfg.get("seconds", 1.0)))
        return _ok(spec, context, t0, slept=(t0, time.time()))
    if action == "exit":
        os._exit(int(cfg.get("code", 3)))
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    if action == "alloc":
        blocks = []
        for _ in range(int(cfg.get("mb", 512)) // 16):
            blocks.append(np.ones(16 * 2**20 // 8))  # touched pages: they count in RSS
            time.sleep(0.01)
        time.sleep(float(cfg.get("hold", 20.0)))
        return _ok(spec, context, t0, held_mb=16 * len(blocks))
    if action == "spike":  # touch `mb` MB at once, free it and return at once: over a limit only briefly
        block = np.ones(int(float(cfg.get("mb", 512)) * 2**20 / 8))
        held = block.nbytes / 2**20
        del block
        return _ok(spec, context, t0, held_mb=held)
    if action == "fragment":  # `mb` MB in 96 KB blocks (glibc's heap, not mmap), every 16th kept until the next
        # fragment trial: the freed blocks between them are heap pages that only malloc_trim gives back
        blocks = [np.ones(12_000) for _ in range(int(float(cfg.get("mb", 256)) * 2**20 / 96_000))]
        _HELD[:] = blocks[::16]
        del blocks
        return _ok(spec, context, t0)
    if action == "keep":  # `mb` MB kept for the life of the process, as some libraries keep what a fit took
        _KEPT.append(np.ones(int(float(cfg.get("mb", 128)) * 2**20 / 8)))
        return _ok(spec, context, t0)
    if action == "pid_sleep":
        with open(Path(context.tmp_dir) / f"{spec.trial_id}.pid", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(float(cfg.get("seconds", 5.0)))
        return _ok(spec, context, t0)
    if action == "spawn_child":  # a grandchild process that must not outlive a stopped trial
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        (Path(context.tmp_dir) / f"{spec.trial_id}.child").write_text(str(child.pid))
        time.sleep(float(cfg.get("seconds", 60.0)))
        return _ok(spec, context, t0)
    if action == "env":
        names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
        return _ok(spec, context, t0, env={k: os.environ.get(k) for k in names})
    if action == "big":
        arr = np.arange(int(cfg.get("n", 2_000_000)), dtype=np.float64)
        return _ok(spec, context, t0, array=arr)
    raise ValueError(f"unknown action {action!r}")
