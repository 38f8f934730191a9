"""Files a run produces (out-of-fold predictions, fitted pipelines), kept under ``<run_dir>/artifacts/``.

Every write goes to a temporary file in the same directory and is moved into place with ``os.replace``, so a
process killed at any moment leaves either the old file, the new one, or none: never half of one. Workers use
this class directly (it is a path wrapper and pickles cheaply); the store only records the returned paths.
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from forgeml._io import atomic_write
from forgeml.errors import StoreError

ARTIFACTS_DIR = "artifacts"


class ArtifactStore:
    """Atomic array and object files under ``run_dir/artifacts``."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / ARTIFACTS_DIR

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.run_dir)!r})"

    def _target(self, name: str, suffix: str) -> Path:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise StoreError(f"artifact name {name!r} must be a relative path inside the run directory "
                             "(no '..', not absolute).")
        if not rel.name.endswith(suffix):
            rel = rel.with_name(rel.name + suffix)
        return self.root / rel

    def _atomic_write(self, target: Path, write: Callable[[IO[bytes]], None]) -> str:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, write)
        except OSError as e:
            raise StoreError(f"cannot write artifact {target}: {e}; check that the run directory is writable "
                             "and the disk is not full.") from e
        return str(target.resolve())

    def _resolve(self, path: str | Path) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.run_dir / p

    def save_array(self, name: str, arr: Any) -> str:
        """Save a numpy array as ``<name>.npy``; returns the absolute path."""
        a = np.asarray(arr)
        return self._atomic_write(self._target(name, ".npy"), lambda fh: np.save(fh, a, allow_pickle=False))

    def load_array(self, path: str | Path) -> np.ndarray:
        """Load an array saved by ``save_array`` (relative paths are taken from the run directory)."""
        p = self._resolve(path)
        try:
            return np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise StoreError(f"cannot read the array artifact {p}: {e}; the run directory is incomplete or "
                             "was moved; rerun the trial or the fit.") from e

    def save_object(self, name: str, obj: Any) -> str:
        """Pickle ``obj`` to ``<name>.pkl``; returns the absolute path."""
        return self._atomic_write(self._target(name, ".pkl"),
                                  lambda fh: pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL))

    def load_object(self, path: str | Path) -> Any:
        """Unpickle an object saved by ``save_object``. Only load artifacts from run directories you trust."""
        p = self._resolve(path)
        try:
            with open(p, "rb") as fh:
                return pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            raise StoreError(f"cannot read the object artifact {p}: {e}; the file is missing or damaged; "
                             "rerun the trial or the fit.") from e
