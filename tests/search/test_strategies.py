"""The conformance battery over every registered search strategy, plus the registry itself."""
from __future__ import annotations

import pytest

from forgeml.errors import ConfigError
from forgeml.search import SEARCHERS, Searcher, make_searcher
from forgeml.testing.check_searcher import CHECKS, check_searcher
from plugins.searchers import PlainRandomSearcher

PLUGINS = {"plain_random": PlainRandomSearcher}  # tests/plugins: registered for the battery like a user would

# Options for the battery, each with its reason; everything else runs with its defaults.
BATTERY_OPTIONS = {
    "grid": {"allow_partial": True},  # the battery sets max_trials below the grid's size on purpose
}


def test_registry_lists_every_strategy():
    assert len(SEARCHERS) == 8
    assert set(SEARCHERS) == {"auto", "random", "grid", "bayes", "evolution", "halving", "hyperband", "pbt"}
    for name in SEARCHERS:
        cls = SEARCHERS[name]
        assert issubclass(cls, Searcher) and cls.name == name


@pytest.mark.parametrize("name", SEARCHERS.names() + list(PLUGINS))
def test_battery(name):
    if name in PLUGINS:
        SEARCHERS.register(name, PLUGINS[name])
    try:
        ran = check_searcher(lambda: make_searcher(name, **BATTERY_OPTIONS.get(name, {})))
    finally:
        if name in PLUGINS:
            SEARCHERS.unregister(name)
    assert ran == [c.__name__ for c in CHECKS] and len(ran) == 9


@pytest.mark.parametrize("name, options", [("auto", {"multi_fidelity": True}), ("auto", {"random_fraction": 0.5}),
                                           ("halving", {"sampler": "bayes"}),
                                           ("hyperband", {"sampler": "evolution"}), ("pbt", {"interval": 2}),
                                           ("halving", {"resource": "iterations"}),
                                           ("hyperband", {"resource": "iterations"})])
def test_battery_on_option_variants(name, options):
    assert len(check_searcher(lambda: make_searcher(name, **options))) == len(CHECKS)


def test_unknown_strategy_and_option_say_what_is_valid():
    with pytest.raises(ConfigError, match="did you mean 'bayes'|Did you mean 'bayes'"):
        make_searcher("bayse")
    with pytest.raises(ConfigError, match="population_size"):
        make_searcher("evolution", populaton_size=3)


@pytest.mark.parametrize("name, options", [("halving", {"eta": 1}), ("hyperband", {"min_fidelity": 0}),
                                           ("pbt", {"population_size": 1}), ("grid", {"levels": 0}),
                                           ("halving", {"sampler": "grid"}), ("halving", {"resource": "epochs"}),
                                           ("auto", {"random_fraction": 1.5})])
def test_bad_options_raise_config_error_at_setup(name, options):
    from forgeml.testing.check_searcher import battery_space

    s = make_searcher(name, **options)  # __init__ only stores
    with pytest.raises(ConfigError):
        s.setup(battery_space(), seed=0)


class _Unseeded(Searcher):
    """Broken on purpose: draws from a generator that ignores the seed."""

    name = "unseeded"

    def __init__(self) -> None:
        import numpy as np

        self._rng = np.random.default_rng()

    def _propose(self, trial_id):
        from forgeml.search.base import Proposal

        return Proposal(self.space.sample(self._rng))


class _Inactive(Searcher):
    """Broken on purpose: sets every parameter, active or not."""

    name = "inactive"

    def __init__(self) -> None:
        pass

    def _propose(self, trial_id):
        from forgeml.search.base import Proposal
        from forgeml.space import Config

        return Proposal(Config({n: p.get_default() for n, p in self.space.items()}))


@pytest.mark.parametrize("cls, error", [(_Unseeded, AssertionError), (_Inactive, ConfigError)])
def test_battery_catches_broken_searchers(cls, error):
    with pytest.raises(error):
        check_searcher(cls)
