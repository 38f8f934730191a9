import numpy as np
import pytest

from forgeml.errors import ConfigError
from forgeml.space import Categorical, Condition, Config, Constant, Float, Int, SearchSpace


def _space():
    fam = SearchSpace({"family": Categorical(("a", "b"))})
    a = SearchSpace({"lr": Float(1e-3, 1.0, log=True), "depth": Int(1, 10), "kind": Categorical(("x", "y")),
                     "only_y": Float(0, 1)}, {"only_y": Condition("kind", ("y",))})
    b = SearchSpace({"k": Int(1, 50, log=True), "c": Constant(3)})
    return fam.merge(a.prefixed("a", Condition("family", ("a",))), b.prefixed("b", Condition("family", ("b",))))


def test_sampling_respects_conditions_and_domains():
    space = _space()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        cfg = space.sample(rng)
        space.validate(cfg)
        seen.add((cfg["family"], cfg.get("a.kind")))
        if cfg["family"] == "b":
            assert not any(k.startswith("a.") for k in cfg)
        if cfg.get("a.kind") == "x":
            assert "a.only_y" not in cfg
    assert seen == {("a", "x"), ("a", "y"), ("b", None)}


def test_validate_rejects_bad_configs():
    space = _space()
    good = dict(space.default())
    with pytest.raises(ConfigError, match="missing"):
        space.validate({k: v for k, v in good.items() if k != "a.lr"})
    with pytest.raises(ConfigError, match="outside"):
        space.validate({**good, "a.depth": 99})
    with pytest.raises(ConfigError, match="inactive"):
        space.validate({**good, "b.k": 3})
    with pytest.raises(ConfigError, match="unknown"):
        space.validate({**good, "zzz": 1})


def test_config_identity_and_json_round_trip():
    space = _space()
    cfg = space.sample(np.random.default_rng(1))
    assert Config(dict(cfg)) == cfg and Config(dict(cfg)).id == cfg.id
    back = SearchSpace.from_json(space.to_json())
    assert list(back) == list(space) and back.conditions == space.conditions
    assert back.sample(np.random.default_rng(1)) == cfg


def test_unit_maps_are_inverse_and_bounded():
    f, i = Float(1e-4, 10, log=True), Int(2, 200, log=True)
    for u in np.linspace(0, 1, 11):
        assert 1e-4 <= f.from_unit(u) <= 10
        assert abs(f.to_unit(f.from_unit(u)) - u) < 1e-9
        assert 2 <= i.from_unit(u) <= 200
    assert i.grid(5)[0] == 2 and i.grid(5)[-1] == 200
    with pytest.raises(ConfigError):
        Float(2, 1)
    with pytest.raises(ConfigError):
        Float(0, 1, log=True)


def test_complete_fills_defaults_and_drops_inactive():
    space = _space()
    cfg = space.complete({"family": "b", "a.lr": 0.1})
    assert cfg == {"family": "b", "b.k": space["b.k"].get_default(), "b.c": 3}
