"""A Ray head for the ``ray`` tests: ``FORGEML_RAY_ADDRESS`` if set (CI), else one started here and stopped after.

The executor plug-in of ``tests/plugins/executors.py`` is registered here, before collection, so every test
parametrized over ``EXECUTORS`` covers it as it would cover any user's plug-in.

The head started here uses free ports and its own temp dir so it cannot collide with another cluster on the
machine, and it is stopped by signalling the ``ray start --block`` process we launched (never ``ray stop``,
which would stop every Ray cluster of the user).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.plugins.executors import register_plugins

register_plugins()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


def _wait_for_head(address: str, proc: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    """Wait until ``ray status`` answers for ``address`` (the GCS port opens before the node is ready)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the Ray head did not start within {timeout:g} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def ray_head() -> Iterator[str]:
    """Start a private Ray head (2 CPUs) and yield its address; stop it on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="fgr-"))  # short: Ray's unix socket paths must stay under ~100 chars
    port = _free_port()
    ports = {name: _free_port() for name in ("ray-client-server-port", "dashboard-agent-listen-port",
                                              "dashboard-agent-grpc-port", "runtime-env-agent-port",
                                              "metrics-export-port", "node-manager-port", "object-manager-port")}
    cmd = [_ray_cli(), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
           "--disable-usage-stats", "--block", f"--temp-dir={tmp}", "--object-store-memory=100000000",
           *(f"--{k}={v}" for k, v in ports.items())]
    log = tmp / "ray-start.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    try:
        _wait_for_head(f"127.0.0.1:{port}", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # ray start --block stops the processes it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    address = os.environ.get("FORGEML_RAY_ADDRESS")
    if address:
        yield address
        return
    with ray_head() as address:
        yield address


@pytest.fixture(scope="module")
def connected(ray_address: str) -> Iterator[str]:
    """One driver connection shared by a module's tests, so Ray workers stay warm between them."""
    import ray

    from forgeml.execute.ray import _use_local_token

    if ray.is_initialized():
        ray.shutdown()
    _use_local_token(ray_address)
    ray.init(address=ray_address, log_to_driver=False)
    yield ray_address
    ray.shutdown()
