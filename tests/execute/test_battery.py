"""The executor conformance battery over every name in ``EXECUTORS``: built-ins and registered plug-ins alike.

A name with no entry in ``SETTINGS`` (any plug-in) runs every check with the common options only, so
registering an executor is enough to have it tested. Ray checks need the Ray head of conftest (``ray`` mark).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from forgeml.execute import COMMON_OPTIONS, EXECUTORS, check_executor_class, make_executor
from forgeml.testing.check_executor import CHECKS

_RAY_MEMORY = ("Ray has no per-task RSS limit: memory_limit_mb is a scheduling request, and Ray's node-level "
               "memory monitor decides kills")


@dataclass
class Setting:
    """How one executor runs the battery: its own options, the checks that cannot apply (with why), marks."""

    options: dict[str, Any] = field(default_factory=dict)
    per_check: dict[str, dict[str, Any]] = field(default_factory=dict)
    skip: dict[str, str] = field(default_factory=dict)
    marks: tuple = ()
    fixture: str | None = None  # a fixture whose value is passed as the ``address`` option


SETTINGS = {
    # Deterministic crashes are not retried here (retries are tested in test_ray.py): four fewer worker restarts.
    "ray": Setting(per_check={"crash": {"max_retries": 0}}, skip={"memory": _RAY_MEMORY, "memory_spike": _RAY_MEMORY},
                   marks=(pytest.mark.ray,), fixture="connected"),
}


def _cases() -> list:
    cases = []
    for name in EXECUTORS.names():
        setting = SETTINGS.get(name, Setting())
        cases += [pytest.param(name, check, marks=setting.marks, id=f"{name}-{check}")
                  for check in CHECKS if check not in setting.skip]
    return cases


@pytest.mark.parametrize(("name", "check"), _cases())
def test_battery(request, name, check):
    setting = SETTINGS.get(name, Setting())
    own = {**setting.options, **setting.per_check.get(check, {})}
    if setting.fixture:
        own["address"] = request.getfixturevalue(setting.fixture)
    CHECKS[check](lambda **kw: make_executor(name, **own, **kw))


@pytest.mark.parametrize("name", EXECUTORS.names())
def test_every_executor_takes_the_common_options(name):
    """The orchestrator builds any registered executor with the common keywords and nothing else."""
    check_executor_class(name, EXECUTORS[name])
    ex = make_executor(name, n_workers=2, threads_per_worker=1, memory_limit_mb=500.0)  # not started
    assert ex.capacity == 2
    assert set(COMMON_OPTIONS) == {"n_workers", "threads_per_worker", "memory_limit_mb"}
    ex.shutdown()


def test_the_plugin_is_in_the_battery():
    assert "forkserver-plugin" in EXECUTORS.names()
    assert any(p.values[0] == "forkserver-plugin" for p in _cases())
