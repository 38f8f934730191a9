"""The zero-shot portfolio: a short ordered list of configurations that, tried first, do well on most datasets.

It is built offline (``scripts/build_portfolio.py``) from runs over a suite of datasets: the best configurations of
each dataset's run are the candidates, every candidate is cross-validated on every dataset, and the portfolio is
grown greedily, each next member the candidate that most raises the mean over datasets of the best normalised
score so far (``greedy``; as auto-sklearn 2.0's and TabRepo's portfolios). The result ships in the package as
``portfolio.json`` and is what a run tries right after the families' hand-written defaults
(``AutoML(portfolio=...)``): a candidate earns credit on a dataset only for beating the defaults there
(``normalise``'s ``zero``), so the portfolio adds to them.

A portfolio entry is a plain joint configuration; one is only used when it is valid in the run's space
(``warmstart.admissible``), so an entry of a family not searched, or from an older space, is skipped.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError, SearchWarning

SHIPPED = Path(__file__).with_name("portfolio.json")
ENV = "FORGEML_PORTFOLIO"  # replaces the shipped portfolio as what portfolio="auto" means: a file, or "none"
FORMAT = 1


def normalise(scores: pd.DataFrame, greater_is_better: dict[str, bool],
              zero: dict[str, float] | None = None) -> pd.DataFrame:
    """Per dataset (column): 1 for the best candidate, 0 for the median one or worse, linear between.

    The median, not the worst, is the zero: one candidate that fails badly on a dataset (AUC 0.5) would otherwise
    squeeze every other candidate's differences there towards 1. A failed evaluation (NaN) counts as 0.

    ``zero`` (per dataset, on the scores' scale): what a run gets there anyway, the best of the families'
    defaults. It is then the zero, and the scale stays at least the candidates' spread (best − median), so a
    candidate earns credit only for beating the defaults, in proportion to how far; where nothing beats them,
    no candidate earns anything. A portfolio grown on that adds to the defaults instead of repeating them."""
    out = {}
    for ds in scores.columns:
        s = scores[ds].astype(float)
        z = np.nan if zero is None else float(zero.get(ds, np.nan))
        if not greater_is_better.get(ds, True):
            s, z = -s, -z
        mid = s.median()  # over the candidates that ran: failures must not drag the zero to -inf
        s = s.fillna(-np.inf)
        best = s.max()
        if np.isfinite(z):
            span = best - min(mid, z)
            out[ds] = ((s - z) / span).clip(0, 1) if np.isfinite(span) and span > 0 else (s > z).astype(float)
            continue
        span = best - mid
        out[ds] = ((s - mid) / span).clip(0, 1) if np.isfinite(span) and span > 0 else (s >= best).astype(float)
    return pd.DataFrame(out, index=scores.index).fillna(0.0).clip(0, 1)


def greedy(norm: pd.DataFrame, size: int) -> list[tuple[Any, float]]:
    """Up to ``size`` candidates (rows of ``norm``), each maximising the mean over datasets (columns) of the best
    normalised score so far; with it, that mean after it is added. Stops early once no candidate adds anything
    (so an all-zero matrix gives an empty portfolio).
    Ties go to the earlier row, so the result is deterministic."""
    if norm.empty or norm.shape[1] == 0:
        return []
    values = norm.to_numpy(dtype=float)
    best = np.zeros(values.shape[1])
    chosen: list[tuple[Any, float]] = []
    taken: set[int] = set()
    for _ in range(min(size, len(norm))):
        gains = np.maximum(values, best).mean(axis=1)
        gains[list(taken)] = -np.inf
        i = int(np.argmax(gains))
        if gains[i] <= best.mean() + 1e-12:  # nothing left adds anything (the first one too, where none earns)
            break
        taken.add(i)
        best = np.maximum(best, values[i])
        chosen.append((norm.index[i], float(best.mean())))
    return chosen


def write(path: str | Path, entries: list[dict[str, Any]], *, built_from: list[str], command: str = "") -> None:
    """Save a portfolio: ``entries`` are ``{"config": {...}, ...}`` in the order to try them."""
    doc = {"format": FORMAT, "built_from": sorted(built_from), "command": command, "entries": entries}
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")


def load(portfolio: Any) -> list[dict[str, Any]]:
    """The configurations of a portfolio, in order: ``"auto"`` the shipped one (or what ``$FORGEML_PORTFOLIO``
    names: a portfolio file, or ``none``), None (or False) none, a path to a portfolio file, or a list of
    configurations. A file that cannot be read is a warning and no portfolio (the
    run then starts from the hand-written defaults): a portfolio only decides where the search starts."""
    return [config for config, _ in load_entries(portfolio)]


def load_entries(portfolio: Any) -> list[tuple[dict[str, Any], dict[str, float] | None]]:
    """As ``load``, each configuration with its ``cost`` where the file records one: the seconds it took in the run
    it came from and that data's size (``log_rows``, ``log_features``), so that a run can leave out an entry its
    budget cannot afford (``warmstart.scaled_cost``). A configuration given in a list has no cost: it is the
    user's explicit choice."""
    if isinstance(portfolio, str) and portfolio == "auto" and os.environ.get(ENV, "").strip():
        portfolio = os.environ[ENV].strip()  # the site's choice of default, as FORGEML_HOME is for knowledge
        if portfolio.lower() == "none":
            return []
    if portfolio is None or portfolio is False:
        return []
    if isinstance(portfolio, (list, tuple)):
        if not all(isinstance(c, dict) for c in portfolio):
            raise ConfigError("portfolio must be 'auto', None, a path to a portfolio file, or a list of config dicts")
        return [(dict(c), None) for c in portfolio]
    path = SHIPPED if isinstance(portfolio, str) and portfolio == "auto" else Path(portfolio)
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise ValueError("it is not a portfolio (a JSON object with an 'entries' list)")
        if int(doc.get("format", 0)) > FORMAT:
            raise ValueError(f"it was written by a newer forgeml (format {doc['format']}, this one reads {FORMAT})")
        return [(dict(e["config"]), _cost(e.get("cost"))) for e in doc["entries"]
                if isinstance(e, dict) and isinstance(e.get("config"), dict)]  # a malformed entry is skipped
    except FileNotFoundError:
        if path == SHIPPED:  # a source checkout without a built portfolio: the defaults alone
            return []
        warnings.warn(f"no portfolio at {path}; this run starts from the families' defaults", SearchWarning,
                      stacklevel=2)
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"cannot read the portfolio {path} ({type(e).__name__}: {e}); this run starts from the "
                      "families' defaults", SearchWarning, stacklevel=2)
    return []


def _cost(cost: Any) -> dict[str, float] | None:
    """An entry's recorded cost, or None when it has none or it is malformed (the entry then runs as given)."""
    try:
        out = {k: float(cost[k]) for k in ("seconds", "log_rows", "log_features")}
    except (KeyError, TypeError, ValueError):
        return None
    return out if all(np.isfinite(v) for v in out.values()) and out["seconds"] >= 0 else None
