"""The experiment store: runs and trials in SQLite, artifacts as atomic files, both under the run directory."""
from __future__ import annotations

from forgeml.store.artifacts import ArtifactStore
from forgeml.store.queries import runs_frame, trials_frame
from forgeml.store.schema import SCHEMA_VERSION
from forgeml.store.sqlite import DB_NAME, Store

__all__ = ["ArtifactStore", "DB_NAME", "SCHEMA_VERSION", "Store", "runs_frame", "trials_frame"]
