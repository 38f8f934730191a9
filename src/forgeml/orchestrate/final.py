"""After the search: choose the ensemble on out-of-fold predictions.

The methods are compared on nested out-of-fold scores (``ensemble/select.py``), among members whose estimated
refits fit in the time left, scoring with the run's sample weights. The members are then made deployable by
``orchestrate/refit.py`` (refit on all rows on the run's executor, or their fold models); when one is dropped,
the ensemble is chosen again among the others, so the returned ensemble is always one that was scored on
out-of-fold predictions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forgeml.ensemble import ENSEMBLERS, resolve_ensembler
from forgeml.ensemble.prune import SLACK
from forgeml.ensemble.select import SINGLE, Candidate, best, compare
from forgeml.metrics import Metric
from forgeml.orchestrate.loop import ENSEMBLE_CANDIDATES, SearchState, full_fit_estimate
from forgeml.trial import TrialResult


def choose_weights(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, ensemble: Any,
                   max_members: int = ENSEMBLE_CANDIDATES, refit_budget: float | None = None, n_folds: int = 5,
                   only: set[int] | None = None, seed: int = 0,
                   sample_weight: np.ndarray | None = None) -> tuple[dict[int, float], float | None]:
    """Ensemble weights over the best ``max_members`` trials (restricted to ``only`` when given), fitted directly
    on the out-of-fold rows: the search's cheap probe of which members the final ensemble will want.

    ``ensemble`` is what ``AutoML(ensemble=...)`` holds; ``"auto"`` is probed with greedy selection, whose
    members cover what the other methods pick. With ``refit_budget``, the chosen members' estimated refit
    seconds stay within it (the first pick aside). ``sample_weight`` (all rows, aligned with ``y``; None for
    none) weighs the rows the blends are scored on; an ensembler is given it only when set.
    """
    done = [r for r in state.completed() if r.oof_path and (only is None or r.trial_id in only)]
    if not done:
        return {}, None
    ensembler = resolve_ensembler("greedy" if isinstance(ensemble, str) and ensemble == "auto" else ensemble)
    if ensembler is None or len(done) == 1:
        return {done[0].trial_id: 1.0}, done[0].score
    oof = load_oof(done[:max_members], mask)
    if not oof:
        return {done[0].trial_id: 1.0}, done[0].score
    costs = {k: full_fit_estimate(state.results[k], n_folds) for k in oof}
    weighted = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)[mask]}
    if getattr(ensembler, "uses_features", False):
        weighted["features"] = None
    ens = ensembler.fit(oof, y[mask], metric, seed=seed, costs=costs, max_cost=refit_budget, **weighted)
    return {k: float(v) for k, v in ens.weights.items()}, float(ens.score)


@dataclass
class Choice:
    """The ensemble the run keeps (``None`` when no full-fidelity trial has out-of-fold predictions), the name
    of its method, its nested out-of-fold score, and every candidate method's evidence."""

    ensemble: Any
    method: str
    score: float | None
    candidates: list[Candidate] = field(default_factory=list)
    warning: str | None = None
    methods: dict[str, Any] = field(default_factory=dict)  # the ensemblers compared, by name (to choose again)

    @property
    def members(self) -> set[int]:
        return set() if self.ensemble is None else self.ensemble.members


def candidate_methods(spec: Any, weighted: bool = False) -> dict[str, Any]:
    """The ensemblers ``AutoML(ensemble=spec)`` compares with the best single pipeline: every registered one for
    ``"auto"`` (in a ``weighted`` run, those whose ``fit`` takes ``sample_weight``), none for ``None``/``False``,
    otherwise the one asked for."""
    if isinstance(spec, str) and spec == "auto":
        from forgeml.orchestrate.prepare import takes_weights

        built = {name: ENSEMBLERS[name]() for name in ENSEMBLERS}
        return {n: e for n, e in built.items() if not weighted or takes_weights(e)}
    ensembler = resolve_ensembler(spec)
    if ensembler is None:
        return {}
    return {getattr(ensembler, "name", "") or type(ensembler).__name__: ensembler}


