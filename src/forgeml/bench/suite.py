"""A benchmark suite: a ``manifest.json`` listing datasets (name, file, target, task) beside their data files."""
from __future__ import annotations

import json
from pathlib import Path

from forgeml.errors import DataFormatError

MANIFEST = "manifest.json"


def read_suite(suite: str | Path) -> tuple[list[dict], Path]:
    """The suite's dataset entries and the folder their files are in; ``suite`` is the manifest or its folder."""
    path = Path(suite)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise DataFormatError(f"no benchmark suite at {suite}: give a manifest.json or the folder holding it")
    try:
        datasets = json.loads(path.read_text())["datasets"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path} is not a suite manifest ({type(e).__name__}: {e}); it must be JSON with a "
                              "'datasets' list") from None
    if not isinstance(datasets, list):
        raise DataFormatError(f"{path}: 'datasets' must be a list of entries (name, file, target, task)")
    return datasets, path.parent
