"""The one-way layers of docs/design.md, read from the source: a module may not import a layer above it.

Every ``import`` and ``from ... import`` counts, function-local ones included (a local import does not make an
upward dependency go away), and relative imports are resolved against the importing module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import forgeml

SRC = Path(forgeml.__file__).resolve().parent  # .../src/forgeml

# (who, may not import, why): who/target are dotted prefixes under ``forgeml``
RULES = [
    ("forgeml", "forgeml.api", "nothing below api/ imports forgeml.api (only api/, cli/, bench/, testing/, "
                                "the product surface and the package's public __init__ may)"),
    ("forgeml.search", "forgeml.models", "searchers see a SearchSpace and TrialResults, never model families"),
    ("forgeml.search", "forgeml.execute", "searchers are pure state machines, they never run trials"),
    ("forgeml.execute", "forgeml.search", "executors run a TrialSpec without knowing how it was proposed"),
    ("forgeml.execute", "forgeml.models", "executors run a TrialSpec without knowing what a trial fits"),
    ("forgeml.models", "forgeml.nas", "model families never import NAS (NAS may reuse the MLP family)"),
    ("forgeml.search", "forgeml.nas", "searchers serve NAS; they never import it"),
    ("forgeml.nas", "forgeml.orchestrate", "NAS trains networks in process; the orchestrator calls it, not back"),
]
# the product surface (report, explain, serve, export) works on fitted models and model files, above the api
ABOVE_API = ("forgeml.api", "forgeml.cli", "forgeml.bench", "forgeml.testing", "forgeml.report", "forgeml.explain",
             "forgeml.serve", "forgeml.export")
PUBLIC_NAMES = {"AutoML", "AutoClassifier", "AutoRegressor", "load", "runs", "trials"}  # forgeml/__init__ → api


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names ``module`` imports. ``from forgeml import AutoML`` counts as ``forgeml.api`` (the package
    root hands out the api's names)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
            if base == "forgeml" and any(alias.name in PUBLIC_NAMES for alias in node.names):
                out.add("forgeml.api")
    return out


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path, who: str, target: str) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        mod = module_name(path, root)
        if not under(mod, who) or under(mod, target):
            continue
        if target == "forgeml.api" and (mod == "forgeml" or any(under(mod, a) for a in ABOVE_API)):
            continue
        names = imported(path.read_text(), mod, path.name == "__init__.py")
        bad = sorted(n for n in names if under(n, target))
        if bad:
            found.append(f"{path.relative_to(root.parent)} imports {', '.join(bad)}")
    return found


@pytest.mark.parametrize("who,target,why", RULES, ids=[f"{w}-x->{t}" for w, t, _ in RULES])
def test_no_import_runs_up_a_layer(who, target, why):
    bad = violations(SRC, who, target)
    assert not bad, f"{why}:\n" + "\n".join(bad)


def test_the_scan_sees_local_relative_and_root_imports(tmp_path):
    """The checker itself: each kind of upward import in a throwaway package is reported."""
    pkg = tmp_path / "forgeml"
    for sub in ("api", "orchestrate", "search", "execute", "models"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from forgeml.api import automl\n")  # the public root may
    (pkg / "orchestrate" / "run.py").write_text("def f():\n    from ..api.predictor import FittedPipeline\n")
    (pkg / "orchestrate" / "ok.py").write_text("from forgeml.search import base\n")
    (pkg / "search" / "tpe.py").write_text("import forgeml.models.lightgbm\n")
    (pkg / "execute" / "local.py").write_text("from forgeml import AutoML\nfrom . import search\n")
    assert violations(pkg, "forgeml", "forgeml.api") == [
        "forgeml/execute/local.py imports forgeml.api",
        "forgeml/orchestrate/run.py imports forgeml.api.predictor, forgeml.api.predictor.FittedPipeline",
    ]
    assert violations(pkg, "forgeml.search", "forgeml.models") == [
        "forgeml/search/tpe.py imports forgeml.models.lightgbm"]
    assert violations(pkg, "forgeml.execute", "forgeml.search") == []  # `from . import search` is execute.search
    (pkg / "execute" / "ray.py").write_text("from ..search import make_searcher\n")
    assert violations(pkg, "forgeml.execute", "forgeml.search") == [
        "forgeml/execute/ray.py imports forgeml.search, forgeml.search.make_searcher"]
