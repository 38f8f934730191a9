"""Installed plug-ins: a real distribution (a ``*.dist-info`` folder with ``entry_points.txt``) on ``sys.path`` is
read once, lazily, by each registry; a broken plug-in is skipped with a warning naming it and the rule."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from forgeml.errors import ConfigError
from forgeml.registry import PluginWarning, Registry

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"

ENTRY_POINTS = """\
[forgeml.families]
decision_tree = plugins.families:DecisionTreeFamily
no_caps = plugins.broken:NoCapabilities
missing = not_a_module_anywhere:Thing

[forgeml.searchers]
plain_random = plugins.searchers:PlainRandomSearcher

[forgeml.ensemblers]
average = plugins.ensemblers:AverageEnsembler
linear = plugins.ensemblers:AverageEnsembler

[forgeml.metrics]
recall_of_yes = plugins.metrics:recall_of_yes
text = plugins.broken:returns_text
"""


def _distribution(root: Path) -> Path:
    info = root / "forgeml_test_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: forgeml-test-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def test_installed_plugins_load_once_and_broken_ones_are_skipped_with_a_warning(tmp_path):
    site = _distribution(tmp_path / "site")
    script = textwrap.dedent("""
        import json, warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            from forgeml.models import FAMILIES
            from forgeml.search import SEARCHERS
            from forgeml.ensemble import ENSEMBLERS
            from forgeml.metrics import get_metric, metric_names
            before = FAMILIES._plugins_loaded
            out = {"before": before, "families": FAMILIES.names(), "searchers": SEARCHERS.names(),
                   "ensemblers": ENSEMBLERS.names(), "metrics": metric_names("binary"),
                   "metric_gib": get_metric("recall_of_yes", "binary").greater_is_better,
                   "tree": FAMILIES["decision_tree"].__module__}
            n = len(caught)
            FAMILIES.names(); metric_names()  # read once: no second round of warnings
            out["again"] = len(caught) - n
        out["warnings"] = [str(w.message) for w in caught if w.category.__name__ == "PluginWarning"]
        print(json.dumps(out))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS), str(site)])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["before"] is False  # importing forgeml read no entry point
    assert out["families"][-1] == "decision_tree" and "no_caps" not in out["families"]
    assert "missing" not in out["families"]
    assert out["searchers"][-1] == "plain_random"
    assert out["ensemblers"][-1] == "average" and out["ensemblers"].count("average") == 1  # after the built-ins
    assert "recall_of_yes" in out["metrics"] and "text" not in out["metrics"] and out["metric_gib"] is True
    assert out["tree"] == "plugins.families" and out["again"] == 0
    warnings = "\n".join(out["warnings"])
    assert "model family plug-in 'no_caps'" in warnings and "must define capabilities = Capabilities" in warnings
    assert "'missing'" in warnings and "ModuleNotFoundError" in warnings
    assert "metric plug-in 'text'" in warnings and "must return a float" in warnings
    assert "ensembler plug-in 'linear'" in warnings and "must have name = 'linear'" in warnings
    assert len(out["warnings"]) == 4, warnings


def test_a_plugin_never_replaces_a_builtin(tmp_path):
    site = tmp_path / "site"
    info = site / "clash-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[forgeml.test_clash]\ngreedy = plugins.ensemblers:AverageEnsembler\n")
    sys.path.append(str(site))
    try:
        reg = Registry("ensembler", {"greedy": "forgeml.ensemble.greedy:GreedyEnsembler"}, group="forgeml.test_clash")
        with pytest.warns(PluginWarning, match="skipping the ensembler plug-in 'greedy'.*already exists"):
            assert reg["greedy"].__name__ == "GreedyEnsembler"
        with pytest.raises(ConfigError, match=r"unknown ensembler 'averag'; available: greedy\.$"):
            reg["averag"]
    finally:
        sys.path.remove(str(site))
