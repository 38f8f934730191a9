"""scikit-learn's own estimator checks (``parametrize_with_checks``) over AutoClassifier and AutoRegressor.

The instances use ``max_trials`` so the search is reproducible (the refit-comparison checks must pass) and a
time budget only as a safety cap; ``families=["linear"]`` and forkserver workers keep each of the ~150 fits
short.
"""
from __future__ import annotations

import multiprocessing

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks
from tests.plugins.executors import ForkserverExecutor

from forgeml import AutoClassifier, AutoRegressor
from forgeml.testing import EXPECTED_FAILED_CHECKS, TIME_BOUND_ONLY, expected_failed_checks

# Workers forked from a forkserver that has already imported forgeml and scikit-learn start in milliseconds
# instead of ~3 s, which is most of each of the ~150 fits; they are still real, separate worker processes.
multiprocessing.set_forkserver_preload(["forgeml.evaluate.evaluator", "forgeml.execute._worker",
                                        "sklearn.linear_model"])
# ensemble=None: these checks are about the estimator's contract (shapes, errors, pickling, parameters), not the
# choice of ensemble, and comparing the ensemble methods would add half a second to each of ~150 fits
FAST = {"time_budget": 60, "max_trials": 2, "n_jobs": 1, "verbose": 0, "families": ["linear"], "seed": 0,
        "backend": ForkserverExecutor, "ensemble": None}


@pytest.mark.slow  # ~150 fits of about a second each
@parametrize_with_checks([AutoClassifier(**FAST), AutoRegressor(**FAST)], expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _check_names(estimator) -> set[str]:
    names = set()
    for _, check in estimator_checks_generator(estimator):
        func = getattr(check, "func", check)
        names.add(getattr(func, "__name__", str(func)))
    return names


def test_expected_failures_are_few_real_checks_with_reasons():
    assert len(EXPECTED_FAILED_CHECKS) <= 6
    known = _check_names(AutoClassifier(time_budget=2)) | _check_names(AutoRegressor(time_budget=2))
    for name, reason in EXPECTED_FAILED_CHECKS.items():
        assert name in known, f"{name} is not a check scikit-learn runs on forgeml's estimators"
        assert len(reason) > 40, f"{name} needs a reason"
    assert TIME_BOUND_ONLY <= set(EXPECTED_FAILED_CHECKS)


@pytest.mark.parametrize("cls", [AutoClassifier, AutoRegressor])
def test_refit_checks_are_excused_only_for_a_time_bound_search(cls):
    assert set(expected_failed_checks(cls(time_budget=2))) == set(EXPECTED_FAILED_CHECKS)
    assert not set(expected_failed_checks(cls(time_budget=2, max_trials=3))) & TIME_BOUND_ONLY
    # a time-bound search says so in its tags; a max_trials one promises reproducibility
    assert cls(time_budget=2).__sklearn_tags__().non_deterministic
    assert not cls(time_budget=2, max_trials=3).__sklearn_tags__().non_deterministic
