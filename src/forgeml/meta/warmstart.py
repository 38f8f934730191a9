"""Where a run's search starts: the families' hand-written defaults, then what past runs show beats them: the
best configurations of its nearest past datasets and the zero-shot portfolio (``meta/portfolio.py``).

Past configurations are stored as plain joint configs (``family``, ``<family>.<param>``, ...). One is only
proposed if it is valid in this run's space: its family is searched here, its parameters exist and are in their
domains (a space that changed between versions, or a family not installed, simply drops it).

Runs that saw any of the same rows are never neighbours: ``row_sketch`` keeps the ``SKETCH`` smallest row hashes
of a table, from which the share of rows two tables have in common is estimated (``overlap``). A refit of the
same data, a cross-validation fold or a subsample of it is therefore not warm-started from a run whose
configurations were chosen on rows it may now be tested on, and a refit of the same data reproduces its
leaderboard. Other runs do shape the start: with a knowledge base, a run depends on its data, seed,
``max_trials``, its portfolio, *and* what the knowledge base holds and the time budget (which neighbour
configurations are affordable); ``knowledge=None`` makes it depend on the first four only.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError
from forgeml.meta.knowledge import DEFAULT_SOURCE, KnowledgeBase, Neighbour
from forgeml.meta.metafeatures import MetaFeatures
from forgeml.space import Config, SearchSpace

DEFAULT, NEIGHBOUR, PORTFOLIO, OPTIMIZER = DEFAULT_SOURCE, "neighbour", "portfolio", "optimizer"


@dataclass
class WarmStart:
    """The configurations to try first, in order, and where each came from (by ``Config.id``)."""

    configs: list[Config]
    sources: dict[str, str] = field(default_factory=dict)
    neighbours: list[Neighbour] = field(default_factory=list)
    defaults: frozenset[str] = frozenset()  # the families' defaults' ids, whatever else offered them too
    #: Past results on the same table, ``(config, loss, seconds scaled to this data or None)``: the search's model
    #: learns them before its first proposal (``Searcher.learn_prior``), so it goes on from where those runs were
    #: instead of starting over.
    prior: list[tuple[Config, float, float | None]] = field(default_factory=list)
    #: The same table's best configurations, run first: the ones among ``prior`` that run again here.
    rerun: list[Config] = field(default_factory=list)

    def source(self, config: Config) -> str:
        return self.sources.get(config.id, OPTIMIZER)

    def recorded_source(self, config: Config) -> str:
        """The source a knowledge base records: ``DEFAULT`` for a default even when a neighbour or the portfolio
        offered it too, since later runs judge a past run's configurations against its defaults."""
        return DEFAULT if config.id in self.defaults else self.source(config)


SKETCH = 256  # row hashes kept per run
#: A neighbour's configuration is proposed only when its cost, scaled to this data (``scaled_cost``), is at most
#: this share of the time budget: the best configuration of a 60 s run can take most of a 30 s one.
WARM_COST_SHARE = 0.15
#: The same rule for a past run over the same table: its costs were measured on this kind of data, so a larger
#: share is safe, and its best configurations are the ones most worth their time.
SAME_TABLE_COST_SHARE = 0.3
#: A past run over the same table (its column names; ``table_signature``) is the best evidence there is: this many
#: of its best configurations run first, before any default.
SAME_TABLE_CONFIGS = 4
MAX_OVERLAP = 0.02  # a past run sharing more than this share of rows with the new data is not a neighbour
HASH_COLUMNS = 20  # the row hash reads at most this many columns (the first by name) and the target


def row_hashes(X: pd.DataFrame, y: Any) -> np.ndarray:
    """One 64-bit hash per row of native values (no string conversion), over at most ``HASH_COLUMNS`` columns."""
    cols = sorted(str(c) for c in X.columns)[:HASH_COLUMNS]
    frame = X.rename(columns=str)[cols].copy() if cols else pd.DataFrame(index=X.index)
    frame["__target__"] = np.asarray(y)
    frame.columns = range(frame.shape[1])
    return pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy(dtype=np.uint64)


def row_sketch(X: pd.DataFrame, y: Any) -> list[int]:
    """The ``SKETCH`` smallest distinct row hashes (a bottom-k sketch), as plain ints."""
    h = np.unique(row_hashes(X, y))
    return [int(v) for v in h[:SKETCH]]


def overlap(a: list[int], b: list[int]) -> float:
    """The estimated share of rows two tables have in common (Jaccard index, from their bottom-k sketches)."""
    if not a or not b:
        return 0.0
    sa, sb = set(a), set(b)
    union = sorted(sa | sb)[:max(len(a), len(b))]
    return sum(1 for v in union if v in sa and v in sb) / len(union)


def table_signature(columns: Any) -> str:
    """A short id of a table's column names, in any order: new rows of a table already learnt share it."""
    return hashlib.sha256(repr(sorted(str(c) for c in columns)).encode()).hexdigest()[:24]


def fingerprint(sketch: list[int], columns: Any) -> str:
    """A short id of a table: its column names and row sketch."""
    h = hashlib.sha256(repr(([str(c) for c in columns], sketch)).encode())
    return h.hexdigest()[:24]


def admissible(space: SearchSpace, values: dict[str, Any]) -> Config | None:
    """``values`` as a valid config of ``space`` (missing parameters take their defaults), or None."""
    try:
        known = {k: _plain(v) for k, v in values.items() if k in space}
        return space.validate(space.complete(known))
    except (ConfigError, KeyError, TypeError, ValueError):
        return None


