"""The conformance battery over every registered family and task, plus the registry helpers."""
from __future__ import annotations

import pytest

from forgeml.errors import ConfigError
from forgeml.models import FAMILIES, get_families
from forgeml.models.base import FitContext, ModelFamily
from forgeml.testing import check_model_family
from plugins.families import DecisionTreeFamily

TASKS = ("binary", "multiclass", "regression")
CASES = [(name, task) for name in FAMILIES for task in TASKS if task in FAMILIES[name].capabilities.tasks]
PLUGINS = {"decision_tree": DecisionTreeFamily}  # tests/plugins: registered for the battery like a user would
PLUGIN_CASES = [(name, task) for name, cls in PLUGINS.items() for task in cls.capabilities.tasks]


def test_every_family_and_task_is_checked():
    # 9 families, each on all three tasks: an exemption must change this number on purpose
    assert len(FAMILIES) == 9
    assert len(CASES) == 27


@pytest.mark.parametrize(("name", "task"), CASES + PLUGIN_CASES)
def test_family_conformance(name: str, task: str):
    if name in PLUGINS:
        FAMILIES.register(name, PLUGINS[name])
    try:
        family = FAMILIES[name]()
    finally:
        if name in PLUGINS:
            FAMILIES.unregister(name)
    assert family.name == name
    n_fitted = check_model_family(family, task)
    assert n_fitted >= 4  # at least one default plus the random samples


def test_registry_order_puts_cheap_strong_families_first():
    assert FAMILIES.names()[:3] == ["lightgbm", "linear", "random_forest"]


def test_get_families_all_by_default_in_registry_order():
    ctx = FitContext(task="binary", n_rows=500, n_features=4, n_classes=2)
    fams = get_families(None, ctx)
    assert list(fams) == FAMILIES.names()
    assert all(isinstance(f, ModelFamily) and f.name == n for n, f in fams.items())


def test_get_families_unknown_name_lists_valid_ones():
    ctx = FitContext(task="binary", n_rows=500, n_features=4, n_classes=2)
    with pytest.raises(ConfigError, match="lightgbm") as info:
        get_families(["lightgbm", "lightgmb"], ctx)
    assert "Did you mean 'lightgbm'" in str(info.value)


def test_svm_skipped_above_max_rows_unless_applies_check_is_off():
    big = FitContext(task="binary", n_rows=50_000, n_features=4, n_classes=2)
    small = FitContext(task="binary", n_rows=5_000, n_features=4, n_classes=2)
    assert "svm" not in get_families(None, big)
    assert "svm" not in get_families(["svm", "linear"], big)
    assert list(get_families(["svm", "linear"], small)) == ["svm", "linear"]
    assert "svm" in get_families(["svm"], big, check_applies=False)


def test_knn_skipped_on_very_large_data():
    huge = FitContext(task="regression", n_rows=1_000_000, n_features=4)
    assert "knn" not in get_families(None, huge)
    assert "lightgbm" in get_families(None, huge)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_first_default_is_cheap_on_large_data(name: str):
    """The first default of each family must stay bounded on 100k rows (no thousand-tree forests there);
    a family that does not run at that size (SVM) must say so through ``applies_to`` instead."""
    family = FAMILIES[name]()
    ctx = FitContext(task="binary", n_rows=100_000, n_features=20, n_classes=2)
    if not family.applies_to(ctx):
        assert family.capabilities.max_rows is not None and family.capabilities.max_rows < ctx.n_rows
        assert name not in get_families(None, ctx)
        return
    first = family.defaults(ctx)[0]
    family.space(ctx).validate(first)
    it = family.capabilities.iterative_param
    if it is not None:
        assert first[it] <= 100, f"{name}: first default has {first[it]} {it}"
    if "max_samples" in first:
        assert first["max_samples"] * ctx.n_rows <= 20_000 + 1
