"""The knowledge base: what past runs learned, in one embedded SQLite file shared by every run of a user.

Each finished run appends its dataset's meta-features and every configuration it evaluated, with its score and
cost. A new run asks for its nearest past datasets (``neighbours``) and starts its search from their best
configurations. Several runs may write at once (parallel notebooks, a cluster of jobs on one disk): the file is in
WAL mode, every write is one ``BEGIN IMMEDIATE`` transaction, and a writer that finds the file busy waits (up to
``busy_timeout``) and retries instead of failing with "database is locked".

Nothing here may break a fit: ``open_or_warn`` turns a corrupt file, one written by an incompatible version or an
unwritable path into a warning and ``None`` (a cold start).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ForgeMLError
from forgeml.meta.metafeatures import NAMES, MetaFeatures, distance
from forgeml.meta.metafeatures import VERSION as MF_VERSION

#: ``ConfigRecord.source`` of a family's hand-written default: a past run's defaults are not offered as warm starts
#: (a new run tries its own, sized to its data), and only configurations that beat them there are.
DEFAULT_SOURCE = "default"
MAX_OBSERVATIONS = 200  # past results of the same table a new search learns from (``observations``)
FORMAT = 1  # the layout of the tables; a file with a higher number was written by a newer forgeml
_DDL = (
    "CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, fingerprint TEXT NOT NULL, task TEXT NOT NULL,
        metric TEXT NOT NULL, greater_is_better INTEGER NOT NULL, mf_version INTEGER NOT NULL,
        metafeatures TEXT NOT NULL, row_sketch TEXT NOT NULL DEFAULT '[]', time_budget REAL, best_score REAL,
        forgeml_version TEXT, created REAL NOT NULL, columns TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS configs (
        id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), family TEXT NOT NULL,
        config TEXT NOT NULL, score REAL, loss REAL, fit_time REAL, source TEXT)""",
    "CREATE INDEX IF NOT EXISTS configs_run ON configs(run_id)",
    "CREATE INDEX IF NOT EXISTS runs_task ON runs(task, metric)",
)


class KnowledgeError(ForgeMLError, OSError):
    """The knowledge base cannot be opened or written (corrupt, incompatible or unwritable)."""


@dataclass(frozen=True)
class ConfigRecord:
    """One evaluated configuration: its score on the run's metric and its loss (lower is better)."""

    config: dict[str, Any]
    score: float | None
    loss: float | None
    fit_time: float = 0.0  # the seconds the trial cost (``TrialResult.cost``), scaled by ``warm_start``
    source: str = ""


@dataclass(frozen=True)
class RunRecord:
    dataset: str
    fingerprint: str
    metric: str
    greater_is_better: bool
    metafeatures: MetaFeatures
    configs: Sequence[ConfigRecord] = ()
    time_budget: float | None = None
    forgeml_version: str = ""
    row_sketch: Sequence[int] = ()  # the smallest row hashes of its data (meta/warmstart.py)
    columns: str = ""  # the signature of its column names (meta/warmstart.table_signature)


@dataclass(frozen=True)
class Neighbour:
    """A past dataset near the new one, with its best configurations (best first, one run's duplicates merged)."""

    dataset: str
    fingerprint: str
    distance: float
    configs: list[dict[str, Any]] = field(default_factory=list)
    same_table: bool = False  # the same column names: new rows of a table already learnt
    #: For the same table: its runs' evaluated configurations with their losses and seconds (``observations``),
    #: which the new run's search learns from without running them again.
    observations: list[tuple[dict[str, Any], float, float | None]] = field(default_factory=list)
    metafeatures: dict[str, Any] = field(default_factory=dict)  # the past data's (to scale its costs to this one)


def default_path() -> Path:
    """``$FORGEML_HOME/knowledge.db``, else the user's data directory (``$XDG_DATA_HOME`` or ``~/.local/share``,
    ``%LOCALAPPDATA%`` on Windows) under ``forgeml/``."""
    home = os.environ.get("FORGEML_HOME")
    if home:
        return Path(home) / "knowledge.db"
    base = os.environ.get("LOCALAPPDATA") if os.name == "nt" else os.environ.get("XDG_DATA_HOME")
    return Path(base or Path.home() / ".local" / "share") / "forgeml" / "knowledge.db"