def scaled_cost(seconds: float, past: dict[str, Any], here: MetaFeatures | dict[str, Any]) -> float:
    """A past trial's seconds scaled to this data (``here``: its meta-features, or at least ``log_rows`` and
    ``log_features``): linear in rows, square root in features, never below half (fixed costs do not shrink with
    the data)."""
    values = here.values if isinstance(here, MetaFeatures) else here

    def log_ratio(name: str) -> float:
        new, old = values.get(name), past.get(name)
        ok = all(isinstance(v, (int, float)) and np.isfinite(v) for v in (new, old))
        return float(new) - float(old) if ok else 0.0

    factor = 10.0 ** (log_ratio("log_rows") + 0.5 * log_ratio("log_features"))
    return float(seconds) * max(factor, 0.5)


def warm_start(kb: KnowledgeBase | None, mf: MetaFeatures | None, metric: str, space: SearchSpace,
               defaults: Sequence[Config], *, sketch: list[int], portfolio: Sequence[dict[str, Any]] = (),
               portfolio_costs: Sequence[dict[str, float] | None] = (), size: dict[str, float] | None = None,
               k: int = 3, per_dataset: int = 2, time_budget: float | None = None, columns: str = "") -> WarmStart:
    """``defaults`` with the neighbours' best configurations (nearest dataset first) and the ``portfolio`` entries
    valid in ``space``, without duplicates, in the order below. Past runs sharing rows with this data (``overlap``
    above ``MAX_OVERLAP``) are left out; with a ``time_budget``, so are neighbour configurations whose ``scaled_cost``
    exceeds ``WARM_COST_SHARE`` of it (the neighbour's best affordable ones are taken instead; for the same table,
    ``SAME_TABLE_COST_SHARE``), and portfolio entries whose recorded cost (``portfolio_costs``, aligned with
    ``portfolio``; None: no cost known, the entry runs) scaled to this data (``size``, else ``mf``) exceeds it.

    Order: every family's first default, then the entries (neighbours, nearest first, then the portfolio), then
    the remaining defaults. The defaults are what a cold run starts with, sized to this data: they run first, so
    a warm start adds to a cold start's beginning instead of displacing it, every family is tried once (which the
    final ensemble needs), and each family's cost here is known before a configuration chosen on other data runs
    (the search drops a family's warm starts that would not fit the budget, ``search/auto.py``). The entries are
    only those with evidence beyond the defaults: a neighbour's configurations that beat its own defaults
    (``KnowledgeBase.neighbours``), a portfolio built to add to the defaults (``bench/meta.py``). Exception: the
    configurations of a past run over the same table (``columns``, its ``table_signature``; up to
    ``SAME_TABLE_CONFIGS``) come before everything else: on new rows of a table already learnt,
    its best configurations are what to try first, and all its results (``prior``) what the search learns first."""
    configs: list[Config] = []
    same_table: list[Config] = []
    prior: list[tuple[Config, float, float | None]] = []
    sources: dict[str, str] = {}
    neighbours: list[Neighbour] = []
    here = size if size is not None else (mf.values if mf is not None else None)

    def affordable(seconds: float | None, past: dict[str, Any], same: bool = False) -> bool:
        if time_budget is None or seconds is None or here is None:
            return True
        share = SAME_TABLE_COST_SHARE if same else WARM_COST_SHARE
        return scaled_cost(seconds, past, here) <= share * float(time_budget)

    if kb is not None and mf is not None:
        neighbours = kb.neighbours(mf, metric, k=k, per_dataset=per_dataset,
                                   keep=lambda past: overlap(past, sketch) <= MAX_OVERLAP,
                                   affordable=None if time_budget is None else affordable,
                                   columns=columns, per_same_table=SAME_TABLE_CONFIGS)
        for n in neighbours:
            for values, loss, seconds in n.observations:
                cfg = admissible(space, values)
                if cfg is not None:
                    cost = None if seconds is None or here is None else scaled_cost(seconds, n.metafeatures, here)
                    prior.append((cfg, loss, cost))
            for values in n.configs:
                cfg = admissible(space, values)
                if cfg is not None and cfg.id not in sources:
                    configs.append(cfg)
                    sources[cfg.id] = NEIGHBOUR
                    if n.same_table:
                        same_table.append(cfg)
    costs = list(portfolio_costs) + [None] * (len(portfolio) - len(portfolio_costs))
    for values, cost in zip(portfolio, costs):
        if cost is not None and not affordable(cost["seconds"], cost):
            continue  # the entry's own run says this budget cannot afford it here
        cfg = admissible(space, values)
        if cfg is not None and cfg.id not in sources:
            configs.append(cfg)
            sources[cfg.id] = PORTFOLIO
    first_default: dict[Any, Config] = {}
    for cfg in defaults:
        first_default.setdefault(cfg.get("family"), cfg)
    ordered: list[Config] = []
    emitted: set[str] = set()

    def emit(cfg: Config) -> None:
        if cfg.id not in emitted:
            emitted.add(cfg.id)
            ordered.append(cfg)
            sources.setdefault(cfg.id, DEFAULT)  # a default that is also a neighbour's or portfolio's keeps that

    for cfg in (*same_table, *first_default.values(), *configs, *defaults):
        emit(cfg)
    return WarmStart(ordered, sources, neighbours, frozenset(c.id for c in defaults), prior, same_table)


def _plain(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