def choose_ensemble(state: SearchState, y: np.ndarray, mask: np.ndarray, metric: Metric, *, ensemble: Any,
                    classification: bool, features: Any = None, max_members: int = ENSEMBLE_CANDIDATES,
                    refit_budget: float | None = None, n_folds: int = 5, only: set[int] | None = None,
                    seed: int = 0, sample_weight: np.ndarray | None = None,
                    time_limit: float | None = None, methods: dict[str, Any] | None = None,
                    prune_costs: dict[int, float] | None = None, prune_slack: float = SLACK) -> Choice:
    """Compare the ensemble methods ``ensemble`` asks for on nested out-of-fold scores (``ensemble.select``) and
    keep the best (``"auto"``) or the one forced; ``None`` keeps the best single trial without comparing.

    A forced method that fails falls back to the best single pipeline, with ``Choice.warning`` saying why.
    ``features`` are the input rows behind ``y`` (all rows; the ones in ``mask`` are used). ``methods`` (name to
    ensembler) replaces what ``ensemble`` names, e.g. to choose again with the very objects of a first choice.
    ``n_folds`` is the comparison's own number of folds over the out-of-fold rows. With ``prune_costs`` (trial id
    to predict seconds; ``predict_costs``), weighted-sum ensembles drop the members that cost more to predict with
    than they add, giving up at most ``prune_slack`` of their gain (``ensemble/prune.py``).
    """
    done = [r for r in state.completed() if r.oof_path and (only is None or r.trial_id in only)]
    if not done:
        return Choice(None, SINGLE, None)
    if methods is None:
        methods = candidate_methods(ensemble, weighted=sample_weight is not None)
    oof = load_oof(done[:max_members], mask)
    if not methods or len(oof) < 2:
        top = done[0] if not oof else next(r for r in done if r.trial_id in oof)
        from forgeml.ensemble.base import Ensemble

        return Choice(Ensemble({top.trial_id: 1.0}, top.score), SINGLE, top.score)
    costs = {k: full_fit_estimate(state.results[k], state.results[k].extra.get("n_folds", 5)) for k in oof}
    rows = np.flatnonzero(mask)
    candidates = compare(methods, oof, y[mask], metric, classification=classification, seed=seed, costs=costs,
                         max_cost=refit_budget,
                         sample_weight=None if sample_weight is None else np.asarray(sample_weight)[mask],
                         features=None if features is None else features.iloc[rows], n_folds=n_folds,
                         time_limit=time_limit, prune_costs=prune_costs,
                         prune_slack=prune_slack)
    by_name = {c.name: c for c in candidates}
    if (isinstance(ensemble, str) and ensemble == "auto") or len(methods) > 1:
        chosen = best(candidates, metric)
    else:
        chosen = next((c for c in candidates if c.name != SINGLE), None)
    warning = None
    if chosen is None or not chosen.ok:
        reason = "it was not evaluated" if chosen is None else (chosen.error or "its score is not finite")
        warning = (f"the {'ensemble' if chosen is None else chosen.name} ensemble could not be built ({reason}); "
                   "returning the best single pipeline")
        chosen = by_name.get(SINGLE)
    if chosen is None or not chosen.ok:  # even the single best failed to cross-fit: take the best trial
        from forgeml.ensemble.base import Ensemble

        top = next(r for r in done if r.trial_id in oof)
        return Choice(Ensemble({top.trial_id: 1.0}, top.score), SINGLE, top.score, candidates, warning, methods)
    return Choice(chosen.ensemble, chosen.name, chosen.nested_score, candidates, warning, methods)


def predict_costs(state: SearchState, measured: bool = True) -> dict[int, float]:
    """Each trial's predict seconds per 1,000 rows, as it measured them on its validation folds; none when not
    ``measured`` (pruning then counts every cost 0 and drops the lightest-weighted members first), so that a run
    with ``max_trials`` depends on no clock and keeps the same model on any machine."""
    if not measured:
        return {}
    return {k: float(r.extra.get("predict_s_per_1k_rows", 0.0)) for k, r in state.results.items()}


def load_oof(results: list[TrialResult], mask: np.ndarray) -> dict[int, np.ndarray]:
    oof = {}
    for r in results:
        try:
            oof[r.trial_id] = np.load(r.oof_path)[mask]
        except (OSError, ValueError):
            continue
    return oof
