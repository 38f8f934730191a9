import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# never the user's knowledge base, not even from module-scoped fixtures (each test also gets its own, below)
os.environ["FORGEML_HOME"] = tempfile.mkdtemp(prefix="forgeml-test-home-")
_HOME, _PID = os.environ["FORGEML_HOME"], os.getpid()
# not one folder per test run left in /tmp; only by this process (a forked child must not remove it)
atexit.register(lambda: os.getpid() == _PID and shutil.rmtree(_HOME, ignore_errors=True))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def shared_dataset(name: str) -> tuple[pd.DataFrame, dict]:
    """A dataset of ../shared/datasets with its manifest entry."""
    manifest = json.loads((SHARED / "manifest.json").read_text())
    entry = next(d for d in manifest["datasets"] if d["name"] == name)
    return pd.read_parquet(SHARED / entry["file"]), entry


@pytest.fixture
def dataset():
    return shared_dataset


@pytest.fixture(autouse=True)
def _own_knowledge_base(tmp_path_factory, monkeypatch):
    """Each test gets an empty knowledge base of its own (never the user's): what one test's fits remember must
    not change what another's search tries first."""
    monkeypatch.setenv("FORGEML_HOME", str(tmp_path_factory.mktemp("forgeml_home")))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n 2 --dist loadgroup`` (pytest-xdist) each test file runs whole in one process, so its
    module-scoped fitted models are made once; the executor tests, which share the one Ray cluster and count
    worker processes, run in one process one after another."""
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("execute" if path.startswith("tests/execute/") else path))
