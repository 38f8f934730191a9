"""The Optuna TPE adapter (``bayes``) and the cost-aware default (``auto``)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import optuna
import pytest
from objectives import conditional, conditional_space, result

from forgeml.search import make_searcher
from forgeml.space import Categorical, Condition, Float, Int, SearchSpace


def _run(s, space, objective, n, cost=lambda c: 1.0, remaining=None, seed=0, warm_start=()):
    """Sequential loop; ``remaining(spent)`` gives the budget hint before each ask."""
    s.setup(space, seed=seed, warm_start=warm_start, max_trials=n)
    spent, out = 0.0, []
    for t in range(n):
        if remaining is not None:
            s.set_budget_hint(remaining(spent))
        p = s.ask(t)
        space.validate(p.config)
        loss, c = objective(p.config), cost(p.config)
        spent += c
        out.append((p, loss, c))
        s.tell(t, result(t, loss, duration=c))
    return out


def test_tpe_learns_from_warm_starts_and_replays():
    space = conditional_space()
    warm = [{"family": "bowl", "bowl.x": 1.0, "bowl.y": -2.0}, {"family": "steps"}]
    s = make_searcher("bayes")
    out = _run(s, space, conditional, 2, warm_start=warm)
    assert [p.config for p, _, _ in out] == [space.complete(w) for w in warm]
    trials = s._study.get_trials(deepcopy=False)
    assert [t.value for t in trials] == [loss for _, loss, _ in out]
    assert trials[0].params == {"family": 0, "bowl.x": 1.0, "bowl.y": -2.0}
    from forgeml.search.base import Proposal

    s.replay(99, Proposal(space.complete({"family": "smooth"})), result(99, 0.7))
    assert len(s._study.get_trials(deepcopy=False)) == 3


def test_tpe_focuses_on_the_branch_that_holds_the_optimum():
    out = _run(make_searcher("bayes"), conditional_space(), conditional, 50, seed=1)
    late = Counter(p.config["family"] for p, _, _ in out[-20:])
    assert late["smooth"] >= 12, late  # chance would be about 7 of 20


def test_non_primitive_and_ambiguous_choices_round_trip():
    class Kernel:
        def __repr__(self):
            return "Kernel()"

    k = Kernel()
    choices = (1, True, None, (1, 2), k, "a")
    space = SearchSpace({"c": Categorical(choices), "x": Float(0, 1)})
    s = make_searcher("bayes", n_startup=5)
    seen = []
    out = _run(s, space, lambda c: c["x"] + (0 if c["c"] is k else 1), 40,
               warm_start=[{"c": True, "x": 0.5}])
    for p, _, _ in out:
        v = p.config["c"]
        assert any(v is ch or (v == ch and type(v) is type(ch)) for ch in choices)
        seen.append(v)
    assert s._study.get_trials(deepcopy=False)[0].params["c"] == 1  # True kept its own index
    assert any(v is k for v in seen)


def test_failed_trials_are_told_as_failures_not_invented_values():
    space = conditional_space()
    s = make_searcher("bayes", n_startup=4)
    s.setup(space, seed=0)
    for t in range(12):
        p = s.ask(t)
        space.validate(p.config)
        s.tell(t, result(t, None if t % 2 else conditional(p.config)))
    states = Counter(t.state for t in s._study.get_trials(deepcopy=False))
    assert states == {optuna.trial.TrialState.FAIL: 6, optuna.trial.TrialState.COMPLETE: 6}


def test_parallel_asks_are_distinct():
    space = conditional_space()
    s = make_searcher("bayes")
    _run(s, space, conditional, 20)
    s.max_trials = None
    pending = [s.ask(20 + i) for i in range(4)]
    assert len({p.config.id for p in pending}) == 4
    assert s.state()["n_open"] == 4


def test_avoided_values_are_never_proposed():
    space = conditional_space()
    s = make_searcher("bayes")
    s.setup(space, seed=0)
    s.avoid = {"family": {"bowl"}}
    fams = [s.ask(t).config["family"] for t in range(25)]
    assert "bowl" not in fams and set(fams) == {"smooth", "steps"}


# -- auto ------------------------------------------------------------------------------------------------------
FAMILY_SPACE = SearchSpace({"family": Categorical(("fast", "slow", "mid")), "fast.x": Float(0, 1),
                            "slow.x": Float(0, 1), "mid.x": Float(0, 1)},
                           {f"{f}.x": Condition("family", (f,)) for f in ("fast", "slow", "mid")})
COST = {"fast": 1.0, "mid": 2.0, "slow": 30.0}


def family_loss(c):
    x = c[c["family"] + ".x"]
    return {"fast": 0.3, "mid": 0.35, "slow": 0.2}[c["family"]] + (x - 0.5) ** 2


def test_auto_does_not_spend_a_short_budget_on_one_slow_family():
    budget = 150.0

    def spent_on_slow(name):
        out = _run(make_searcher(name), FAMILY_SPACE, family_loss, 60, cost=lambda c: COST[c["family"]],
                   remaining=lambda spent: max(budget - spent, 0.0), seed=3)
        total = 0.0
        slow = 0.0
        for p, _, c in out:
            if total >= budget:
                break
            total += c
            slow += c if p.config["family"] == "slow" else 0.0
        return slow / total

    assert spent_on_slow("auto") < 0.5 < spent_on_slow("bayes")


def test_auto_uses_slow_families_when_time_is_plentiful():
    out = _run(make_searcher("auto"), FAMILY_SPACE, family_loss, 40, cost=lambda c: COST[c["family"]],
               remaining=lambda spent: 1e6)
    assert Counter(p.config["family"] for p, _, _ in out)["slow"] >= 8


def test_auto_avoids_a_family_that_always_fails_and_keeps_the_cheapest_when_all_are_slow():
    out = _run(make_searcher("auto"), FAMILY_SPACE,
               lambda c: None if c["family"] == "mid" else family_loss(c), 30)
    assert Counter(p.config["family"] for p, _, _ in out)["mid"] <= 3
    s = make_searcher("auto")
    _run(s, FAMILY_SPACE, family_loss, 12, cost=lambda c: COST[c["family"]])
    s.set_budget_hint(0.5)  # even the fast family costs more than a quarter of what is left
    assert s.avoided() == {"slow", "mid"}
    s.max_trials = None
    assert all(s.ask(100 + i).config["family"] == "fast" for i in range(5))


def test_auto_drops_warm_starts_of_a_family_too_slow_for_what_remains():
    warm = [{"family": "slow", "slow.x": 0.1}, {"family": "fast"}, {"family": "slow", "slow.x": 0.9},
            {"family": "mid"}]
    out = _run(make_searcher("auto"), FAMILY_SPACE, family_loss, 4, cost=lambda c: COST[c["family"]],
               remaining=lambda spent: 100.0 - spent, warm_start=warm)
    assert [p.config for p, _, _ in out[:3]] == [FAMILY_SPACE.complete(w) for w in (warm[0], warm[1], warm[3])]
    assert out[3][0].config["family"] != "slow"


def test_auto_proposes_warm_starts_first():
    warm = [{"family": "fast", "fast.x": 0.5}, {"family": "mid"}]
    out = _run(make_searcher("auto"), FAMILY_SPACE, family_loss, 5, warm_start=warm)
    assert [p.config for p, _, _ in out[:2]] == [FAMILY_SPACE.complete(w) for w in warm]
    assert all(p.fidelity == 1.0 for p, _, _ in out)


@pytest.mark.parametrize("name", ["bayes", "auto"])
def test_optuna_does_not_leak(name):
    s = make_searcher(name)
    out = _run(s, FAMILY_SPACE, family_loss, 3)
    for p, _, _ in out:
        assert type(p.config).__module__ == "forgeml.space"
        assert all(not type(v).__module__.startswith("optuna") for v in p.config.values())


def test_auto_random_interleaving_avoids_slow_families_and_teaches_tpe():
    s = make_searcher("auto", random_fraction=1.0)
    out = _run(s, FAMILY_SPACE, family_loss, 30, cost=lambda c: COST[c["family"]], remaining=lambda spent: 40.0)
    fams = Counter(p.config["family"] for p, _, _ in out[3:])
    assert fams["slow"] <= 1 and len(fams) == 2  # random, but never the family too slow for what remains
    assert s.state()["n_model_trials"] == 30  # TPE still saw every result
    # the default draws nothing at random: the same seed gives TPE's proposals, as before the option existed
    a = [p.config for p, _, _ in _run(make_searcher("auto"), FAMILY_SPACE, family_loss, 15)]
    b = [p.config for p, _, _ in _run(make_searcher("auto", random_fraction=0.0), FAMILY_SPACE, family_loss, 15)]
    assert a == b


def _staged_space():
    fam = Condition("family", ("a", "b"))
    return SearchSpace({"family": Categorical(("a", "b"), default="a"),
                        "x": Float(-3.0, 3.0, default=2.0),
                        "eng": Categorical(("off", "on", "other"), default="off", late=True),
                        "keep": Categorical((1, 2), default=1, late=True)},
                       {"x": fam, "keep": Condition("eng", ("on",))})


def _staged_objective(c):  # "on" helps only family a; x near 0 is best
    return c["x"] ** 2 + (0.0 if c["family"] == "b" else 1.0) - (0.9 if c["family"] == "a" and
                                                                 c["eng"] == "on" else 0.0)


def test_late_parameters_wait_for_good_base_configs_then_refine_the_best_first():
    space = _staged_space()
    s = make_searcher("auto", late_after=8, n_startup=4)
    out = _run(s, space, _staged_objective, 30, seed=1)
    configs = [p.config for p, _, _ in out]
    assert all(c["eng"] == "off" and "keep" not in c for c in configs[:8])  # held at their defaults
    assert all(t.params.get("eng") == 0 for t in s._study.get_trials()[:8])  # and TPE's model knows they were
    before = min(range(8), key=lambda i: out[i][1])
    probe = configs[8]  # the best so far with its one active late parameter ("eng") changed
    assert probe["eng"] != "off" and probe["x"] == configs[before]["x"]
    assert probe["family"] == configs[before]["family"]
    assert any(c["eng"] != "off" for c in configs[9:])  # then TPE searches them too
    assert s.state()["refining"] is True
    again = _run(make_searcher("auto", late_after=8, n_startup=4), space, _staged_objective, 30, seed=1)
    assert [p.config for p, _, _ in again] == configs  # counted in results, never in seconds: reproducible


def test_late_parameters_open_after_a_third_of_max_trials_and_warm_starts_do_not_count():
    space = _staged_space()
    by_trials = _run(make_searcher("auto", n_startup=4), space, _staged_objective, 9, seed=0)
    assert [p.config["eng"] for p, _, _ in by_trials[:3]] == ["off"] * 3
    assert by_trials[3][0].config["eng"] != "off"  # max_trials 9: the probe right after 3 results
    warm = [{"family": "a", "x": v} for v in (-2.0, -1.0, 0.5, 1.0, 2.0)]
    staged = _run(make_searcher("auto", late_after=3, n_startup=4), space, _staged_objective, 40, seed=0,
                  warm_start=warm)
    first = next(i for i, (p, _, _) in enumerate(staged) if p.config["eng"] != "off")
    assert first == len(warm) + 3  # 5 warm starts, then 3 of its own, then the probe of the best so far
    best = min(staged[:first], key=lambda t: t[1])[0].config
    assert staged[first][0].config["x"] == best["x"] and staged[first][0].config["family"] == best["family"]
    plain = _run(make_searcher("bayes", n_startup=4), space, _staged_objective, 12, seed=0)
    assert any(p.config["eng"] != "off" for p, _, _ in plain)  # other strategies search them as usual


@pytest.mark.parametrize("name", ["bayes", "auto"])
def test_past_results_learnt_first_make_the_first_proposals_good(name):
    """``learn_prior``: a past run's results on the same problem are TPE's model before this run's first trial;
    they are not trials (no history, nothing proposed for them). Without them the first ``n_startup`` proposals
    are random draws."""
    from objectives import BRANIN_MIN, branin, branin_space

    from forgeml.space import Config

    space = branin_space()
    rng = np.random.default_rng(1)
    past = [Config({"x1": float(a), "x2": float(b)}) for a, b in zip(rng.uniform(-5, 10, 60), rng.uniform(0, 15, 60))]
    prior = [(c, branin(c), 1.0) for c in past] + [(past[0], float("nan"), 1.0)]  # a non-finite loss is skipped

    def first_ten(learn: bool) -> list[float]:
        s = make_searcher(name)
        s.setup(space, seed=0, max_trials=10)
        if learn:
            s.learn_prior(prior)
            assert s.state()["n_prior"] == 60 and s.history == {}
        return [loss for _, loss, _ in _run_after_setup(s, space, branin, 10)]

    cold, warm = first_ten(False), first_ten(True)
    near = BRANIN_MIN + 1.6  # the past run's best was 0.99
    assert sum(v < near for v in warm) >= 5 and not any(v < near for v in cold)
    assert sorted(warm)[4] < sorted(cold)[0]  # not one lucky draw: the proposals as a whole are better


@pytest.mark.parametrize("name", ["bayes", "auto"])
def test_warm_starts_the_past_search_judged_run_only_when_asked_to(name):
    """Of the queued warm starts, those among the past results and those of a family the past results cover are
    dropped (that search ran them or chose not to afford them), but for ``rerun``; a family the past did not
    try keeps its warm starts."""
    space = SearchSpace({"family": Categorical(("a", "b", "c")), "x": Float(0.0, 1.0)})
    a1, a2, b1, c1, c2 = (space.complete(v) for v in (
        {"family": "a", "x": 0.1}, {"family": "a", "x": 0.9}, {"family": "b", "x": 0.2},
        {"family": "c", "x": 0.3}, {"family": "c", "x": 0.4}))
    s = make_searcher(name)
    s.setup(space, seed=0, warm_start=[a2, b1, a1, c1, c2])
    # a1 was the past best (run again); a2 (not itself a past result) is of family a, which the past covers;
    # b's only past result was not finite: b is not covered
    s.learn_prior([(a1, 0.5, 1.0), (space.complete({"family": "a", "x": 0.5}), 0.6, 1.0), (b1, float("nan"), 1.0),
                   (c1, 0.7, 1.0)], rerun=[a1])
    assert [s.ask(t).config for t in range(2)] == [b1, a1]
    assert s.ask(2).config not in (a2, c2) and s.state()["n_prior"] == 3


def test_past_seconds_are_each_familys_first_costs():
    """The cost rule holds from the first proposal: a family that took most of the budget there is avoided."""
    space = SearchSpace({"family": Categorical(("fast", "slow")), "x": Float(0.0, 1.0)})
    s = make_searcher("auto")
    s.setup(space, seed=0)
    slow = [(space.complete({"family": "slow", "x": v}), 0.1, 20.0) for v in (0.1, 0.2, 0.3)]
    fast = [(space.complete({"family": "fast", "x": v}), 0.5, 0.5) for v in (0.1, 0.2, 0.3)]
    s.learn_prior(slow + fast)
    s.set_budget_hint(30.0)  # 25 % of 30 s: 7.5 s per trial at most
    assert s.avoided() == {"slow"}
    assert {s.ask(t).config["family"] for t in range(12)} == {"fast"}  # although the past says slow is better
    s.set_budget_hint(200.0)
    assert s.avoided() == set()


def test_a_multi_fidelity_search_does_not_learn_full_fidelity_past_results():
    s = make_searcher("auto", multi_fidelity=True)
    space = SearchSpace({"x": Float(0.0, 1.0)})
    a = space.complete({"x": 0.5})
    s.setup(space, seed=0, warm_start=[a])
    s.learn_prior([(a, 0.1, 1.0)])
    assert s.state()["n_prior"] == 0 and s.costs == {} and len(s._study.get_trials(deepcopy=False)) == 0
    assert s.ask(0).config == a  # its warm starts all run


def _run_after_setup(s, space, objective, n):
    out = []
    for t in range(n):
        p = s.ask(t)
        space.validate(p.config)
        loss = objective(p.config)
        out.append((p, loss, 1.0))
        s.tell(t, result(t, loss, duration=1.0))
    return out


# -- racing the warm starts, cost per unit of size, the forced family -----------------------------------------
RACE_LOSS = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.5, "f": 0.6}
RACE_SPACE = SearchSpace({"family": Categorical(tuple(RACE_LOSS)), "x": Float(0.0, 1.0)})


def _race_warm():
    first = [RACE_SPACE.complete({"family": f, "x": 0.5}) for f in RACE_LOSS]
    second = [RACE_SPACE.complete({"family": f, "x": 0.25}) for f in RACE_LOSS]
    return first, second


@pytest.mark.parametrize("race", [True, False])
def test_auto_races_the_warm_starts_of_families_that_rank_in_the_bottom_half(race):
    """Every family's first default runs; of the second round only the top half's (by their best so far) do, but
    for a past run's best over the same table (``rerun``). ``race=False`` runs them all."""
    first, second = _race_warm()
    s = make_searcher("auto", race=race)
    s.setup(RACE_SPACE, seed=0, warm_start=first + second)
    s.learn_prior([], rerun=[second[4]])  # family e's second default is a past run's best here
    out = _run_after_setup(s, RACE_SPACE, lambda c: RACE_LOSS[c["family"]], 12)
    proposed = [p.config for p, _, _ in out]
    assert proposed[:6] == first
    ran = [c for c in second if c in proposed]
    if race:
        assert ran == [second[0], second[1], second[2], second[4]]  # a, b, c (the top half) and e's rerun
        assert s.raced() == {"d", "e", "f"}
    else:
        assert ran == second and s.raced() == set()


