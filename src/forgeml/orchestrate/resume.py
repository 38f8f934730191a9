"""Open the run in the store: a new one, or (``resume``) the latest one with its finished trials replayed."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from forgeml.budget import Budget
from forgeml.errors import ConfigError
from forgeml.orchestrate.loop import SearchState
from forgeml.orchestrate.prepare import Prepared
from forgeml.orchestrate.settings import RunSettings
from forgeml.search.base import Proposal
from forgeml.store import Store


@dataclass
class OpenRun:
    """A run being written: its store and id, what the search knows so far, and the time it has left."""

    store: Store
    run_id: str
    state: SearchState
    budget: Budget
    elapsed_before: float  # seconds spent by earlier sessions of a resumed run


def open_run(settings: RunSettings, prep: Prepared, run_dir: str, target: str, budget: Budget) -> OpenRun:
    """Start a run, or continue the latest one when ``settings.resume``: earlier sessions' time is charged to
    the budget, their unfinished trials are marked crashed and their finished ones are told to the searcher."""
    store = Store.open(run_dir)
    state = SearchState()
    elapsed_before = 0.0
    run_id = store.latest_run() if settings.resume else None
    if run_id is not None:
        earlier = store.get_run(run_id)
        if earlier.get("sample_weight", None) != weights_digest(prep):
            raise ConfigError(f"the run {run_id} in {run_dir!r} was fitted {_weighed(earlier.get('sample_weight'))}; "
                              f"this fit is {_weighed(weights_digest(prep))}. Resume with the same sample_weight, "
                              "or start a new run (overwrite=True, or another directory)")
        was = bool(earlier.get("feature_engineering", False))  # runs stored before it existed had none
        if was != bool(settings.feature_engineering):
            raise ConfigError(f"the run {run_id} in {run_dir!r} was fitted with feature_engineering={was}; resume "
                              f"with the same setting, or start a new run (overwrite=True, or another directory)")
        check_folds(store, run_id, run_dir, len(prep.folds))
        elapsed_before = float(earlier.get("elapsed") or 0.0)
        if settings.time_budget is not None:
            budget = Budget(max(settings.time_budget - elapsed_before, 1.0))
        store.mark_running_as(run_id, "crashed")
        store.update_run(run_id, status="running")
    else:
        run_id = store.start_run(run_meta(settings, prep, target))
    if settings.resume:
        replay(store, run_id, prep, state)
    return OpenRun(store=store, run_id=run_id, state=state, budget=budget, elapsed_before=elapsed_before)


def check_folds(store: Store, run_id: str, run_dir: str, n_folds: int) -> None:
    """A resumed run keeps the folds its trials were scored on: scores from 5 folds (models trained on 80 % of the
    rows) and from 3 (67 %) are not comparable. The default count can differ from the earlier session's when
    forgeml's rule changed (session 25 weighed a multiclass target's classes) or ``n_folds`` did."""
    done = {int(r.extra["n_folds"]) for r in store.trial_results(run_id)
            if r.status.finished and isinstance(r.extra.get("n_folds"), int)}
    if done and done != {n_folds}:
        was = min(done)
        raise ConfigError(f"the run {run_id} in {run_dir!r} scored its trials on {was} folds; this fit would use "
                          f"{n_folds}. Resume with n_folds={was}, or start a new run (overwrite=True, or another "
                          "directory)")


def run_meta(settings: RunSettings, prep: Prepared, target: str) -> dict:
    """What the store records about a new run."""
    return {"task": prep.schema.task, "metric": prep.metric.name, "target": target, "seed": settings.seed,
            "time_budget": settings.time_budget, "max_trials": settings.max_trials,
            "search": prep.searcher.name or type(prep.searcher).__name__,
            "n_rows": len(prep.X), "n_features": prep.X.shape[1], "sample_weight": weights_digest(prep),
            "feature_engineering": bool(settings.feature_engineering)}


def weights_digest(prep: Prepared) -> str | None:
    """A fingerprint of the rows' weights (None without), so a resumed run never mixes differently weighted
    scores."""
    if prep.sample_weight is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(prep.sample_weight, dtype=np.float64).tobytes()).hexdigest()[:16]


def _weighed(digest: str | None) -> str:
    return "without sample_weight" if digest is None else f"with sample_weight (fingerprint {digest})"


def replay(store: Store, run_id: str, prep: Prepared, state: SearchState) -> None:
    """Tell the searcher every finished cross-validation trial of ``run_id``, and continue its trial ids."""
    specs = {sp.trial_id: sp for sp in store.trial_specs(run_id)}
    for res in store.trial_results(run_id):
        spec = specs.get(res.trial_id)
        if spec is None or spec.kind != "cv" or "family" not in spec.config or not res.status.finished:
            continue
        prop = Proposal(prep.space.complete(spec.config), fidelity=res.fidelity, parent_id=spec.parent_id)
        state.proposals[res.trial_id] = prop
        state.results[res.trial_id] = res
        prep.searcher.replay(res.trial_id, prop, res)
    state.next_id = store.next_trial_id(run_id)


def trial_cap(max_trials: int | None, state: SearchState) -> int | None:
    """The loop's cap on trial ids: ``max_trials`` counts the trials a resumed run already replayed."""
    return None if max_trials is None else max(max_trials, len(state.proposals))
