"""Bayesian optimisation with Optuna's TPE, behind our ``Searcher`` protocol (Optuna never leaks out).

``ask`` opens ``study.ask()`` and walks our ``SearchSpace`` in order, calling ``suggest_*`` only for parameters
whose conditions hold, so the conditional space maps onto Optuna's define-by-run trials. Multivariate TPE with
``group=True`` models each sub-space (a family's hyperparameters) with the trials that have it, and
``constant_liar=True`` keeps parallel asks apart while earlier trials are still running.

``tell`` forwards the loss, or ``state=FAIL`` for failed, timed-out, crashed or pruned trials (TPE then ignores
them; no value is invented). Categorical choices are suggested by index, so any Python value (tuples, ``None``,
classes) is safe. Warm-start and replayed configurations are added to the study as finished trials when their
results arrive, so TPE learns from them; so are past results on the same table (``learn_prior``), before any.
``ask`` returns ``None`` only after ``max_trials`` proposals.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from forgeml._imports import import_clean
from forgeml.search._util import loss_of, top_categorical
from forgeml.search.base import Proposal, Searcher
from forgeml.space import Categorical, Config, Constant, Float, Int, Param, SearchSpace
from forgeml.trial import TrialResult


def _fixed(p: Param) -> tuple[bool, Any]:
    """Whether ``p`` has a single value (so nothing is suggested), and that value."""
    if isinstance(p, Constant):
        return True, p.value
    if isinstance(p, Categorical):
        return len(p.choices) == 1, p.choices[0]
    return p.low == p.high, p.low


class TPESearcher(Searcher):
    """Tree-structured Parzen estimator over the conditional space.

    Options: ``n_startup`` random trials before the model is used; ``n_ei_candidates`` candidates scored per
    ask; ``multivariate``/``group`` (joint model per sub-space, recommended for conditional spaces);
    ``constant_liar`` (treat running trials as bad so parallel asks differ).
    """

    name = "bayes"

    def __init__(self, n_startup: int = 10, n_ei_candidates: int = 24, multivariate: bool = True,
                 group: bool = True, constant_liar: bool = True) -> None:
        self.n_startup = n_startup
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.group = group
        self.constant_liar = constant_liar

    # -- setup --------------------------------------------------------------------------------------------
    def _sampler(self, seed: int):
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                n_startup_trials=int(self.n_startup), n_ei_candidates=int(self.n_ei_candidates), seed=seed,
                multivariate=bool(self.multivariate), group=bool(self.group and self.multivariate),
                constant_liar=bool(self.constant_liar))

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        optuna = import_clean("optuna")  # first imported here, deep in a fit: see forgeml._imports

        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._study = optuna.create_study(direction="minimize", sampler=self._sampler(seed))
        self._trials: dict[int, Any] = {}  # our trial id -> the open optuna trial
        self.n_prior = 0  # past results learnt by ``learn_prior``
        self.avoid: dict[str, set] = {}  # parameter -> values not to propose now (set by cost-aware wrappers)
        self.hold: set[str] = set()  # parameters kept at their defaults for now (set by staged wrappers)

    # -- ask ----------------------------------------------------------------------------------------------
    def _suggest(self, trial: Any, name: str, p: Param) -> Any:
        single, value = _fixed(p)
        if single:
            return value
        if isinstance(p, Float):
            return float(trial.suggest_float(name, p.low, p.high, log=p.log))
        if isinstance(p, Int):
            return int(trial.suggest_int(name, p.low, p.high, log=p.log))
        return p.choices[trial.suggest_categorical(name, tuple(range(len(p.choices))))]

    def _walk(self, trial: Any) -> dict[str, Any] | None:
        """Suggest the active parameters in order; ``None`` as soon as a value in ``avoid`` comes up."""
        values: dict[str, Any] = {}
        for name, p in self.space.items():
            if not self.space.is_active(name, values):
                continue
            v = self._suggest(trial, name, p)
            if name in self.avoid and any(v == a for a in self.avoid[name]):
                return None
            values[name] = v
        return values

    def _internal(self, name: str, value: Any) -> Any:
        """Optuna's representation of a user-facing value (the choice index for categoricals)."""
        p = self.space[name]
        if isinstance(p, Categorical):  # exact type first, so True and 1 stay distinct choices
            same = [i for i, c in enumerate(p.choices) if c == value and type(c) is type(value)]
            return same[0] if same else next(i for i, c in enumerate(p.choices) if c == value)
        return value

    def sample_config(self, trial_id: int) -> Config:
        """A new configuration from TPE, registered as open under ``trial_id`` until ``tell``."""
        import optuna

        held = {n: self._internal(n, self.space[n].get_default()) for n in self.hold}
        if held:  # suggested like any parameter, so TPE's model records the held values too
            self._study.enqueue_trial(held)
        trial = self._study.ask()
        values = self._walk(trial)
        if values is None:  # an avoided value came up: drop this draw (FAIL is ignored by TPE), force another
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
            forced = dict(held)
            for name, bad in self.avoid.items():
                p = self.space[name] if name in self.space else None
                if isinstance(p, Categorical):
                    ok = [c for c in p.choices if not any(c == b for b in bad)]
                    if ok:
                        forced[name] = self._internal(name, self._force(name, ok))
            self._study.enqueue_trial(forced)
            trial = self._study.ask()
            saved, self.avoid = self.avoid, {}
            values = self._walk(trial)
            self.avoid = saved
        self._trials[trial_id] = trial
        return Config(values)

    def _force(self, name: str, ok: list) -> Any:
        """The value forced on ``name`` when TPE's draw was one to avoid: one of ``ok`` at random."""
        return ok[int(self.rng.integers(len(ok)))]

    def discard(self, trial_id: int) -> None:
        """Drop the open draw under ``trial_id`` unevaluated (TPE ignores a failed trial)."""
        import optuna

        trial = self._trials.pop(trial_id, None)
        if trial is not None:
            self._study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _propose(self, trial_id: int) -> Proposal | None:
        return Proposal(self.sample_config(trial_id))

    # -- tell ---------------------------------------------------------------------------------------------
    def learn(self, trial_id: int, config: Mapping[str, Any] | None, result: TrialResult) -> None:
        """Tell TPE a result: closes the open trial, or adds a finished one for a config TPE did not propose."""
        import optuna

        loss = loss_of(result)
        state = optuna.trial.TrialState.COMPLETE if math.isfinite(loss) else optuna.trial.TrialState.FAIL
        trial = self._trials.pop(trial_id, None)
        if trial is not None:
            if state is optuna.trial.TrialState.COMPLETE:
                self._study.tell(trial, loss)
            else:
                self._study.tell(trial, state=state)
            return
        if config is not None:
            self._add_finished(config, loss)

    def _add_finished(self, config: Mapping[str, Any], loss: float) -> None:
        """Add a finished trial for a config TPE did not propose (failed when ``loss`` is not finite)."""
        import optuna

        params, dists = self._external(config)
        ok = math.isfinite(loss)
        self._study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if ok else optuna.trial.TrialState.FAIL,
            value=loss if ok else None, params=params, distributions=dists))

    def _external(self, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Params and distributions of a configuration, skipping values outside the space."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        params, dists = {}, {}
        for name, value in config.items():
            p = self.space[name] if name in self.space else None
            if p is None or _fixed(p)[0] or not p.contains(value):
                continue
            if isinstance(p, Float):
                dists[name] = FloatDistribution(p.low, p.high, log=p.log)
            elif isinstance(p, Int):
                dists[name] = IntDistribution(p.low, p.high, log=p.log)
            else:
                dists[name] = CategoricalDistribution(tuple(range(len(p.choices))))
            params[name] = self._internal(name, value)
        return params, dists

    def learn_prior(self, observations, rerun=()) -> None:
        """Past results enter the study as finished trials before any of this run's: TPE's model uses them from
        the first proposal (they count towards ``n_startup``); its good group is the best tenth of all results
        (at most 25), so this run's own displace them as they do better.

        Queued warm starts that search already judged are dropped, but for ``rerun``: those among the results,
        and every one of a family (the space's top categorical) the results cover. That search tried the
        families' defaults or chose not to afford them (a 300-tree forest after its 100-tree one was slow): what
        is left of them is what it judged too costly, not what it missed. A family the results do not cover keeps
        its warm starts."""
        good = [(c, float(loss)) for c, loss, _ in observations if math.isfinite(float(loss))]
        top = top_categorical(self.space)
        covered = {c.get(top) for c, _ in good} if top else set()
        known = {c.id for c, _ in good}
        keep = {c.id for c in rerun}
        self._queue = [c for c in self._queue if c.id in keep
                       or (c.id not in known and (top is None or c.get(top) not in covered))]
        for config, loss in good:
            self._add_finished(config, loss)
        self.n_prior += len(good)

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        self.learn(trial_id, proposal.config if proposal is not None else None, result)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "n_model_trials": len(self._study.get_trials(deepcopy=False)),
                "n_open": len(self._trials), "n_prior": self.n_prior}
