"""Choosing the ensemble method on nested out-of-fold scores: a method that memorises its fit rows wins on its
own score and loses here; the comparison keeps to its time limit; ties go to the simpler method."""
import numpy as np
import pytest

from forgeml.ensemble.base import Ensemble, Ensembler
from forgeml.ensemble.greedy import GreedyEnsembler
from forgeml.ensemble.select import SINGLE, Candidate, best, compare, eligible
from forgeml.metrics import METRICS


class _Lookup:
    """Remembers the label of every row it was fitted on, keyed by the members' predictions."""

    def __init__(self, table, members, k):
        self.table, self.members, self.k = table, tuple(members), k

    def combine(self, preds, features=None):
        rows = np.column_stack([np.asarray(preds[m]).reshape(len(preds[m]), -1) for m in self.members])
        out = np.full((len(rows), self.k), 1.0 / self.k)
        for i, r in enumerate(rows):
            label = self.table.get(r.round(9).tobytes())
            if label is not None:
                out[i] = np.eye(self.k)[label]
        return out


class Memorise(Ensembler):
    """Perfect on the rows it was fitted on, a coin flip on any other: what an overfitting stacker looks like."""

    name = "memorise"

    def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None, sample_weight=None):
        keys = list(oof)
        rows = np.column_stack([np.asarray(oof[m]).reshape(len(y), -1) for m in keys])
        k = np.asarray(next(iter(oof.values()))).shape[1]
        comb = _Lookup({r.round(9).tobytes(): int(c) for r, c in zip(rows, y)}, keys, k)
        ens = Ensemble({m: 1 / len(keys) for m in keys}, 0.0, comb)
        return Ensemble(ens.weights, metric.score(y, ens.combine(oof)), comb)


def _members(n=600, seed=0, noises=(1.0, 1.5, 2.0)):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    oof = {}
    for key, noise in zip((3, 5, 8), noises):
        logit = (2 * y - 1) * 1.2 + rng.normal(scale=noise, size=n)
        p = 1 / (1 + np.exp(-logit))
        oof[key] = np.column_stack([1 - p, p])
    return oof, y


def test_a_memorising_method_wins_on_its_own_score_but_not_on_the_nested_one():
    oof, y = _members()
    metric = METRICS["log_loss"]
    own = Memorise().fit(oof, y, metric)
    assert own.score < 1e-6  # perfect on the rows it was fitted on
    cands = compare({"memorise": Memorise(), "greedy": GreedyEnsembler()}, oof, y, metric, classification=True)
    by = {c.name: c for c in cands}
    assert [c.name for c in cands] == [SINGLE, "greedy", "memorise"]  # cheapest known first, plug-ins last
    assert by["memorise"].nested_score == pytest.approx(np.log(2), rel=1e-6)  # a coin flip on held-out rows
    assert by["greedy"].nested_score < 0.6
    assert best(cands, metric).name in (SINGLE, "greedy")


def test_ties_go_to_the_method_tried_first_and_a_failure_is_listed_not_chosen():
    class Broken(Ensembler):
        name = "broken"

        def fit(self, oof, y, metric, *, seed=0, costs=None, max_cost=None, sample_weight=None):
            raise RuntimeError("no")

    oof, y = _members()
    metric = METRICS["roc_auc"]
    single_only = {3: oof[3]}  # one member: every method returns it, with the same nested score
    cands = compare({"greedy": GreedyEnsembler(), "broken": Broken()}, single_only, y, metric, classification=True)
    by = {c.name: c for c in cands}
    assert by[SINGLE].nested_score == by["greedy"].nested_score
    assert best(cands, metric).name == SINGLE
    assert by["broken"].error.startswith("RuntimeError") and not by["broken"].ok


def test_the_comparison_keeps_to_its_time_limit():
    oof, y = _members()
    cands = compare({"greedy": GreedyEnsembler(), "memorise": Memorise()}, oof, y, METRICS["log_loss"],
                    classification=True, time_limit=0.0)
    assert cands[0].ok  # the first candidate always runs
    assert all(c.error == "not evaluated: no time left" for c in cands[1:])


