"""Saving and loading a fitted model directory, checked before anything is unpickled.

**A model file is code**: unpickling ``model.pkl`` can run anything its author put in it. So ``load`` reads only
JSON before it unpickles: the manifest (format version, forgeml and library versions, task, schema, metrics) and
the SHA-256 of every artifact, which must match the files byte for byte. With a key (``key=`` or the
``FORGEML_MODEL_KEY`` environment variable) the manifest also carries an HMAC-SHA256 signature, and a model that
is unsigned or signed with another key is refused: only then does a replaced model *and* manifest fail too.
Unpickling then refuses globals no model needs (``os``, ``subprocess``, ``eval``, ...), as a last guard.

Layout: ``manifest.json`` (written last), ``schema.json``, ``model.pkl`` (the fitted ``AutoML`` or ``NASearch``),
``leaderboard.csv`` and, for ``NASearch``, the found architecture as ``genotype.json``.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from forgeml._io import atomic_write
from forgeml.errors import ModelLoadError

FORMAT_VERSION = 2  # 2: artifact hashes and an optional signature in the manifest
MANIFEST, SCHEMA, MODEL, LEADERBOARD = "manifest.json", "schema.json", "model.pkl", "leaderboard.csv"
GENOTYPE = "genotype.json"  # NASearch only: the found architecture
KEY_ENV = "FORGEML_MODEL_KEY"

# Globals a model pickle never needs and an attack always does: refused while unpickling, whatever the hashes say.
_FORBIDDEN_MODULES = ("os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "code",
                      "codeop", "ctypes", "pty", "webbrowser", "multiprocessing", "signal", "pickle", "_pickle",
                      "marshal", "io", "_io", "pathlib", "tempfile", "urllib", "http", "ftplib", "smtplib",
                      "asyncio", "threading", "_thread", "platform", "commands", "popen2")
_FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
                       "locals", "vars", "input", "breakpoint", "help", "memoryview", "exit", "quit"}


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in ("forgeml", "sklearn", "numpy", "pandas", "lightgbm", "xgboost", "catboost", "torch"):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _key(key: str | bytes | None) -> bytes | None:
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    if key is None:
        return None
    return key.encode() if isinstance(key, str) else bytes(key)


def _signature(manifest: dict[str, Any], key: bytes) -> str:
    body = json.dumps({k: v for k, v in manifest.items() if k != "signature"}, sort_keys=True).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _metrics(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    metric = getattr(getattr(model, "metric_", None), "name", None) or getattr(model, "metric_name_", None)
    if metric:
        out["name"] = metric
    for attr in ("ensemble_score_", "best_score_"):
        value = getattr(model, attr, None)
        if isinstance(value, (int, float)):
            out[attr.rstrip("_")] = float(value)
    return out


def save_model(model: Any, path: str | os.PathLike, *, key: str | bytes | None = None) -> Path:
    """Write ``model`` (a fitted AutoML or NASearch) to directory ``path``; the manifest is written last, so a
    directory without one was never completely saved. ``key`` (or ``$FORGEML_MODEL_KEY``) signs the manifest."""
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    artifacts = [MODEL, SCHEMA]
    atomic_write(d / MODEL, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    atomic_write(d / SCHEMA, model.schema_.to_json().encode())
    try:
        atomic_write(d / LEADERBOARD, model.leaderboard().to_csv(index=False).encode())
        artifacts.append(LEADERBOARD)
    except Exception:  # the leaderboard is informative only
        pass
    if getattr(model, "genotype_", None) is not None:  # a searched network: its architecture, readable
        atomic_write(d / GENOTYPE, json.dumps(model.genotype_, indent=1, sort_keys=True, default=str).encode())
        artifacts.append(GENOTYPE)
    metrics = _metrics(model)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "kind": type(model).__name__, "task": model.schema_.task,
        "target": model.schema_.target, "metric": metrics.get("name"), "metrics": metrics, "saved_at": time.time(),
        "versions": _versions(), "schema": json.loads(model.schema_.to_json()),
        "artifacts": {name: _sha256(d / name) for name in artifacts},
    }
    secret = _key(key)
    if secret is not None:
        manifest["signature"] = _signature(manifest, secret)
    atomic_write(d / MANIFEST, json.dumps(manifest, indent=1).encode())
    return d


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a model directory, with its path and completeness checked (nothing unpickled)."""
    d = Path(path)
    if not d.exists():
        raise ModelLoadError(f"no model directory at {d}: check the path, or fit one with `forgeml fit ... --out {d}`")
    if d.is_file():
        raise ModelLoadError(f"{d} is a file; pass the model directory that contains {MANIFEST}")
    mf = d / MANIFEST
    if not mf.exists():
        raise ModelLoadError(f"{d} holds no finished model ({MANIFEST} is missing): the fit did not finish or saving "
                             "was interrupted; fit again with --out pointing there")
    try:
        manifest = json.loads(mf.read_text())
        int(manifest["format_version"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{mf} is corrupt ({type(exc).__name__}: {exc}); refit and save the model again") from None
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{mf} is corrupt (not a JSON object); refit and save the model again")
    return manifest


def verify_model(path: str | os.PathLike, *, key: str | bytes | None = None) -> dict[str, Any]:
    """Check a model directory without unpickling it: format version, artifact hashes and (with a key) the
    signature. Returns the manifest; raises ``ModelLoadError`` naming what is wrong."""
    d = Path(path)
    manifest = read_manifest(d)
    version = int(manifest["format_version"])
    if version > FORMAT_VERSION:
        raise ModelLoadError(f"{d} was saved in model format {version}, newer than this forgeml reads "
                             f"({FORMAT_VERSION}); upgrade forgeml (saved with {manifest.get('versions')})")
    secret = _key(key)
    if secret is not None:
        signature = manifest.get("signature")
        if not isinstance(signature, str):
            raise ModelLoadError(f"{d} is not signed, but a key was given (key= or ${KEY_ENV}): refusing to unpickle "
                                 "a model whose origin cannot be checked; save it with the key")
        if not hmac.compare_digest(signature, _signature(manifest, secret)):
            raise ModelLoadError(f"{d} was signed with another key or its manifest was changed after signing: "
                                 "refusing to unpickle it")
    if not (d / MODEL).exists():
        raise ModelLoadError(f"{d} is incomplete: {MODEL} is missing; refit and save the model again")
    artifacts = manifest.get("artifacts")
    if version >= 2:
        if not isinstance(artifacts, dict) or MODEL not in artifacts:
            raise ModelLoadError(f"{d / MANIFEST} lists no hash for {MODEL}: the manifest was changed; refusing to "
                                 "unpickle the model")
        for name, digest in artifacts.items():
            file = d / str(name)
            if Path(str(name)).name != str(name) or not file.is_file():
                raise ModelLoadError(f"{d} is incomplete: {name} is missing; refit and save the model again")
            if _sha256(file) != digest:
                raise ModelLoadError(f"{file} does not match the SHA-256 in {MANIFEST}: it was changed, replaced or "
                                     "truncated after saving; refusing to unpickle it (refit, or restore the file)")
    elif secret is None:
        warnings.warn(f"{d} was saved before model files carried hashes (format {version}): it is loaded without "
                      "an integrity check; save it again to add one", UserWarning, stacklevel=3)
    return manifest


class _GuardedUnpickler(pickle.Unpickler):
    """Refuses globals that only an attack needs; everything a fitted model holds passes."""

    def find_class(self, module: str, name: str) -> Any:
        top = module.split(".")[0]
        if top in _FORBIDDEN_MODULES or (module == "builtins" and name in _FORBIDDEN_BUILTINS):
            raise ModelLoadError(f"the model file asks to load {module}.{name}, which no forgeml model uses: it "
                                 "looks crafted; refusing to unpickle it")
        return super().find_class(module, name)


def load_model(path: str | os.PathLike, *, key: str | bytes | None = None) -> Any:
    """Load a directory written by ``save`` (or a run directory of ``forgeml fit``), after ``verify_model``."""
    d = Path(path)
    manifest = verify_model(d, key=key)
    data = (d / MODEL).read_bytes()
    try:
        model = _GuardedUnpickler(io.BytesIO(data)).load()
    except ModelLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise ModelLoadError(f"{d / MODEL} needs the module {exc.name!r}, which is not installed here; install the "
                             f"versions it was saved with: {manifest.get('versions')}") from None
    except Exception as exc:
        raise ModelLoadError(f"{d / MODEL} is corrupt or truncated ({type(exc).__name__}: {exc}); "
                             "refit and save the model again") from None
    if not hasattr(model, "predict") or not hasattr(model, "schema_"):
        raise ModelLoadError(f"{d / MODEL} does not hold a fitted forgeml model")
    return model
