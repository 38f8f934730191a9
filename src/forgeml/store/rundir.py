"""A run directory's life cycle: refuse to overwrite a finished run by accident, clear it when asked to.

A run directory holds what forgeml wrote there (the store, out-of-fold predictions, refit models, the saved
model) and possibly files of the user's own. Fitting again into it without ``resume`` would silently replace
the earlier model and its out-of-fold files, so that needs an explicit ``overwrite``, which removes only what
forgeml writes.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from forgeml.errors import ConfigError, StoreError
from forgeml.store.sqlite import DB_NAME, Store

# Everything forgeml writes into a run directory (store files, artifact folders, the saved model).
RUN_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal",
             "manifest.json", "schema.json", "model.pkl", "leaderboard.csv")
RUN_DIRS = ("artifacts", "oof", "models", "state", "folds", "refit")


def finished_run(path: str | Path) -> str | None:
    """A description of the finished run in directory ``path`` (a completed run in its store, or a saved
    model), or None when there is none."""
    d = Path(path)
    if not d.is_dir():
        return None
    if (d / DB_NAME).exists():
        try:
            with Store.open(d, create=False) as store:
                runs = store.runs()
        except StoreError:
            runs = None
        if runs is not None:
            done = runs[runs["status"] == "complete"]
            if len(done):
                return f"run {done['run_id'].iloc[0]} (complete)"
    if (d / "manifest.json").exists():
        return "a saved model (manifest.json)"
    return None


def prepare_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False, clear: bool = True) -> None:
    """Make ``path`` ready for a new fit, before any work is done.

    With a finished run in ``path`` and neither ``resume`` (continue it) nor ``overwrite`` (replace it), raise
    a ``ConfigError`` naming the directory and both ways forward. With ``overwrite=True`` remove what forgeml
    wrote there (``RUN_FILES``, ``RUN_DIRS``); other files are left alone. ``clear=False`` only refuses: the
    fit clears the directory later, once the new data has passed its checks, so a bad table loses nothing.
    """
    if resume and overwrite:
        raise ConfigError("resume=True continues the run in the directory and overwrite=True replaces it; pass one")
    if resume:
        return
    found = finished_run(path)
    if found is None:
        return
    if not overwrite:
        raise ConfigError(f"the run directory {str(path)!r} already holds a finished run: {found}. Pass "
                          "resume=True (`forgeml fit --resume`) to continue it, or overwrite=True "
                          "(`forgeml fit --overwrite`) to replace it; or choose another directory")
    if clear:
        clear_run_dir(path)


def clear_run_dir(path: str | Path) -> list[str]:
    """Remove forgeml's files and folders from run directory ``path``; returns the names removed."""
    d = Path(path)
    removed = []
    for name in RUN_DIRS:
        p = d / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
            removed.append(name)
    for name in RUN_FILES:
        p = d / name
        if p.is_file() or p.is_symlink():
            os.unlink(p)
            removed.append(name)
    return removed