class KnowledgeBase:
    """Open with ``KnowledgeBase.open(path)`` (or ``open_or_warn`` where a failure must not stop a fit)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout: float = 60.0) -> KnowledgeBase:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise KnowledgeError(f"cannot open the knowledge base {path}: {e}; pass a writable path as "
                                 "knowledge=PATH, or knowledge=None to run without one") from e
        kb = cls(conn, path)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(), busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            with kb._write():
                for stmt in _DDL:
                    conn.execute(stmt)
                have = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
                if "row_sketch" not in have:  # written before row sketches were kept
                    conn.execute("ALTER TABLE runs ADD COLUMN row_sketch TEXT NOT NULL DEFAULT '[]'")
                if "columns" not in have:  # written before column signatures were kept
                    conn.execute("ALTER TABLE runs ADD COLUMN columns TEXT NOT NULL DEFAULT ''")
                row = conn.execute("SELECT value FROM info WHERE key = 'format'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO info VALUES ('format', ?)", (str(FORMAT),))
                elif not str(row[0]).isdigit() or int(row[0]) > FORMAT:
                    raise KnowledgeError(f"the knowledge base {path} was written by a newer or unknown forgeml (format "
                                         f"{row[0]}, this one reads up to {FORMAT}); upgrade forgeml or use "
                                         "another knowledge=PATH")
        except sqlite3.Error as e:
            conn.close()
            raise KnowledgeError(f"cannot use the knowledge base {path}: {e}. The file is corrupt or not a forgeml "
                                 "knowledge base; move it away (a new one is started) or pass another "
                                 "knowledge=PATH") from e
        except BaseException:
            conn.close()
            raise
        return kb

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken up front so two writers queue instead of deadlocking on an upgrade."""
        _retry(lambda: self._conn.execute("BEGIN IMMEDIATE"), 60.0)
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        _retry(lambda: self._conn.execute("COMMIT"), 60.0)

    # -- writing --------------------------------------------------------------------------------------------
    def add_run(self, record: RunRecord) -> int:
        """Append a run and its configurations; returns the run's id."""
        mf = record.metafeatures
        scores = [c.score for c in record.configs if c.score is not None and np.isfinite(c.score)]
        best = (max(scores) if record.greater_is_better else min(scores)) if scores else None
        with self._write():
            cur = self._conn.execute(
                "INSERT INTO runs (dataset, fingerprint, task, metric, greater_is_better, mf_version, metafeatures,"
                " row_sketch, time_budget, best_score, forgeml_version, created, columns)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.dataset, record.fingerprint, mf.task, record.metric, int(record.greater_is_better),
                 mf.version, json.dumps(_finite(mf.values)), json.dumps([int(v) for v in record.row_sketch]),
                 record.time_budget, best, record.forgeml_version, time.time(), record.columns))
            run_id = int(cur.lastrowid)
            self._conn.executemany(
                "INSERT INTO configs (run_id, family, config, score, loss, fit_time, source) VALUES (?,?,?,?,?,?,?)",
                [(run_id, str(c.config.get("family", "")), json.dumps(c.config, sort_keys=True, default=str),
                  _num(c.score), _num(c.loss), _num(c.fit_time), c.source) for c in record.configs])
        return run_id

    # -- reading --------------------------------------------------------------------------------------------
    def neighbours(self, mf: MetaFeatures, metric: str, *, k: int = 3, per_dataset: int = 3,
                   exclude: Sequence[str] = (), keep: Callable[[list[int]], bool] | None = None,
                   affordable: Callable[[float | None, dict[str, Any], bool], bool] | None = None,
                   columns: str = "", per_same_table: int | None = None) -> list[Neighbour]:
        """The ``k`` past datasets (by fingerprint) of the same task and metric nearest to ``mf``, each with its
        ``per_dataset`` best configurations over all its runs, defaults excluded: only configurations that scored
        better there than every default of those runs (``DEFAULT_SOURCE``; runs that recorded no sources have no
        such bar) are evidence beyond the defaults a new run tries anyway; on the same table (below) its best
        configurations are, defaults included, since they say which of them to try first. Runs whose fingerprint is in
        ``exclude``, or whose row sketch ``keep`` refuses, are left out; so are datasets with no meta-feature in
        common (infinite distance). ``affordable(seconds, past_metafeatures, same_table)`` may refuse a configuration
        by what it cost on the past data: the best affordable ones are returned instead. Datasets with the ``columns``
        signature (the same table's column names) come first, nearest first, each with ``per_same_table``
        configurations (default ``per_dataset``), and are marked ``same_table``."""
        runs = pd.read_sql_query(
            "SELECT id, dataset, fingerprint, metafeatures, row_sketch, columns FROM runs "
            "WHERE task = ? AND metric = ? AND mf_version = ? ORDER BY id",
            self._conn, params=(mf.task, metric, MF_VERSION))
        runs = runs[~runs["fingerprint"].isin(list(exclude))]
        if keep is not None and len(runs):
            runs = runs[[bool(keep(json.loads(v))) for v in runs["row_sketch"]]]
        if runs.empty:
            return []
        per = runs.groupby("fingerprint", sort=False).agg(dataset=("dataset", "last"),
                                                          metafeatures=("metafeatures", "last"),
                                                          columns=("columns", "last"), ids=("id", list))
        vecs = np.array([[json.loads(v).get(n, np.nan) for n in NAMES] for v in per["metafeatures"]], dtype=float)
        vecs = np.where(vecs == None, np.nan, vecs).astype(float)  # noqa: E711 - JSON null
        me = mf.vector(NAMES)
        both = np.vstack([vecs, me])
        with warnings.catch_warnings():  # a value every dataset lacks has no spread: it is then ignored
            warnings.simplefilter("ignore", RuntimeWarning)
            scale = np.nanstd(both, axis=0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0)
        dist = np.array([distance(me, v, scale) for v in vecs])
        same = (per["columns"] == columns).to_numpy() & bool(columns)
        out = []
        for i in np.lexsort((dist, ~same)):  # the same table first, then by distance
            if len(out) >= k:
                break
            if not np.isfinite(dist[i]):
                continue
            past = json.loads(per["metafeatures"].iloc[i])
            fits = None if affordable is None else (
                lambda cost, past=past, same_i=bool(same[i]): affordable(cost, past, same_i))
            n = per_dataset if per_same_table is None or not same[i] else per_same_table
            configs = self._best_configs(per["ids"].iloc[i], n, fits, beyond_defaults=not same[i])
            seen = self.observations(per["ids"].iloc[i]) if same[i] else []
            if configs or seen:  # a dataset with nothing affordable (nor learnt) gives its place to the next one
                out.append(Neighbour(per["dataset"].iloc[i], per.index[i], float(dist[i]), configs,
                                     same_table=bool(same[i]), observations=seen, metafeatures=past))
        return out

    def observations(self, run_ids: Sequence[int], limit: int = MAX_OBSERVATIONS
                     ) -> list[tuple[dict[str, Any], float, float | None]]:
        """The runs' evaluated configurations with their loss and seconds (a configuration evaluated twice: the
        means), best first; over ``limit``, evenly spaced ranks are kept, so the bad ones a search model also
        needs stay."""
        if not len(run_ids):
            return []
        marks = ",".join("?" * len(run_ids))
        rows = self._conn.execute(
            f"SELECT config, AVG(loss) AS l, AVG(fit_time) FROM configs WHERE run_id IN ({marks}) "
            "AND loss IS NOT NULL GROUP BY config ORDER BY l ASC, config ASC",
            tuple(int(r) for r in run_ids)).fetchall()
        rows = [(c, float(v), None if t is None else float(t)) for c, v, t in rows if np.isfinite(v)]
        if len(rows) > limit:
            rows = [rows[int(i)] for i in np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))]
        return [(json.loads(c), v, t) for c, v, t in rows]

    def _best_configs(self, run_ids: list[int], n: int, fits: Callable[[float | None], bool] | None = None,
                      beyond_defaults: bool = True) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(run_ids))
        bar, skip = None, ""
        if beyond_defaults:  # the defaults run anyway here, sized to this data: only what beat them is evidence
            skip = f"AND source IS NOT '{DEFAULT_SOURCE}' "
            (bar,) = self._conn.execute(
                f"SELECT MIN(loss) FROM configs WHERE run_id IN ({marks}) AND source = ? AND loss IS NOT NULL",
                (*run_ids, DEFAULT_SOURCE)).fetchone()
        # SQLite takes the bare column fit_time from the row holding MIN(loss)
        rows = self._conn.execute(
            f"SELECT config, MIN(loss) AS l, fit_time FROM configs WHERE run_id IN ({marks}) AND loss IS NOT NULL "
            f"{skip}GROUP BY config ORDER BY l ASC, config ASC", tuple(run_ids))
        out: list[dict[str, Any]] = []
        for config, loss, cost in rows:
            if bar is not None and loss >= bar:
                break
            if fits is None or fits(cost):
                out.append(json.loads(config))
                if len(out) >= n:
                    break
        return out

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT r.id AS run_id, r.dataset, r.fingerprint, r.task, r.metric, r.best_score, r.time_budget, "
            "r.forgeml_version, "
            "r.created, COUNT(c.id) AS configs FROM runs r LEFT JOIN configs c ON c.run_id = r.id "
            "GROUP BY r.id ORDER BY r.id", self._conn)

    def configs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM configs ORDER BY id", self._conn)

    def summary(self) -> pd.DataFrame:
        """Per dataset: task, metric, runs, configurations evaluated, best score, best family, last run."""
        cols = ["dataset", "task", "metric", "runs", "configs", "best_score", "best_family", "last_run"]
        runs = self.runs()
        if runs.empty:
            return pd.DataFrame(columns=cols)
        higher = dict(self._conn.execute("SELECT metric, MAX(greater_is_better) FROM runs GROUP BY metric"))
        best = pd.read_sql_query("SELECT r.fingerprint, c.family, c.loss FROM configs c JOIN runs r ON r.id = c.run_id "
                                 "WHERE c.loss IS NOT NULL ORDER BY c.loss, c.id", self._conn)
        family = best.groupby("fingerprint", sort=False)["family"].first()
        rows = []
        for (_, task, metric), g in runs.groupby(["fingerprint", "task", "metric"], sort=False):
            ds = g["dataset"].iloc[-1]
            scores = g["best_score"].dropna()
            top = (scores.max() if higher.get(metric) else scores.min()) if len(scores) else float("nan")
            rows.append({"dataset": ds, "task": task, "metric": metric, "runs": len(g),
                         "configs": int(g["configs"].sum()), "best_score": top,
                         "best_family": family.get(g["fingerprint"].iloc[0]),
                         "last_run": pd.to_datetime(g["created"].max(), unit="s").strftime("%Y-%m-%d %H:%M")})
        return pd.DataFrame(rows, columns=cols)


def open_or_warn(path: str | Path | None) -> KnowledgeBase | None:
    """The knowledge base at ``path`` (None: none), or None with a ``SearchWarning`` saying why it cannot be used:
    the run then starts cold, and nothing else changes."""
    if path is None:
        return None
    try:
        return KnowledgeBase.open(path)
    except KnowledgeError as e:
        from forgeml.errors import SearchWarning

        warnings.warn(f"{e}; this run starts without past knowledge", SearchWarning, stacklevel=2)
        return None


def _retry(fn: Any, timeout: float) -> Any:
    """``fn()``, retried while SQLite reports the file busy (a lock the busy handler could not wait out, e.g. a
    journal-mode change), up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > end:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _num(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in values.items()}