def test_auto_does_not_race_before_enough_families_have_a_result():
    first, second = _race_warm()
    s = make_searcher("auto")
    s.setup(RACE_SPACE, seed=0, warm_start=first[:3] + second[:3])
    out = _run_after_setup(s, RACE_SPACE, lambda c: RACE_LOSS[c["family"]], 6)
    assert [p.config for p, _, _ in out] == first[:3] + second[:3]  # three families: nothing to race


TREES_SPACE = SearchSpace({"family": Categorical(("trees", "lin")), "trees.n": Int(10, 1000, log=True, cost=True),
                           "lin.c": Float(0.0, 1.0)},
                          {"trees.n": Condition("family", ("trees",)), "lin.c": Condition("family", ("lin",))})


def _trees_loss(c):  # more trees are better; the linear family is worse whatever its setting
    if c["family"] == "trees":
        return 0.2 + 0.1 * (1.0 - np.log(c["trees.n"]) / np.log(1000))
    return 0.5 + 0.1 * c["lin.c"]


def _trees_cost(c):
    return 0.01 * c["trees.n"] if c["family"] == "trees" else 0.05


def _over_limit(space):
    """Trees proposals costing more than a quarter of the 8 s left (2 s: more than 200 trees)."""
    s = make_searcher("auto")
    out = _run(s, space, _trees_loss, 40, cost=_trees_cost, remaining=lambda spent: 8.0,
               warm_start=[{"family": "trees", "trees.n": 100}, {"family": "lin"}])
    trees = [p.config["trees.n"] for p, _, _ in out if p.config["family"] == "trees"]
    return sum(n > 200 for n in trees), len(trees), s


