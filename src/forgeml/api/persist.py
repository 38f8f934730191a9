"""Saving and loading a fitted model directory: a manifest with a format version, the schema, the model.

Layout: ``manifest.json`` (format version, forgeml and library versions, task, metric), ``schema.json``,
``model.pkl`` (the fitted ``AutoML`` or ``NASearch`` object), ``leaderboard.csv`` and, for ``NASearch``, the found
architecture as ``genotype.json``. Loading checks the manifest first so a
missing, newer or corrupt directory fails with a message naming the problem, not an unpickling traceback.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from forgeml._io import atomic_write
from forgeml.errors import ModelLoadError

FORMAT_VERSION = 1
MANIFEST, SCHEMA, MODEL, LEADERBOARD = "manifest.json", "schema.json", "model.pkl", "leaderboard.csv"
GENOTYPE = "genotype.json"  # NASearch only: the found architecture


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in ("forgeml", "sklearn", "numpy", "pandas", "lightgbm", "xgboost", "catboost", "torch"):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    return out


def save_model(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` (a fitted AutoML or NASearch) to directory ``path``; the manifest is written last."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / MODEL, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    atomic_write(d / SCHEMA, model.schema_.to_json().encode())
    try:
        atomic_write(d / LEADERBOARD, model.leaderboard().to_csv(index=False).encode())
    except Exception:  # the leaderboard is informative only
        pass
    if getattr(model, "genotype_", None) is not None:  # a searched network: its architecture, readable
        atomic_write(d / GENOTYPE, json.dumps(model.genotype_, indent=1, sort_keys=True, default=str).encode())
    metric = getattr(getattr(model, "metric_", None), "name", None) or getattr(model, "metric_name_", None)
    manifest = {"format_version": FORMAT_VERSION, "kind": type(model).__name__, "task": model.schema_.task,
                "target": model.schema_.target, "metric": metric, "saved_at": time.time(),
                "versions": _versions()}
    atomic_write(d / MANIFEST, json.dumps(manifest, indent=1).encode())
    return d


def load_model(path: str | os.PathLike) -> Any:
    """Load a directory written by ``save`` (or a run directory of ``forgeml fit``)."""
    d = Path(path)
    if not d.exists():
        raise ModelLoadError(f"no model directory at {d}: check the path, or fit one with `forgeml fit ... --out {d}`")
    if d.is_file():
        raise ModelLoadError(f"{d} is a file; pass the model directory that contains {MANIFEST}")
    mf = d / MANIFEST
    if not mf.exists():
        raise ModelLoadError(f"{d} has no {MANIFEST}: it is not a saved forgeml model, or saving was interrupted; "
                             "refit and save again")
    try:
        manifest = json.loads(mf.read_text())
        version = int(manifest["format_version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{mf} is corrupt ({exc}); refit and save the model again") from None
    if version > FORMAT_VERSION:
        raise ModelLoadError(f"{d} was saved in model format {version}, newer than this forgeml reads "
                             f"({FORMAT_VERSION}); upgrade forgeml (saved with {manifest.get('versions')})")
    if not (d / MODEL).exists():
        raise ModelLoadError(f"{d} is incomplete: {MODEL} is missing; refit and save the model again")
    try:
        with open(d / MODEL, "rb") as f:
            model = pickle.load(f)
    except ModuleNotFoundError as exc:
        raise ModelLoadError(f"{d / MODEL} needs the module {exc.name!r}, which is not installed here; install the "
                             f"versions it was saved with: {manifest.get('versions')}") from None
    except Exception as exc:
        raise ModelLoadError(f"{d / MODEL} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                             "refit and save the model again") from None
    if not hasattr(model, "predict") or not hasattr(model, "schema_"):
        raise ModelLoadError(f"{d / MODEL} does not hold a fitted forgeml model")
    return model
