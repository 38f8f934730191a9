"""The experiment store: one SQLite file (``forgeml.db``) inside the run directory.

One writer (the orchestrator process): workers return results, only the orchestrator records them. The file is
in WAL mode with a busy timeout, every write is one short transaction committed before the call returns, so a
``kill -9`` at any moment loses at most the call in flight, never a trial already recorded. Readers (the CLI,
``forgeml.trials(DIR)``, a report) may open the same file concurrently.
"""
from __future__ import annotations

import json
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ConfigError, StoreError
from forgeml.store.schema import migrate
from forgeml.trial import ErrorInfo, TrialResult, TrialSpec, TrialStatus

if TYPE_CHECKING:
    import pandas as pd

DB_NAME = "forgeml.db"
RUN_STATUSES = ("running", "complete", "failed", "interrupted")
_RUN_COLUMNS = ("run_id", "status", "created_at", "ended_at", "best_trial_id")
TRIAL_COLUMNS = (
    "run_id", "trial_id", "status", "kind", "fidelity", "score", "loss", "fold_scores", "fit_time",
    "predict_time", "duration", "config", "error", "error_type", "error_message", "error_traceback", "oof_path",
    "model_path", "worker", "seed", "parent_id", "timeout", "extra", "started_at", "ended_at",
)
_SQL_TRIAL_COLUMNS = [c for c in TRIAL_COLUMNS if c != "error"] + ["spec_extra"]
_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def resolve_db_path(path: str | Path) -> Path:
    """The database file for ``path``: a run directory holds ``forgeml.db``; a ``.db`` path is the file."""
    p = Path(path).expanduser()
    if p.is_dir():
        return p / DB_NAME
    if p.is_file() or p.suffix.lower() in _DB_SUFFIXES:
        return p
    return p / DB_NAME


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()  # numpy scalar
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "items"):
        return dict(obj.items())
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj if obj is not None else {}, default=_json_default)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    f = float(x)
    return None if math.isnan(f) else f