def test_auto_scales_a_familys_cost_by_its_size_and_draws_again_what_would_not_fit():
    """A family's cost is per unit of its ``cost`` parameter: a 100-tree trial taking 1 s says a 800-tree one takes
    8 s, which 8 s left cannot afford (a quarter of it at most); TPE's draw is drawn again, or cut to fit. Without
    the mark the family's median trial decides: the search runs forests it cannot afford, which soon make the
    whole family look too slow, and falls back on the worse one."""
    over, n_trees, s = _over_limit(TREES_SPACE)
    assert s.estimate(TREES_SPACE.complete({"family": "trees", "trees.n": 800})) == pytest.approx(8.0)
    assert s.typical("trees") == pytest.approx(0.01 * TREES_SPACE["trees.n"].get_default())
    unmarked = SearchSpace({**dict(TREES_SPACE.items()), "trees.n": Int(10, 1000, log=True)}, TREES_SPACE.conditions)
    over_unmarked, n_unmarked, _ = _over_limit(unmarked)
    assert n_trees >= 25 and over <= 3  # the better family is searched, at sizes that fit
    assert n_unmarked <= 10 and over_unmarked >= 1


def test_auto_forces_the_best_allowed_family_when_tpe_draws_an_avoided_one():
    """When TPE draws a family the budget cannot afford, the best family so far that it can is proposed in its
    place (with TPE's hyperparameters), not a random one: near the end that would be a cheap family that cannot
    help."""
    space = SearchSpace({"family": Categorical(("fast", "slow", "mid", "junk")),
                         **{f"{f}.x": Float(0, 1) for f in ("fast", "slow", "mid", "junk")}},
                        {f"{f}.x": Condition("family", (f,)) for f in ("fast", "slow", "mid", "junk")})
    loss = {"fast": 0.3, "mid": 0.35, "slow": 0.2, "junk": 0.9}
    cost = {"fast": 1.0, "mid": 2.0, "slow": 30.0, "junk": 0.5}
    s = make_searcher("auto", n_startup=4)
    _run(s, space, lambda c: loss[c["family"]] + (c[c["family"] + ".x"] - 0.5) ** 2, 14,
         cost=lambda c: cost[c["family"]], remaining=lambda spent: 1e6)
    s.max_trials = None
    s.set_budget_hint(40.0)  # a quarter is 10 s: the slow family, the best, is avoided
    assert s.avoided() == {"slow"}
    fams = Counter(s.ask(100 + i).config["family"] for i in range(20))
    assert fams["slow"] == 0 and fams["fast"] >= 12 and fams["junk"] <= 2
