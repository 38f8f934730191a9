"""docs/extending.md shows the test plug-ins verbatim, and its usage example runs."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "extending.md").read_text()
BLOCK = r"\n```python\n(.*?)```\n"


def test_every_included_plugin_file_matches_the_tests_file():
    included = re.findall(r"<!-- file: (\S+) -->" + BLOCK, DOC, flags=re.S)
    assert [path for path, _ in included] == [f"tests/plugins/{k}.py" for k in
                                              ("families", "searchers", "ensemblers", "metrics", "nas")]
    for path, code in included:
        assert code == (ROOT / path).read_text(), f"docs/extending.md is out of date for {path}"


def test_the_usage_example_runs():
    from forgeml.ensemble import ENSEMBLERS
    from forgeml.metrics import METRICS, unregister_metric
    from forgeml.models import FAMILIES
    from forgeml.search import SEARCHERS

    (code,) = re.findall(r"<!-- run -->" + BLOCK, DOC, flags=re.S)
    try:
        exec(compile(code, "docs/extending.md", "exec"), {"__name__": "extending_doc"})
    finally:
        for registry, name in ((FAMILIES, "decision_tree"), (SEARCHERS, "plain_random"), (ENSEMBLERS, "average")):
            if name in registry:
                registry.unregister(name)
        if "recall_of_yes" in METRICS:
            unregister_metric("recall_of_yes")
