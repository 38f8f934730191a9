"""The NAS batteries over every registered space and strategy, and proof that they catch broken ones."""
import pytest

from forgeml.nas import NAS_SPACES, NAS_STRATEGIES
from forgeml.nas.base import NASStrategy
from forgeml.nas.spaces.macro import MacroSpace
from forgeml.testing import check_nas_space, check_nas_strategy


def _space_for(strategy_cls):
    """The first registered space the strategy can search (DARTS needs a continuous relaxation)."""
    for name in NAS_SPACES:
        space = NAS_SPACES[name]()
        if not strategy_cls.needs_supernet or hasattr(space, "supernet"):
            return space
    pytest.fail(f"no registered space for {strategy_cls.name}")


@pytest.mark.parametrize("name", list(NAS_SPACES))
def test_every_space_passes_the_battery(name):
    assert "builds:table" in check_nas_space(NAS_SPACES[name]())


@pytest.mark.parametrize("name", list(NAS_STRATEGIES))
def test_every_strategy_passes_the_battery(name):
    cls = NAS_STRATEGIES[name]
    assert check_nas_strategy(cls(), _space_for(cls), seconds=2.5) == ["deadline", "valid genotypes", "trained winner",
                                                          "survives failures"]


class _NeverFinishes(NASStrategy):
    name = "never_finishes"

    def search(self, ctx):
        for _ in range(3):
            ctx.evaluate(ctx.space.default(), ctx.low_epochs)  # never keeps a fully trained network


class _WrongWidth(MacroSpace):
    name = "wrong_width"

    def build(self, genotype, problem):
        from torch import nn

        return nn.Linear(problem.n_features, problem.n_outputs + 1)


def test_the_batteries_catch_broken_plugins():
    with pytest.raises(AssertionError, match="without a fully trained network"):
        check_nas_strategy(_NeverFinishes(), MacroSpace(), seconds=3)
    with pytest.raises(AssertionError, match="outputs of shape"):
        check_nas_space(_WrongWidth())


def test_the_documented_plugins_pass_the_batteries_and_run():
    import numpy as np
    from tests.plugins.nas import FullTrainingRandom, ShallowSpace

    from forgeml.nas import NASearch

    assert check_nas_space(ShallowSpace()) == ["builds:table", "builds:image"]  # flat pixels work too
    assert "trained winner" in check_nas_strategy(FullTrainingRandom(), ShallowSpace(), seconds=2)
    NAS_SPACES.register("shallow", ShallowSpace)
    try:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(150, 3))
        m = NASearch(strategy=FullTrainingRandom(), space="shallow", time_budget=3, epochs=(2, 8)).fit(X, X[:, 0] > 0)
        assert (m.predict(X) == (X[:, 0] > 0)).mean() > 0.8  # the network is rebuilt from the registered space
    finally:
        NAS_SPACES.unregister("shallow")
    assert m.genotype_["space"] == "shallow" and set(m.history_["source"]) == {"full_random"}