class Store:
    """The SQLite experiment store of one run directory. Build it with ``Store.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path) -> None:
        self._conn = conn
        self.db_path = db_path
        self._lock = threading.RLock()

    # -- opening --------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, busy_timeout: float = 30.0) -> Store:
        """Open (creating and migrating if needed) the store at a run directory or ``.db`` file.

        ``create=False`` is for readers: a missing store is a ``StoreError`` instead of a new empty file.
        """
        db = resolve_db_path(path)
        if not db.exists():
            if not create:
                raise StoreError(f"no forgeml store at {path}: {db} does not exist; pass the run directory "
                                 "given to fit (it holds forgeml.db).")
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the run directory {db.parent}: {e}; choose a writable path.") from e
        conn = None
        try:
            conn = sqlite3.connect(db, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable against process kills
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, str(db))
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            raise StoreError(
                f"cannot open the forgeml store {db}: {e}. The file is corrupt or not an SQLite database; move it "
                "away (or use a new run directory) and start a new run."
            ) from e
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, db)

    @property
    def run_dir(self) -> Path:
        return self.db_path.parent

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.db_path)!r})"

    # -- transactions ---------------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, committed before returning."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                committed = False
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                    committed = True
                finally:
                    if not committed and self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
            except sqlite3.DatabaseError as e:
                raise StoreError(f"cannot write to the forgeml store {self.db_path}: {e}") from e

    def _read(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
            except sqlite3.DatabaseError as e:
                raise StoreError(f"cannot read the forgeml store {self.db_path}: {e}") from e

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            known = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 5")]
            raise StoreError(f"no run {run_id!r} in {self.db_path}; recent runs: {', '.join(known) or 'none'}.")

    # -- runs -----------------------------------------------------------------------------------------------
    def start_run(self, meta: dict[str, Any]) -> str:
        """Record a new run (status ``running``); returns its id, a short unique string."""
        meta = dict(meta)
        created = float(meta.get("created_at") or time.time())
        meta["created_at"] = created
        with self._write() as conn:
            while True:
                run_id = secrets.token_hex(4)
                if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                    break
            conn.execute("INSERT INTO runs (run_id, status, created_at, meta) VALUES (?, 'running', ?, ?)",
                         (run_id, created, _dumps(meta)))
        return run_id

    @staticmethod
    def _run_row(row: dict[str, Any]) -> dict[str, Any]:
        meta = json.loads(row.pop("meta") or "{}")
        return {**meta, **row}

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The run's meta with its status, ``created_at``, ``ended_at`` and ``best_trial_id``."""
        rows = self._read(f"SELECT {', '.join(_RUN_COLUMNS)}, meta FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            with self._lock:
                self._require_run(self._conn, run_id)
        return self._run_row(rows[0])

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set ``status``, ``best_trial_id`` or ``ended_at``; ``meta=`` and any other keyword merge into meta."""
        status = fields.pop("status", None)
        if isinstance(status, Enum):
            status = status.value
        if status is not None and status not in RUN_STATUSES:
            raise ConfigError(f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}.")
        meta_update = dict(fields.pop("meta", None) or {})
        sets: dict[str, Any] = {}
        if status is not None:
            sets["status"] = status
        for key in ("best_trial_id", "ended_at"):
            if key in fields:
                sets[key] = fields.pop(key)
        meta_update.update(fields)
        with self._write() as conn:
            self._require_run(conn, run_id)
            if meta_update:
                old = json.loads(conn.execute("SELECT meta FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])
                sets["meta"] = _dumps({**old, **meta_update})
            if sets:
                assign = ", ".join(f"{k} = ?" for k in sets)
                conn.execute(f"UPDATE runs SET {assign} WHERE run_id = ?", (*sets.values(), run_id))

    def latest_run(self) -> str | None:
        rows = self._read("SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1")
        return rows[0]["run_id"] if rows else None

    def runs(self) -> pd.DataFrame:
        """One row per run, newest first: status, times, trial counts, best trial and score, and the meta."""
        import pandas as pd

        rows = self._read(
            f"SELECT {', '.join('r.' + c for c in _RUN_COLUMNS)}, r.meta, "
            "(SELECT COUNT(*) FROM trials t WHERE t.run_id = r.run_id) AS n_trials, "
            "(SELECT COUNT(*) FROM trials t WHERE t.run_id = r.run_id AND t.status = 'complete') AS n_complete, "
            "(SELECT score FROM trials t WHERE t.run_id = r.run_id AND t.trial_id = r.best_trial_id) AS best_score "
            "FROM runs r ORDER BY r.created_at DESC, r.rowid DESC"
        )
        records = [self._run_row(r) for r in rows]
        cols = [*_RUN_COLUMNS, "n_trials", "n_complete", "best_score"]
        extra = [k for rec in records for k in rec if k not in cols]
        return pd.DataFrame(records, columns=cols + list(dict.fromkeys(extra)))

    # -- trials ---------------------------------------------------------------------------------------------
    def add_trial(self, run_id: str, spec: TrialSpec) -> None:
        """Record a submitted trial as ``running`` with its config, fidelity and kind."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            try:
                conn.execute(
                    "INSERT INTO trials (run_id, trial_id, status, kind, fidelity, seed, parent_id, timeout, config,"
                    " spec_extra, started_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, int(spec.trial_id), spec.kind, _num(spec.fidelity), int(spec.seed), spec.parent_id,
                     _num(spec.timeout), _dumps(dict(spec.config)), _dumps(spec.extra), time.time()),
                )
            except sqlite3.IntegrityError as e:
                raise StoreError(f"trial {spec.trial_id} is already recorded in run {run_id!r} ({e}); "
                                 "take new ids from next_trial_id().") from e

    def finish_trial(self, run_id: str, result: TrialResult) -> None:
        """Record a trial's outcome (committed on return). A trial never added is inserted."""
        now = time.time()
        err = result.error
        status = result.status.value if isinstance(result.status, Enum) else str(result.status)
        values = {
            "status": status, "fidelity": _num(result.fidelity), "score": _num(result.score),
            "loss": _num(result.loss), "fold_scores": _dumps([_num(s) for s in result.fold_scores]),
            "fit_time": _num(result.fit_time), "predict_time": _num(result.predict_time),
            "duration": _num(result.duration), "oof_path": result.oof_path, "model_path": result.model_path,
            "error_type": err.type if err else None, "error_message": err.message if err else None,
            "error_traceback": err.traceback if err else None, "worker": result.worker,
            "extra": _dumps(result.extra), "ended_at": now,
        }
        with self._write() as conn:
            self._require_run(conn, run_id)
            key = (run_id, int(result.trial_id))
            if conn.execute("SELECT 1 FROM trials WHERE run_id = ? AND trial_id = ?", key).fetchone():
                assign = ", ".join(f"{k} = ?" for k in values)
                conn.execute(f"UPDATE trials SET {assign} WHERE run_id = ? AND trial_id = ?",
                             (*values.values(), *key))
            else:
                values.update(run_id=run_id, trial_id=int(result.trial_id),
                              started_at=now - float(result.duration or 0.0))
                conn.execute(f"INSERT INTO trials ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                             tuple(values.values()))

    def mark_running_as(self, run_id: str, status: TrialStatus | str = TrialStatus.CRASHED) -> int:
        """On resume: trials left ``running`` by a process that died get ``status``; returns how many."""
        status = TrialStatus(status)
        message = ("the process running this trial stopped before the trial finished "
                   "(found still running when the run was resumed)")
        with self._write() as conn:
            self._require_run(conn, run_id)
            cur = conn.execute(
                "UPDATE trials SET status = ?, error_type = COALESCE(error_type, 'Interrupted'), "
                "error_message = COALESCE(error_message, ?), ended_at = ? WHERE run_id = ? AND status = 'running'",
                (status.value, message, time.time(), run_id),
            )
            return cur.rowcount

    def next_trial_id(self, run_id: str) -> int:
        """One more than the largest trial id recorded in the run (0 for a run without trials)."""
        rows = self._read("SELECT MAX(trial_id) AS m FROM trials WHERE run_id = ?", (run_id,))
        return 0 if rows[0]["m"] is None else int(rows[0]["m"]) + 1

    def _trial_rows(self, run_id: str | None, where: str = "") -> list[dict[str, Any]]:
        cols = ", ".join(f"t.{c}" for c in _SQL_TRIAL_COLUMNS)
        sql = f"SELECT {cols} FROM trials t JOIN runs r ON r.run_id = t.run_id"
        conds, params = [], []
        if run_id is not None:
            conds.append("t.run_id = ?")
            params.append(run_id)
        if where:
            conds.append(where)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY r.created_at, r.rowid, t.trial_id"
        return self._read(sql, tuple(params))

    def trials(self, run_id: str | None = None) -> pd.DataFrame:
        """One row per trial (all runs when ``run_id`` is None), in trial-id order, ``config`` as a dict.

        ``error`` is a one-line ``"Type: message"`` summary; the full parts are in ``error_type``,
        ``error_message`` and ``error_traceback``.
        """
        import pandas as pd

        records = []
        for row in self._trial_rows(run_id):
            row.pop("spec_extra")
            row["config"] = json.loads(row["config"] or "{}")
            row["extra"] = json.loads(row["extra"] or "{}")
            row["fold_scores"] = json.loads(row["fold_scores"] or "[]")
            row["error"] = (ErrorInfo(row["error_type"], row["error_message"] or "").short()
                            if row["error_type"] else None)
            records.append(row)
        return pd.DataFrame(records, columns=list(TRIAL_COLUMNS))

    def trial_results(self, run_id: str) -> list[TrialResult]:
        """Finished trials of a run rebuilt as ``TrialResult``s, in trial-id order (for resume)."""
        out = []
        for row in self._trial_rows(run_id, "t.status != 'running'"):
            error = (ErrorInfo(row["error_type"], row["error_message"] or "", row["error_traceback"] or "")
                     if row["error_type"] else None)
            out.append(TrialResult(
                trial_id=int(row["trial_id"]), status=TrialStatus(row["status"]), score=row["score"],
                loss=row["loss"],
                fold_scores=tuple(float("nan") if s is None else s for s in json.loads(row["fold_scores"])),
                fit_time=row["fit_time"] or 0.0, predict_time=row["predict_time"] or 0.0,
                duration=row["duration"] or 0.0, fidelity=1.0 if row["fidelity"] is None else row["fidelity"],
                oof_path=row["oof_path"], model_path=row["model_path"], error=error, worker=row["worker"],
                extra=json.loads(row["extra"] or "{}"),
            ))
        return out

    def trial_specs(self, run_id: str) -> list[TrialSpec]:
        """Every trial of a run as the ``TrialSpec`` it was added with (for resume: configs behind results)."""
        return [
            TrialSpec(trial_id=int(row["trial_id"]), config=json.loads(row["config"] or "{}"),
                      seed=int(row["seed"] or 0), fidelity=1.0 if row["fidelity"] is None else row["fidelity"],
                      timeout=row["timeout"], kind=row["kind"] or "cv", parent_id=row["parent_id"],
                      extra=json.loads(row["spec_extra"] or "{}"))
            for row in self._trial_rows(run_id)
        ]