def test_weights_and_subsampling_are_respected():
    oof, y = _members(n=900)
    metric = METRICS["accuracy"]
    w = np.where(y == 1, 3.0, 1.0)
    a = compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True, sample_weight=w, max_rows=300)
    b = compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True, sample_weight=w, max_rows=300)
    assert [c.nested_score for c in a] == [c.nested_score for c in b]  # seeded
    c = compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True, max_rows=300)
    assert [x.nested_score for x in a] != [x.nested_score for x in c]  # the weights reach the scores


def test_with_too_few_rows_to_cross_fit_only_the_single_best_is_evaluated():
    oof, y = _members(n=600)
    cands = compare({"memorise": Memorise(), "greedy": GreedyEnsembler()}, oof, y, METRICS["log_loss"],
                    classification=True, n_folds=1)  # e.g. a run validated on one holdout
    by = {c.name: c for c in cands}
    assert by[SINGLE].ok
    # never the methods' own in-sample scores, on which the memoriser would win
    assert not by["memorise"].ok and "too few rows" in by["memorise"].error
    assert best(cands, METRICS["log_loss"]).name == SINGLE


def test_p_better_tells_a_real_gain_over_the_single_best_from_noise():
    metric = METRICS["log_loss"]
    oof, y = _members(n=800, noises=(1.5, 1.5, 1.5))
    cands = compare({"greedy": GreedyEnsembler()}, oof, y, metric, classification=True)
    by = {c.name: c for c in cands}
    # three equally good members with independent errors: averaging them is a real gain, on every resample
    assert by["greedy"].p_better > 0.95 and best(cands, metric).name == "greedy"

    # near-copies of one member (a little noise on its logit): what the weights gain on these rows is chance
    rng = np.random.default_rng(5)
    logit = np.log(oof[3][:, 1] / oof[3][:, 0])
    copies = {3: oof[3]}
    for k in (5, 8):
        p = 1 / (1 + np.exp(-(logit + rng.normal(scale=0.1, size=len(y)))))
        copies[k] = np.column_stack([1 - p, p])
    cands = compare({"greedy": GreedyEnsembler()}, copies, y, metric, classification=True)
    by = {c.name: c for c in cands}
    assert by["greedy"].nested_score < by[SINGLE].nested_score  # ranked first on the score alone ...
    assert by["greedy"].p_better < 0.8  # ... but not by more than noise


def _cand(name, score, p_better=float("nan"), ok=True):
    return Candidate(name, nested_score=score, p_better=p_better, ensemble=Ensemble({1: 1.0}, score) if ok else None,
                     error=None if ok else "not evaluated in time")


def test_auto_takes_the_better_convex_combination_unless_another_method_beats_it_by_more_than_noise():
    metric = METRICS["roc_auc"]  # higher is better
    base = [_cand(SINGLE, 0.80), _cand("greedy", 0.79, 0.3), _cand("super_learner", 0.795, 0.4)]
    # the single best's nested score is the highest, but it was picked on those rows: the convex choice stands
    assert best(base, metric).name == "super_learner"
    assert best([*base, _cand("stacking", 0.81, 0.9)], metric).name == "stacking"  # better and beyond noise
    assert best([*base, _cand("stacking", 0.81, 0.5)], metric).name == "super_learner"  # better, within noise
    assert best([*base, _cand("voting", 0.79, 0.95)], metric).name == "super_learner"  # sure, but not better
    assert best([_cand(SINGLE, 0.8), _cand("greedy", 0.8, 0.0)], metric).name == SINGLE  # a tie: the simpler
    # no convex combination evaluated: an ensemble only when it beats the single best by more than noise
    failed = [_cand(SINGLE, 0.80), _cand("greedy", 0.9, ok=False), _cand("super_learner", 0.9, ok=False)]
    assert best([*failed, _cand("voting", 0.81, 0.5)], metric).name == SINGLE
    assert best([*failed, _cand("voting", 0.81, 0.9)], metric).name == "voting"
    # the fallbacks (infer_limit): auto's choice first, single always among them, a gated-out method never
    order = [c.name for c in eligible([*base, _cand("stacking", 0.81, 0.5)], metric)]
    assert order == ["super_learner", SINGLE, "greedy"]
