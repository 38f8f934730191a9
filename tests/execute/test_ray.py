"""RayExecutor against a real Ray head on 127.0.0.1 (``FORGEML_RAY_ADDRESS``, or one started by conftest).

The battery (``test_battery.py``) shares one driver connection (the ``connected`` fixture of conftest) so Ray
workers stay warm between checks; ``test_executor_owns_its_connection`` covers the executor connecting and
disconnecting itself.
"""
from __future__ import annotations

import sys

import pytest

from forgeml.errors import ConfigError, MissingDependencyError
from forgeml.execute import make_executor
from forgeml.execute.ray import RayExecutor
from forgeml.testing.check_executor import run_specs
from forgeml.testing.trial_fns import CountingContext, trial_fn
from forgeml.trial import TrialSpec, TrialStatus


def test_missing_ray_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail as if it were not installed
    ex = RayExecutor(address="127.0.0.1:1")
    with pytest.raises(MissingDependencyError, match=r'pip install "forgeml\[ray\]"'):
        ex.start(trial_fn, CountingContext())


def test_unreachable_address_fails_fast():
    ex = RayExecutor(address="127.0.0.1:1")
    with pytest.raises(ConfigError, match="ray start --head"):
        ex.start(trial_fn, CountingContext())


@pytest.mark.ray
def test_executor_owns_its_connection(ray_address):
    import ray

    if ray.is_initialized():  # start from no driver connection, whatever ran before
        ray.shutdown()
    ex = make_executor("ray", address=ray_address, n_workers=2)
    ex.start(trial_fn, CountingContext(value=1.0))
    assert ray.is_initialized() and ex.capacity == 2
    got = run_specs(ex, [TrialSpec(i, {"action": "ok", "x": i}) for i in range(3)], wait=90)
    assert [got[i].loss for i in range(3)] == [1.0, 2.0, 3.0]
    assert all(r.worker.startswith("ray:") for r in got.values())
    ex.shutdown()
    assert not ray.is_initialized(), "the executor connected, so it must disconnect"


@pytest.mark.ray
def test_capacity_defaults_to_cluster_cpus(connected):
    with RayExecutor(address=connected) as ex:
        ex.start(trial_fn, CountingContext())
        assert ex.capacity == 2  # the test head has 2 CPUs


@pytest.mark.ray
def test_deterministic_crash_is_retried_then_crashed(connected):
    with RayExecutor(address=connected, n_workers=1, max_retries=1) as ex:
        ex.start(trial_fn, CountingContext())
        r = run_specs(ex, [TrialSpec(0, {"action": "exit", "code": 3})], wait=90)[0]
    assert r.status is TrialStatus.CRASHED
    assert r.error.type == "WorkerCrashedError" and "2 attempt(s)" in r.error.message
