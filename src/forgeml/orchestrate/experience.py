"""A run's use of the knowledge base: read before the search (warm start), append after it (remember).

Neither step can fail a fit: a knowledge base that cannot be read or written, or data whose meta-features cannot
be computed, is a ``SearchWarning``, and the run goes on cold. The meta-features are bounded by size (a sample of
at most 1,000 rows and 100 columns, ``meta/metafeatures.py``) and the row hashes by the columns they read, so
their cost is a small part of the budget and does not depend on the machine's load.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.schema import Schema
from forgeml.errors import SearchWarning
from forgeml.meta.knowledge import ConfigRecord, RunRecord, default_path, open_or_warn
from forgeml.meta.metafeatures import MetaFeatures, compute, size
from forgeml.meta.portfolio import load_entries
from forgeml.meta.warmstart import WarmStart, fingerprint, row_sketch, table_signature, warm_start
from forgeml.metrics import Metric
from forgeml.orchestrate.loop import SearchState
from forgeml.space import Config, SearchSpace


@dataclass
class Experience:
    """What the run took from the knowledge base and needs to add to it."""

    path: Path | None
    warm: WarmStart
    metafeatures: MetaFeatures | None = None
    fingerprint: str = ""
    sketch: list[int] = field(default_factory=list)
    columns: str = ""  # table_signature of the data's column names

    def sources(self, state: SearchState) -> dict[int, str]:
        """Each trial's source: ``neighbour``, ``portfolio``, ``default`` or ``optimizer``."""
        return {tid: self.warm.source(p.config) for tid, p in state.proposals.items()}


def knowledge_path(knowledge: Any) -> Path | None:
    """``"auto"``: the user's default knowledge base; None or False: none; otherwise the path given."""
    if knowledge is None or knowledge is False:
        return None
    if isinstance(knowledge, str) and knowledge == "auto":
        return default_path()
    return Path(knowledge)


def recall(knowledge: Any, X: pd.DataFrame, y: np.ndarray, schema: Schema, metric: Metric, space: SearchSpace,
           defaults: list[Config], *, seed: int, portfolio: Any = None, time_budget: float | None = None
           ) -> Experience:
    """The warm start of a run: ``defaults`` with the nearest past datasets' best configurations and the
    ``portfolio`` (``meta/portfolio.load``: "auto", None, a path or a list of configs), ordered by
    ``meta.warmstart.warm_start``."""
    path = knowledge_path(knowledge)
    entries = load_entries(portfolio)
    shipped = {"portfolio": [c for c, _ in entries], "portfolio_costs": [cost for _, cost in entries],
               "size": size(X, schema), "time_budget": time_budget}  # entries the budget cannot afford are left out
    cold = warm_start(None, None, metric.name, space, defaults, sketch=[], **shipped)
    if path is None:
        return Experience(None, cold)
    try:
        sketch = row_sketch(X, y)
        mf = compute(X, y, schema, seed=seed)
    except Exception as e:  # noqa: BLE001 - data the meta-features cannot read: no harm, no memory
        warnings.warn(f"cannot describe this data for the knowledge base ({type(e).__name__}: {e}); this run "
                      "neither uses nor adds past knowledge", SearchWarning, stacklevel=2)
        return Experience(None, cold)
    fp, columns = fingerprint(sketch, X.columns), table_signature(X.columns)
    kb = open_or_warn(path)
    if kb is None:
        return Experience(path, cold, mf, fp, sketch, columns)
    try:
        warm = warm_start(kb, mf, metric.name, space, defaults, sketch=sketch, columns=columns, **shipped)
    except Exception as e:  # noqa: BLE001 - past knowledge is optional: whatever goes wrong, start cold
        warnings.warn(f"cannot read the knowledge base {path}: {e}; this run starts without past knowledge",
                      SearchWarning, stacklevel=2)
        warm = cold
    finally:
        kb.close()
    return Experience(path, warm, mf, fp, sketch, columns)


def remember(exp: Experience, state: SearchState, metric: Metric, *, dataset: str, time_budget: float | None,
             version: str) -> None:
    """Append the run's meta-features and every completed full-fidelity trial to the knowledge base."""
    if exp.path is None or exp.metafeatures is None:
        return
    records = []
    for r in state.completed():
        prop = state.proposals.get(r.trial_id)
        if prop is None or r.score is None:
            continue
        records.append(ConfigRecord(prop.config.to_dict(), score=float(r.score), loss=float(metric.loss(r.score)),
                                    fit_time=r.cost, source=exp.warm.recorded_source(prop.config)))
    if not records:
        return
    kb = open_or_warn(exp.path)
    if kb is None:
        return
    try:
        kb.add_run(RunRecord(dataset, exp.fingerprint, metric.name, metric.greater_is_better, exp.metafeatures,
                             records, time_budget=time_budget, forgeml_version=version, row_sketch=exp.sketch,
                             columns=exp.columns))
    except Exception as e:  # noqa: BLE001 - remembering is optional: the fitted model is what counts
        warnings.warn(f"cannot write to the knowledge base {exp.path}: {e}; this run is not remembered",
                      SearchWarning, stacklevel=2)
    finally:
        kb.close()
