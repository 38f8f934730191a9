"""Versioned schema of the experiment store, applied by forward migrations.

Each migration is a list of SQL statements that takes the database from version ``v - 1`` to ``v``. A store
records every applied version in ``schema_version``; opening an older store applies the missing migrations in
one transaction, opening a newer one is refused (an older forgeml cannot know what a newer one wrote).
To change the schema, append a migration: never edit one that has shipped.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence

from forgeml.errors import StoreError

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE runs (
            run_id        TEXT PRIMARY KEY,
            status        TEXT NOT NULL,
            created_at    REAL NOT NULL,
            ended_at      REAL,
            best_trial_id INTEGER,
            meta          TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE trials (
            run_id          TEXT NOT NULL REFERENCES runs(run_id),
            trial_id        INTEGER NOT NULL,
            status          TEXT NOT NULL,
            kind            TEXT,
            fidelity        REAL,
            seed            INTEGER,
            parent_id       INTEGER,
            timeout         REAL,
            config          TEXT NOT NULL DEFAULT '{}',
            score           REAL,
            loss            REAL,
            fold_scores     TEXT NOT NULL DEFAULT '[]',
            fit_time        REAL,
            predict_time    REAL,
            duration        REAL,
            oof_path        TEXT,
            model_path      TEXT,
            error_type      TEXT,
            error_message   TEXT,
            error_traceback TEXT,
            worker          TEXT,
            extra           TEXT NOT NULL DEFAULT '{}',
            spec_extra      TEXT NOT NULL DEFAULT '{}',
            started_at      REAL,
            ended_at        REAL,
            PRIMARY KEY (run_id, trial_id)
        )""",
        "CREATE INDEX trials_status ON trials(run_id, status)",
    ],
}

SCHEMA_VERSION: int = max(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for an empty one)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in tables:
        return -1 if tables else 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, where: str, migrations: Mapping[int, Sequence[str]] = MIGRATIONS) -> int:
    """Bring the database to the newest version in ``migrations``; returns the version reached.

    Raises ``StoreError`` for a database written by a newer forgeml or one that is not a forgeml store.
    """
    target = max(migrations)
    version = current_version(conn)
    if version == -1:
        raise StoreError(
            f"{where} is an SQLite database but not a forgeml store (it has no schema_version table); "
            "pass a different run directory or move the file away."
        )
    if version > target:
        raise StoreError(
            f"the store at {where} has schema version {version}, newer than version {target} that this forgeml "
            "understands; upgrade forgeml (pip install -U forgeml) or use another run directory."
        )
    if version == target:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)  # again, under the write lock
        if version == 0:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        for v in range(version + 1, target + 1):
            for statement in migrations[v]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (v, time.time()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return target
