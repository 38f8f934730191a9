"""The default strategy: strong defaults first, then cost-aware Bayesian search (multi-fidelity on request).

1. Warm start: the configurations given to ``setup(warm_start=...)`` (the families' defaults, cheapest first) are
   proposed first (at full fidelity unless ``multi_fidelity``); TPE learns from their results.
2. TPE (as ``bayes``) over the conditional space.
3. Cost awareness: every result's cost (``duration``, else ``fit_time``, divided by its fidelity and by the size
   of its ``cost`` parameters: a family's trees, rounds or epochs) is recorded per value of the top categorical
   (``family``). Before each ``ask`` the orchestrator may call ``set_budget_hint(remaining_seconds)``; a family
   whose typical trial (at its default size) would cost more than ``max_cost_share`` of what remains is not
   proposed (TPE's draw is discarded and the best family so far that is allowed is forced), so one slow family
   cannot eat most of a short budget; its remaining warm starts are dropped too. A draw of an allowed family
   whose own estimate (its size times the family's cost per unit) exceeds that share is drawn again, up to
   ``COST_DRAWS`` times, and if none fits, the cheapest one's size is cut to fit: a 735-tree forest is not what
   12 s left can afford because a 100-tree one took 2 s. A family whose first 3+ trials all failed is avoided as
   well. If every family is avoided, the cheapest one stays allowed.
4. ``random_fraction`` (default 0): the share of proposals after the warm starts drawn at random (from the
   families not avoided) instead of by TPE, which still learns from them. Interleaving random draws is the
   classic guard of model-based search against a misled model, and it gives the final ensemble more diverse
   members.
5. ``multi_fidelity=True`` (the orchestrator sets it on large data): the warm starts, then TPE's
   configurations, start at a low fidelity and the best are promoted asynchronously, as in ``halving`` (ASHA);
   TPE learns from all bottom-rung results, and promotions obey the same cost rule, and the arm's own: its
   measured cost at the rung below, scaled up, must fit in ``max_cost_share`` of what remains.
6. Racing the warm starts (``race``, not under ``multi_fidelity``, whose rungs race them already): once at least
   ``RACE_MIN_FAMILIES`` families have a full-fidelity result, the queued warm starts of a family that ranks in
   the bottom half by its best loss (at least ``RACE_KEEP`` families stay) are dropped, but for a past run's
   best over the same table (``rerun``). A family's first default says most of what its others will: on a
   5,700-row multiclass table at 60 s the second-round defaults of forests, k-NN, SVM and a larger network took
   half of the default phase's worker time and none of them came near the boosted trees (issue 21). Ranking
   keeps the rule free of the metric's scale. TPE may still propose a raced family: it has learnt its result.
7. Staged refinement: parameters marked ``late`` (feature engineering and selection, ``pipeline/space.py``)
   stay at their defaults (off) in TPE's and the random draws while the search finds good base configurations
   (warm starts are proposed as given). Once ``late_after`` of its own proposals (not warm starts) have a score,
   or a third of ``max_trials`` results are in, the best configuration so far, of a family not avoided, is
   probed with each of its late parameters changed in turn (``MAX_PROBES`` at most), after any warm starts
   still queued; from then on TPE searches them too, its model holding the held-off trials' default values and
   the probes. Engineering is thus adopted where cross-validation shows it helps a strong pipeline, and a short
   search (large data: a few dozen trials at most) stays on the basics, as with ``feature_engineering=False``.

``ask`` returns ``None`` only after ``max_trials`` proposals.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from forgeml.errors import ConfigError
from forgeml.search._util import fill, loss_of, mutate_value, top_categorical
from forgeml.search.base import Proposal
from forgeml.search.halving import Rungs, next_warm, rung_fidelities
from forgeml.search.tpe import TPESearcher, _fixed
from forgeml.space import Config, SearchSpace
from forgeml.trial import TrialResult

MAX_PROBES = 8  # refinements of the best configuration tried when late parameters open
RACE_MIN_FAMILIES = 4  # families with a result before the warm starts are raced
RACE_KEEP = 3  # the fewest families whose warm starts racing keeps
COST_DRAWS = 4  # TPE draws per proposal, at most, to find one whose estimated cost fits


@dataclass
class FamilyCost:
    """What one family has cost so far: trials, successes, and cost per unit of fidelity and of size."""

    n: int = 0
    n_ok: int = 0
    unit_costs: list[float] = field(default_factory=list)

    @property
    def per_unit(self) -> float | None:
        """Typical seconds per unit of fidelity and size (median, robust to one slow outlier)."""
        return median(self.unit_costs) if self.unit_costs else None


class AutoSearcher(TPESearcher):
    """Options: ``n_startup`` and ``n_ei_candidates`` (TPE), ``multi_fidelity`` with ``eta`` and
    ``min_fidelity`` (ASHA), ``max_cost_share`` (the largest share of the remaining budget one trial may
    take), ``family_param`` (the categorical that costs are tracked by), ``random_fraction`` (the share of
    random proposals interleaved with TPE's), ``late_after`` (results of its own proposals, after the warm
    starts, before ``late`` parameters are searched), ``race`` (drop the queued warm starts of the families
    that rank in the bottom half so far).
    """

    name = "auto"
    multivariate = True
    group = True
    constant_liar = True

    def __init__(self, n_startup: int = 10, n_ei_candidates: int = 24, multi_fidelity: bool = False,
                 eta: float = 3, min_fidelity: float = 1 / 9, max_cost_share: float = 0.25,
                 family_param: str = "family", random_fraction: float = 0.0, late_after: int = 10,
                 race: bool = True) -> None:
        self.n_startup = n_startup
        self.n_ei_candidates = n_ei_candidates
        self.multi_fidelity = multi_fidelity
        self.eta = eta
        self.min_fidelity = min_fidelity
        self.max_cost_share = max_cost_share
        self.family_param = family_param
        self.random_fraction = random_fraction
        self.late_after = late_after
        self.race = race

    def setup(self, space: SearchSpace, *, seed: int = 0, warm_start=(), max_trials: int | None = None) -> None:
        super().setup(space, seed=seed, warm_start=warm_start, max_trials=max_trials)
        if not isinstance(self.random_fraction, (int, float)) or not 0.0 <= float(self.random_fraction) <= 1.0:
            raise ConfigError(f"auto: random_fraction must be in [0, 1], got {self.random_fraction}")
        self._family = top_categorical(space, self.family_param)
        self.costs: dict[Any, FamilyCost] = {}
        self._unit_cost: dict[str, float] = {}  # config id -> its last trial's seconds per unit of fidelity
        self.remaining: float | None = None
        self.rungs = Rungs(rung_fidelities(float(self.min_fidelity), float(self.eta)), float(self.eta)) \
            if self.multi_fidelity else None
        self._arms: dict[int, tuple[int, int]] = {}  # trial id -> (arm, rung)
        self._warm: list[Config] = []
        if self.multi_fidelity:  # warm starts become the first bottom-rung arms
            self._warm, self._queue = self._queue, []
        self._late = {n for n, p in space.items() if getattr(p, "late", False)}
        self._refining = not self._late  # nothing held back: TPE searches everything from the start
        self.hold = set(self._late)
        self._warm_ids = {c.id for c in (*self._queue, *self._warm)}
        self._rerun: set[str] = set()
        self._cost_params = [n for n, p in space.items() if getattr(p, "cost", False)]
        self._typical = {f: self.size(space.complete({self._family: f}))
                         for f in space[self._family].choices} if self._family else {}

    def learn_prior(self, observations, rerun=()) -> None:
        """As TPE's, and their seconds are each family's first costs (so the cost rule holds for TPE's first
        proposals, before this run has tried a family); not under ``multi_fidelity``: there the model compares
        bottom-rung losses, which past full-fidelity results would outrank whatever their configuration (so the
        warm starts all run)."""
        if self.rungs is not None:
            return
        self._rerun = {c.id for c in rerun}
        super().learn_prior(observations, rerun)
        for config, loss, seconds in observations:
            if seconds is not None and math.isfinite(float(loss)) and float(seconds) > 0:
                self.costs.setdefault(self._family_of(config), FamilyCost()).unit_costs.append(
                    float(seconds) / self.size(config))

    def set_budget_hint(self, remaining_seconds: float) -> None:
        self.remaining = float(remaining_seconds)

    # -- staged refinement --------------------------------------------------------------------------------
    def _refine_now(self) -> bool:
        """Counted in results, never in seconds, so the same seed and ``max_trials`` give the same proposals."""
        scored = [p for p, r in self.history.values() if p is not None and r is not None
                  and math.isfinite(loss_of(r))]
        own = sum(p.config.id not in self._warm_ids for p in scored)
        if own >= int(self.late_after):
            return True
        return self.max_trials is not None and len(scored) >= max(1, math.ceil(self.max_trials / 3))

    def probes(self) -> list[Config]:
        """The best configuration so far (at the highest fidelity reached, of a family not avoided now), each of
        its active ``late`` parameters changed in turn to another value (seeded), newly active children drawn;
        at most ``MAX_PROBES``, none already tried or queued."""
        bad = self.avoided()
        done = [(p, r) for p, r in self.completed()
                if math.isfinite(loss_of(r)) and self._family_of(p.config) not in bad]
        if not done:
            return []
        top = max(p.fidelity for p, _ in done)
        best = min((x for x in done if x[0].fidelity >= top - 1e-9), key=lambda x: loss_of(x[1]))[0].config
        seen = {p.config.id for p, _ in self.history.values() if p is not None}
        seen |= {c.id for c in (*self._queue, *self._warm)}
        out: list[Config] = []
        for name, p in self.space.items():
            if len(out) >= MAX_PROBES:
                break
            if name not in self._late or not self.space.is_active(name, best) or _fixed(p)[0]:
                continue
            value = mutate_value(p, best[name], self.rng, p_local=0.0)
            cfg = fill(self.space, {**dict(best), name: value}, self.rng)
            if cfg.id not in seen:
                seen.add(cfg.id)
                out.append(cfg)
        return out

    def _start_refining(self) -> None:
        """Probes go after any warm start still queued (only the ``max_trials`` trigger can fire before the warm
        starts are done: a short run keeps the defaults, portfolio and neighbours it was promised)."""
        self._refining, self.hold = True, set()
        probes = self.probes()
        if self.multi_fidelity:
            self._warm.extend(probes)
        else:
            self._queue.extend(probes)

    # -- cost awareness -----------------------------------------------------------------------------------
    def _family_of(self, config: Config) -> Any:
        return config.get(self._family) if self._family else None

    def size(self, config: Config) -> float:
        """The product of the configuration's active ``cost`` parameters (1 without any)."""
        out = 1.0
        for name in self._cost_params:
            if name in config:
                out *= max(float(config[name]), 1.0)
        return out

    def _seconds(self, family: Any, size: float) -> float | None:
        c = self.costs.get(family)
        unit = c.per_unit if c is not None else None
        return None if unit is None else unit * size

    def typical(self, family: Any) -> float | None:
        """Seconds of one full-fidelity trial of ``family`` at its default size, from what it has cost so far."""
        return self._seconds(family, self._typical.get(family, 1.0))

    def estimate(self, config: Config) -> float | None:
        """Seconds of one full-fidelity trial of ``config``: its size times its family's cost per unit."""
        return self._seconds(self._family_of(config), self.size(config))

    def _limit(self) -> float | None:
        return None if self.remaining is None else float(self.max_cost_share) * self.remaining

    def avoided(self, fidelity: float = 1.0) -> set:
        """Families not to propose now at ``fidelity``: too slow for what remains, or failing every time."""
        if self._family is None:
            return set()
        bad = {f for f, c in self.costs.items() if c.n >= 3 and c.n_ok == 0}
        limit = self._limit()
        if limit is not None:
            bad |= {f for f in self.costs if (t := self.typical(f)) is not None and t * fidelity > limit}
        choices = list(self.space[self._family].choices)
        if all(any(ch == b for b in bad) for ch in choices):
            known = [f for f in bad if self.typical(f) is not None]
            cheapest = min(known, key=self.typical) if known else choices[0]
            bad = {f for f in bad if f != cheapest}
        return bad

    def family_best(self) -> dict[Any, float]:
        """Each family's best full-fidelity loss so far (families without one are left out)."""
        best: dict[Any, float] = {}
        for p, r in self.completed():
            loss = loss_of(r)
            if math.isfinite(loss) and p.fidelity >= 1.0 - 1e-9:
                f = self._family_of(p.config)
                best[f] = min(best.get(f, math.inf), loss)
        return best

    def raced(self) -> set:
        """Families whose queued warm starts are dropped: those ranked below the top half (and below the top
        ``RACE_KEEP``) by their best full-fidelity loss, once ``RACE_MIN_FAMILIES`` families have one."""
        if not self.race or self.rungs is not None or self._family is None:
            return set()
        best = self.family_best()
        if len(best) < RACE_MIN_FAMILIES:
            return set()
        ranked = sorted(best, key=lambda f: (best[f], str(f)))
        return set(ranked[max(RACE_KEEP, math.ceil(len(ranked) / 2)):])

    # -- ask / tell ---------------------------------------------------------------------------------------
    def ask(self, trial_id: int) -> Proposal | None:
        """As ``Searcher.ask``, but queued warm starts of a family that is now avoided, or raced out, are
        dropped (a past run's best over the same table only when avoided)."""
        if not self._refining and self._refine_now():
            self._start_refining()
        if self._queue:
            bad, slow = self.raced(), self.avoided()
            self._queue = [c for c in self._queue if self._family_of(c) not in slow
                           and (c.id in self._rerun or self._family_of(c) not in bad)]
        return super().ask(trial_id)

    def _propose(self, trial_id: int) -> Proposal | None:
        fidelity = 1.0
        if self.rungs is not None:
            prom = self.rungs.promotion(self._affordable)
            if prom is not None:
                arm, rung = prom
                self._arms[trial_id] = (arm, rung)
                return Proposal(self.rungs.configs[arm], fidelity=self.rungs.launch(arm, rung))
            fidelity = self.rungs.fidelities[0]
            warm = next_warm(self._warm, self.history)
            if warm is not None:
                self.rungs.start(trial_id, warm)
                self._arms[trial_id] = (trial_id, 0)
                return Proposal(warm, fidelity=fidelity)
        bad = self.avoided(fidelity)
        self.avoid = {self._family: bad} if bad else {}
        if float(self.random_fraction) > 0 and self.rng.random() < float(self.random_fraction):
            config = self._random_config(bad)  # TPE learns from it when its result is told
        else:
            config = self._affordable_draw(trial_id, fidelity)
        if self.rungs is not None:
            self.rungs.start(trial_id, config)
            self._arms[trial_id] = (trial_id, 0)
        return Proposal(config, fidelity=fidelity)

    def _affordable_draw(self, trial_id: int, fidelity: float) -> Config:
        """TPE's draw, drawn again (``COST_DRAWS`` at most) while its estimated cost exceeds the limit. If none
        fits, the cheapest draw's ``cost`` parameter is cut to what fits (its TPE trial is discarded; the result
        is learnt as that of a configuration TPE did not propose)."""
        config = self.sample_config(trial_id)
        limit = self._limit()
        cost = self.estimate(config)
        if limit is None or cost is None or cost * fidelity <= limit:
            return config
        kept = (cost, config, self._trials.pop(trial_id))
        for _ in range(COST_DRAWS - 1):
            other = self.sample_config(trial_id)
            trial, cost = self._trials.pop(trial_id), self.estimate(other)
            cost = 0.0 if cost is None else cost
            self._trials[trial_id] = kept[2] if cost < kept[0] else trial
            self.discard(trial_id)  # the dearer of the two
            if cost < kept[0]:
                kept = (cost, other, trial)
            if kept[0] * fidelity <= limit:
                self._trials[trial_id] = kept[2]
                return kept[1]
        self._trials[trial_id] = kept[2]
        cut = self._cut(kept[1], limit / (kept[0] * fidelity))
        if cut != kept[1]:
            self.discard(trial_id)
        return cut

    def _cut(self, config: Config, factor: float) -> Config:
        """``config`` with its first active ``cost`` parameter scaled by ``factor`` (< 1), within its range."""
        for name in self._cost_params:
            if name in config:
                p = self.space[name]
                return Config({**dict(config), name: max(int(p.low), min(int(p.high), int(config[name] * factor)))})
        return config

    def _force(self, name: str, ok: list) -> Any:
        """For the family: the allowed one with the best loss so far (TPE then draws its hyperparameters), not a
        random one: near the end of the budget that would be a cheap family that cannot help."""
        best = self.family_best() if name == self._family else {}
        known = [f for f in ok if f in best]
        return min(known, key=lambda f: best[f]) if known else super()._force(name, ok)

    def _affordable(self, config: Config, fidelity: float) -> bool:
        """A promotion obeys the family cost rule, and the arm's own measured cost (per unit of fidelity, at the
        rung below) scaled to ``fidelity`` must fit in ``max_cost_share`` of what remains: one slow configuration
        of a cheap family (an L1 linear model on 750,000 rows) is not promoted into most of the budget."""
        if self._family_of(config) in self.avoided(fidelity):
            return False
        own = self._unit_cost.get(config.id)
        return own is None or self.remaining is None or own * fidelity <= float(self.max_cost_share) * self.remaining

    def _random_config(self, bad: set) -> Config:
        held = {n: self.space[n].get_default() for n in self.hold}
        if self._family is None:
            return fill(self.space, held, self.rng)
        ok = [c for c in self.space[self._family].choices if not any(c == b for b in bad)]
        family = ok[int(self.rng.integers(len(ok)))] if ok else self.space[self._family].sample(self.rng)
        return fill(self.space, {**held, self._family: family}, self.rng)

    def _observe(self, trial_id: int, proposal: Proposal | None, result: TrialResult) -> None:
        if proposal is not None:
            c = self.costs.setdefault(self._family_of(proposal.config), FamilyCost())
            c.n += 1
            c.n_ok += math.isfinite(loss_of(result))
            if result.cost > 0:
                own = result.cost / max(proposal.fidelity, 0.05)
                c.unit_costs.append(own / self.size(proposal.config))
                self._unit_cost[proposal.config.id] = own
        if self.rungs is None:
            super()._observe(trial_id, proposal, result)
            return
        entry = self._arms.pop(trial_id, None)
        if entry is None and proposal is not None and abs(proposal.fidelity - self.rungs.fidelities[0]) < 1e-9:
            arm = self.rungs.find(proposal.config)  # a resumed bottom-rung trial
            if arm is None:
                arm = trial_id
                self.rungs.start(arm, proposal.config)
            entry = (arm, 0)
        if entry is None:
            return  # a resumed higher-rung trial: TPE models bottom-rung losses only in this mode
        self.rungs.record(entry[0], entry[1], loss_of(result))
        if entry[1] == 0:
            self.learn(trial_id, proposal.config if proposal is not None else None, result)

    def state(self) -> dict[str, Any]:
        out = {**super().state(), "remaining_hint": self.remaining,
               "family_costs": {str(f): {"n": c.n, "n_ok": c.n_ok, "per_trial_s": self.typical(f)}
                                for f, c in self.costs.items()},
               "avoided": sorted(map(str, self.avoided())), "raced": sorted(map(str, self.raced())),
               "refining": self._refining}
        if self.rungs is not None:
            out["rung_counts"] = self.rungs.counts()
        return out
