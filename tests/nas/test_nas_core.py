"""NAS core: every strategy end to end on a tiny budget, the searchers' learning rules, genotypes that rebuild
the same network, failed candidates, and clear errors for bad input."""
import json
import pickle
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from nas_helpers import table

from forgeml.errors import ConfigError, DataError
from forgeml.nas import NAS_SPACES, NAS_STRATEGIES, NASearch
from forgeml.nas.base import NASSpace, NASStrategy, Problem
from forgeml.nas.context import NASContext
from forgeml.nas.spaces.macro import MacroSpace
from forgeml.nas.strategies.rl import ReinforceSearcher
from forgeml.search.evolution import EvolutionSearcher
from forgeml.space import Categorical, SearchSpace
from forgeml.trial import TrialResult, TrialStatus


def _table(n=240, seed=0):
    return table(n, seed, n_features=6, colour=True, rule=lambda X: X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5, target="y")


def _images(n=200, seed=0):
    """4x4 single-channel images: class 1 has a bright left half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    img = rng.normal(0, 1, size=(n, 4, 4))
    img[y == 1, :, :2] += 2.0
    return pd.DataFrame(img.reshape(n, 16), columns=[f"p{i}" for i in range(16)]), y


@pytest.mark.parametrize("strategy", [s for s in NAS_STRATEGIES if not NAS_STRATEGIES[s].needs_supernet])
def test_each_blackbox_strategy_runs_end_to_end(strategy):
    df = _table()
    start = time.time()
    m = NASearch(strategy=strategy, time_budget=3, epochs=(2, 6), seed=0).fit(df, target="y")
    assert time.time() - start < 3 * 1.05 + 5
    assert m.genotype_["space"] == "macro" and json.loads(json.dumps(m.genotype_)) == m.genotype_
    assert len(m.history_) >= 2 and (m.history_["status"] == "ok").any()
    assert set(m.history_["epochs"]) - {0} and m.history_["epochs"].max() <= 6
    proba = m.predict_proba(df.drop(columns="y"))
    assert proba.shape == (len(df), 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(m.predict(df.drop(columns="y"))) <= {"yes", "no"}
    assert (m.predict(df.drop(columns="y")) == df["y"]).mean() > 0.75  # a learnable rule, learned


def test_promotions_train_longer_than_first_rungs():
    df = _table()
    m = NASearch(strategy="random", time_budget=5, epochs=(2, 10), seed=1).fit(df, target="y")
    h = m.history_
    assert (h["source"] == "random").sum() >= 3
    promoted = h[h["source"].str.endswith(":promoted")]
    assert len(promoted) >= 1
    first = h.loc[h["source"] == "random", "epochs"]
    assert first.max() <= 2 and promoted["epochs"].max() > 2


def test_regression_and_arrays():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = 3 * X[:, 0] - X[:, 1] + rng.normal(0, 0.1, 200)
    m = NASearch(strategy="random", time_budget=5, epochs=(3, 10), seed=0).fit(X, y)
    pred = m.predict(X)
    assert pred.shape == (200,) and 1 - np.mean((pred - y) ** 2) / np.var(y) > 0.8
    with pytest.raises(ConfigError, match="classification"):
        m.predict_proba(X)


def test_evolution_population_ages_out():
    """The best member is the oldest: after population_size more results it has left the population."""
    space = SearchSpace({"a": Categorical(tuple(range(10)))})
    s = EvolutionSearcher(population_size=4, sample_size=2)
    s.setup(space, seed=0)
    for t in range(7):
        s.ask(t)
        s.tell(t, TrialResult(trial_id=t, status=TrialStatus.COMPLETE, score=0.0, loss=-1.0 if t == 0 else 0.0))
    assert [c for c, _ in s._population] == [s.history[t][0].config for t in range(3, 7)]
    assert all(loss == 0.0 for _, loss in s._population)


def test_rl_policy_moves_towards_rewarded_choices():
    space = SearchSpace({"op": Categorical(("conv", "pool", "identity", "zero")),
                         "depth": Categorical((1, 2, 3))})
    s = ReinforceSearcher(lr=0.5)
    s.setup(space, seed=0)
    before = s.probabilities("op")[0]
    for t in range(150):
        p = s.ask(t)
        reward = (p.config["op"] == "conv") * 1.0 + 0.1 * p.config["depth"]
        s.tell(t, TrialResult(trial_id=t, status=TrialStatus.COMPLETE, score=reward, loss=-reward))
    after = s.probabilities("op")
    assert before == pytest.approx(0.25) and after[0] > 0.7 and after[0] == after.max()
    assert np.argmax(s.probabilities("depth")) == 2


def test_rl_failure_earns_the_worst_reward():
    space = SearchSpace({"op": Categorical(("good", "broken"))})
    s = ReinforceSearcher(lr=0.5)
    s.setup(space, seed=0)
    for t in range(80):
        p = s.ask(t)
        if p.config["op"] == "broken":
            s.tell(t, TrialResult(trial_id=t, status=TrialStatus.FAILED))
        else:
            s.tell(t, TrialResult(trial_id=t, status=TrialStatus.COMPLETE, score=0.5 + 0.01 * (t % 3),
                                  loss=-0.5))
    assert s.probabilities("op")[1] < 0.25


def test_saved_genotype_rebuilds_the_same_network(tmp_path):
    df = _table()
    m = NASearch(strategy="evolution", time_budget=5, epochs=(2, 5), seed=0).fit(df, target="y")
    X = df.drop(columns="y")
    expected = m.predict_proba(X)
    genotype = json.loads(json.dumps(m.genotype_))
    space = NAS_SPACES[genotype.pop("space")]()
    net = space.build(genotype, m.problem_)
    assert [p.shape for p in net.state_dict().values()] == [v.shape for v in m.state_dict_.values()]
    path = tmp_path / "nas.pkl"
    path.write_bytes(pickle.dumps(m))
    X.to_parquet(tmp_path / "X.parquet")
    code = ("import pickle, sys, numpy as np, pandas as pd; m = pickle.load(open(sys.argv[1], 'rb')); "
            "np.save(sys.argv[3], m.predict_proba(pd.read_parquet(sys.argv[2])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.parquet"), str(tmp_path / "p.npy")],
                   check=True, timeout=120)
    assert np.allclose(np.load(tmp_path / "p.npy"), expected, atol=1e-6)


class _Diverging(MacroSpace):
    """A macro space whose huge learning rates make the loss NaN."""

    name = "diverging_test"

    def space(self, problem):
        base = dict(MacroSpace().space(problem))
        base["lr"] = Categorical((1e-3, 1e12), default=1e12)
        return SearchSpace(base)

    def build(self, genotype, problem):
        net = super().build(genotype, problem)
        if genotype["lr"] > 1:
            import torch

            with torch.no_grad():
                for p in net.parameters():
                    p.fill_(float("nan"))
        return net


def test_diverging_candidates_are_recorded_as_failed_and_the_search_goes_on():
    NAS_SPACES.register("diverging_test", _Diverging)
    try:
        m = NASearch(strategy="random", space="diverging_test", time_budget=4, epochs=(2, 4), seed=0)
        m.fit(_table(), target="y")
    finally:
        NAS_SPACES.unregister("diverging_test")
    h = m.history_
    failed = h[h["status"] == "failed"]
    assert len(failed) >= 1 and failed["error"].str.contains("diverged|not finite", regex=True).all()
    assert (h["status"] == "ok").any() and m.genotype_["lr"] == 1e-3


def test_context_records_exceptions_as_failed():
    class Broken(NASSpace):
        name = "broken"

        def space(self, problem):
            return SearchSpace({"w": Categorical((1, 2))})

        def build(self, genotype, problem):
            raise RuntimeError("CUDA out of memory (simulated)")

    problem = Problem(n_features=3, n_outputs=2, task="binary")
    X = np.zeros((20, 3), dtype=np.float32)
    y = np.array([0, 1] * 10)
    ctx = NASContext(Broken(), problem, X, y, X, y, deadline=time.time() + 10)
    cand = ctx.evaluate({"w": 1}, 2)
    assert cand.status == "failed" and "out of memory" in cand.error and ctx.best() is None


def test_image_data_is_checked_and_fits():
    X, y = _images()
    m = NASearch(strategy="random", space="macro", time_budget=5, image_shape="4x4", epochs=(2, 5)).fit(X, y)
    assert m.problem_.image_shape == (4, 4) and m.problem_.channels == 1
    assert (m.predict(X) == y).mean() > 0.8
    with pytest.raises(DataError, match="multiple of 9"):
        NASearch(time_budget=5, image_shape=(3, 3)).fit(X, y)
    bad = X.assign(p0=["a"] * len(X))
    with pytest.raises(DataError, match="pixels must be numbers.*p0"):
        NASearch(time_budget=5, image_shape=(4, 4)).fit(bad, y)
    with pytest.raises(ConfigError, match="HxW"):
        NASearch(time_budget=5, image_shape="four by four").fit(X, y)


@pytest.mark.parametrize("kwargs, match", [
    ({"strategy": "bayse"}, "unknown NAS strategy 'bayse'; available: .*evolution"),
    ({"space": "macr"}, "unknown NAS space 'macr'.*Did you mean 'macro'"),
    ({"time_budget": 0}, "time_budget must be a positive"),
    ({"epochs": (5, 2)}, "epochs must be"),
    ({"augment": "flip"}, "augment must be 'auto', 'shift' or 'none'"),
])
def test_bad_options_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        NASearch(**kwargs).fit(_table(), target="y")


def test_wrong_columns_at_predict_time():
    df = _table()
    m = NASearch(strategy="random", time_budget=3, epochs=(1, 2)).fit(df, target="y")
    with pytest.raises(DataError, match="missing columns.*x3"):
        m.predict(df.drop(columns=["y", "x3"]))
    with pytest.raises(DataError, match="missing columns.*x3"):
        m.predict_proba(df.drop(columns=["y", "x3"]))
    # the refusal left the model as it was: the full frame still predicts, with the classes it was fitted on
    assert set(m.predict(df.drop(columns=["y"]))) <= set(df["y"])


def test_a_strategy_object_is_used_as_given():
    from forgeml.bench.nas import FixedArchitecture

    strategy = FixedArchitecture()
    m = NASearch(strategy=strategy, time_budget=4, seed=0).fit(_table(), target="y")
    assert len(m.history_) == 1 and m.history_["source"].iloc[0] == "baseline"
    expected = {"space": "macro", **MacroSpace().space(m.problem_).default()}
    assert m.genotype_ == json.loads(json.dumps(expected))


def test_shift_augmentation_moves_each_image_by_at_most_one_pixel_and_fills_with_the_background():
    import torch

    from forgeml.nn.trainer import shift_images

    rng = np.random.default_rng(0)
    imgs = np.zeros((64, 2, 5, 6), dtype=np.float32)  # two channels, a 3x4 block of ink inside a background border
    imgs[:, :, 1:4, 1:5] = rng.normal(size=(64, 2, 3, 4)) + 5.0
    x = torch.from_numpy(imgs.reshape(64, -1))
    aug = shift_images((5, 6), fill=-1.0)
    out = aug(x, torch.Generator().manual_seed(0)).reshape(64, 2, 5, 6).numpy()
    assert out.shape == imgs.shape
    moves = set()
    for i in range(64):
        match = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if np.array_equal(out[i][:, 1 + dy:4 + dy, 1 + dx:5 + dx], imgs[i][:, 1:4, 1:5])]
        assert len(match) == 1, "every image is its own ink, moved by at most one pixel in each direction"
        dy, dx = match[0]
        moves.add((dy, dx))
        rest = np.ones((5, 6), dtype=bool)
        rest[1 + dy:4 + dy, 1 + dx:5 + dx] = False
        assert set(np.unique(out[i][:, rest])) <= {0.0, -1.0}  # background, or the border filled in
        assert out[i][0, 0 if dy == -1 else 4, :].min() >= -1.0
    assert len(moves) >= 6  # the moves differ from image to image
    again = aug(x, torch.Generator().manual_seed(0)).reshape(64, 2, 5, 6).numpy()
    assert np.array_equal(out, again)  # the trainer's seeded generator makes it reproducible


def test_spatial_networks_train_on_shifted_images_flat_ones_and_tables_never():
    X, y = _images(n=120)
    seen = {}

    class Look(NASStrategy):
        def search(self, ctx):
            seen["augment"] = ctx.augment
            ctx.evaluate(ctx.space.default(), 1, keep=True)

    NASearch(strategy=Look(), space="cell", time_budget=5, image_shape=(4, 4)).fit(X, y)
    assert seen["augment"] is not None and seen["augment"].shape == (4, 4)
    v = X.to_numpy(dtype=np.float64)  # pixels are scaled by one mean and spread: the background is the smallest
    assert seen["augment"].fill == pytest.approx((v.min() - v.mean()) / v.std(), rel=1e-5)
    NASearch(strategy=Look(), space="cell", time_budget=5, image_shape=(4, 4), augment="none").fit(X, y)
    assert seen["augment"] is None
    NASearch(strategy=Look(), space="macro", time_budget=5, image_shape=(4, 4)).fit(X, y)
    assert seen["augment"] is None  # a flat MLP: shifted pixels are other inputs to it
    NASearch(strategy=Look(), space="macro", time_budget=5, image_shape=(4, 4), augment="shift").fit(X, y)
    assert seen["augment"] is not None
    NASearch(strategy=Look(), space="macro", time_budget=5, augment="shift").fit(_table(), target="y")
    assert seen["augment"] is None
