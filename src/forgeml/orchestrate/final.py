"""After the search: choose ensemble weights on out-of-fold predictions.

The ensemble is chosen among members whose estimated refits fit in the time left, scoring the blends with the
run's sample weights. The members are then made deployable by ``orchestrate/refit.py`` (refit on all rows on the
run's executor, or their fold models); when one is dropped, the weights are chosen again among the others, so
the returned ensemble is always one that was scored on out-of-fold predictions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from forgeml.ensemble import resolve_ensembler
from forgeml.metrics import Metric
from forgeml.orchestrate.loop import ENSEMBLE_CANDIDATES, SearchState, full_fit_estimate


def choose_weights(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, ensemble: Any,
                   max_members: int = ENSEMBLE_CANDIDATES, refit_budget: float | None = None, n_folds: int = 5,
                   only: set[int] | None = None, seed: int = 0,
                   sample_weight: np.ndarray | None = None) -> tuple[dict[int, float], float | None]:
    """Ensemble weights over the best ``max_members`` trials (restricted to ``only`` when given).

    ``ensemble`` is what ``AutoML(ensemble=...)`` holds: ``True`` (greedy), ``False`` (the best single trial), a
    name in ``forgeml.ensemble.ENSEMBLERS`` or an ``Ensembler`` object. With ``refit_budget``, the chosen members'
    estimated refit seconds stay within it (the first pick aside). ``sample_weight`` (all rows, aligned with
    ``y``; None for none) weighs the rows the blends are scored on; an ensembler is given it only when set.
    """
    done = [r for r in state.completed() if r.oof_path and (only is None or r.trial_id in only)]
    if not done:
        return {}, None
    ensembler = resolve_ensembler(ensemble)
    if ensembler is None or len(done) == 1:
        return {done[0].trial_id: 1.0}, done[0].score
    oof = {}
    for r in done[:max_members]:
        try:
            oof[r.trial_id] = np.load(r.oof_path)[mask]
        except (OSError, ValueError):
            continue
    if not oof:
        return {done[0].trial_id: 1.0}, done[0].score
    costs = {k: full_fit_estimate(state.results[k], n_folds) for k in oof}
    weighted = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)[mask]}
    ens = ensembler.fit(oof, y[mask], metric, seed=seed, costs=costs, max_cost=refit_budget, **weighted)
    return {k: float(v) for k, v in ens.weights.items()}, float(ens.score)
