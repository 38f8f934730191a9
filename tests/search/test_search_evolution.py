"""Regularized evolution and the mutation/perturbation helpers it shares with PBT."""
from __future__ import annotations

import numpy as np
from objectives import conditional_space, result

from forgeml.search import make_searcher
from forgeml.search._util import mutate_one, perturb
from forgeml.space import Float, SearchSpace


def _diff(a, b) -> set[str]:
    return {k for k in set(a) | set(b) if a.get(k, object()) != b.get(k, object())}


def test_mutation_changes_one_choice_and_repairs_the_subtree():
    space = conditional_space()
    rng = np.random.default_rng(0)
    family_changes = 0
    for _ in range(300):
        parent = space.sample(rng)
        child = mutate_one(space, parent, rng)
        space.validate(child)
        changed = _diff(parent, child)
        if child["family"] != parent["family"]:  # the old subtree is dropped, the new one sampled
            family_changes += 1
            assert not any(k.startswith(parent["family"] + ".") for k in child)
            assert any(k.startswith(child["family"] + ".") for k in child)
        elif "smooth.kind" in changed:  # a nested structural choice: only its own child may follow
            assert changed <= {"smooth.kind", "smooth.boost"}
        else:
            assert len(changed) <= 1, (parent, child)
    assert family_changes > 20


def test_perturb_keeps_structure_and_scales_numbers():
    space = conditional_space()
    rng = np.random.default_rng(1)
    for _ in range(200):
        c = space.sample(rng)
        p = perturb(space, c, rng, resample_probability=0.0)
        assert p["family"] == c["family"] and set(p) == set(c)
        for name, v in c.items():
            dom = space[name]
            if isinstance(dom, Float):
                allowed = [min(dom.high, max(dom.low, v * f)) for f in (0.8, 1.2)]
                assert any(np.isclose(p[name], a) for a in allowed), (name, v, p[name])
            elif name != "family":
                assert p[name] == v or name in ("smooth.depth", "steps.n")  # ints move by the same factors


def test_failed_configurations_are_never_parents():
    """Only the first trial and its one-step descendants succeed; every other trial fails."""
    space = SearchSpace({"x": Float(0, 1), "y": Float(0, 1)})
    s = make_searcher("evolution", population_size=10, sample_size=5)
    s.setup(space, seed=0)
    successes, failures, mutants = [], [], 0
    for t in range(60):
        c = s.ask(t).config
        from_success = any(len(_diff(a, c)) == 1 for a in successes)
        from_failure = any(len(_diff(a, c)) == 1 for a in failures)
        assert not (from_failure and not from_success), "a failed configuration was used as a parent"
        mutants += from_success
        (successes if t == 0 or from_success else failures).append(c)
        s.tell(t, result(t, 0.5 if t == 0 or from_success else None))
    assert mutants >= 40, mutants  # after the random start, nearly every proposal mutates a success


def test_population_ages_out_the_oldest():
    space = SearchSpace({"x": Float(0, 1)})
    s = make_searcher("evolution", population_size=5, sample_size=2)
    s.setup(space, seed=0)
    for t in range(12):
        p = s.ask(t)
        s.tell(t, result(t, p.config["x"]))
    assert len(s._population) == 5
    assert [c for c, _ in s._population] == [s.history[t][0].config for t in range(7, 12)]
