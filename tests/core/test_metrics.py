import numpy as np
import pytest

from forgeml.errors import ConfigError
from forgeml.metrics import METRICS, get_metric


def test_defaults_follow_the_automl_benchmark():
    assert get_metric("auto", "binary").name == "roc_auc"
    assert get_metric("auto", "multiclass").name == "log_loss"
    assert get_metric("auto", "regression").name == "rmse"


def test_unknown_or_misapplied_metric_is_a_clear_error():
    with pytest.raises(ConfigError, match="available"):
        get_metric("acuracy", "binary")
    with pytest.raises(ConfigError, match="regression"):
        get_metric("roc_auc", "regression")


def test_directions_and_perfect_scores():
    y = np.array([0, 1, 1, 0, 2])
    p = np.eye(3)[y]
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc"):
        assert METRICS[name].score(y, p) == pytest.approx(1.0)
        assert METRICS[name].greater_is_better
    assert METRICS["log_loss"].score(y, p) < 1e-6
    assert METRICS["log_loss"].loss(0.3) == 0.3 and METRICS["roc_auc"].loss(0.9) == -0.9
    r = np.array([1.0, 2.0, 3.0])
    assert METRICS["rmse"].score(r, r + 1) == pytest.approx(1.0)
    assert METRICS["mae"].score(r, r - 2) == pytest.approx(2.0)
    assert METRICS["r2"].score(r, r) == pytest.approx(1.0)


def test_roc_auc_handles_a_fold_missing_a_class():
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    assert METRICS["roc_auc"].score(y, p) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_numpy_metrics_agree_with_sklearn(k):
    from sklearn import metrics as skm

    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 400)
    p = rng.dirichlet(np.ones(k), 400)
    p[np.arange(400), y] += rng.random(400)  # informative but imperfect
    p = np.round(p / p.sum(1, keepdims=True), 2)  # ties in the scores
    p = p / p.sum(1, keepdims=True)
    auc = skm.roc_auc_score(y, p[:, 1]) if k == 2 else skm.roc_auc_score(y, p, multi_class="ovr")
    assert METRICS["roc_auc"].score(y, p) == pytest.approx(auc, abs=1e-10)
    assert METRICS["log_loss"].score(y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-10)
    assert METRICS["accuracy"].score(y, p) == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    r, q = rng.normal(size=100), rng.normal(size=100)
    assert METRICS["rmse"].score(r, q) == pytest.approx(np.sqrt(skm.mean_squared_error(r, q)))
    assert METRICS["mae"].score(r, q) == pytest.approx(skm.mean_absolute_error(r, q))


def _noisy_proba(rng, y, k, n):
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), y] += rng.random(n)
    p = np.round(p / p.sum(1, keepdims=True), 2)  # ties in the scores
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_weighted_metrics_agree_with_sklearn(k):
    from sklearn import metrics as skm

    rng = np.random.default_rng(10 + k)
    n = 400
    y = rng.integers(0, k, n)
    p = _noisy_proba(rng, y, k, n)
    w = rng.exponential(size=n) * (rng.random(n) > 0.1)  # uneven weights, some exactly zero
    labels = p.argmax(1)
    auc = (skm.roc_auc_score(y, p[:, 1], sample_weight=w) if k == 2
           else skm.roc_auc_score(y, p, multi_class="ovr", sample_weight=w))
    expected = {
        "roc_auc": auc,
        "log_loss": skm.log_loss(y, p, sample_weight=w),
        "accuracy": skm.accuracy_score(y, labels, sample_weight=w),
        "balanced_accuracy": skm.balanced_accuracy_score(y, labels, sample_weight=w),
        "f1": skm.f1_score(y, labels, average="binary" if k == 2 else "macro", sample_weight=w),
    }
    for name, value in expected.items():
        weighted, plain = METRICS[name].score(y, p, sample_weight=w), METRICS[name].score(y, p)
        assert weighted == pytest.approx(value, abs=1e-10), name
        assert weighted != pytest.approx(plain, abs=1e-6), f"{name}: the weights made no difference"
    r, q = rng.normal(size=100), rng.normal(size=100)
    v = rng.exponential(size=100)
    reg = {"rmse": np.sqrt(skm.mean_squared_error(r, q, sample_weight=v)),
           "mae": skm.mean_absolute_error(r, q, sample_weight=v), "r2": skm.r2_score(r, q, sample_weight=v)}
    for name, value in reg.items():
        assert METRICS[name].score(r, q, sample_weight=v) == pytest.approx(value, abs=1e-10), name
        assert METRICS[name].score(r, q, sample_weight=v) != pytest.approx(METRICS[name].score(r, q), abs=1e-6)


def test_weighted_roc_auc_counts_tied_scores_by_weight():
    # one positive (weight 3) tied with one negative (weight 1), above another negative (weight 1): 3*(1 + 0.5) / 6
    y = np.array([1, 0, 0])
    s = np.array([0.7, 0.7, 0.2])
    assert METRICS["roc_auc"].score(y, s, sample_weight=np.array([3.0, 1.0, 1.0])) == pytest.approx(0.75)


def test_unit_weights_equal_no_weights_and_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    p = _noisy_proba(rng, y, 3, 60)
    reps = rng.integers(1, 4, 60)
    for name in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"):
        m = METRICS[name]
        assert m.score(y, p, sample_weight=np.ones(60)) == pytest.approx(m.score(y, p), abs=1e-12), name
        repeated = m.score(np.repeat(y, reps), np.repeat(p, reps, axis=0))
        assert m.score(y, p, sample_weight=reps.astype(float)) == pytest.approx(repeated, abs=1e-12), name


def test_rows_weighing_nothing_give_nan_not_an_error():
    y, p = np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]])
    assert np.isnan(METRICS["accuracy"].score(y, p, sample_weight=np.zeros(2)))


def test_a_metric_function_without_sample_weight_serves_unweighted_runs_only():
    from forgeml.metrics import Metric

    m = Metric("plain", lambda y, p: float(np.mean(y == p.argmax(1))), True, ("binary",))
    y, p = np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])
    assert m.score(y, p) == 0.5
    with pytest.raises(ConfigError, match="takes no sample_weight"):
        m.score(y, p, sample_weight=np.ones(2))
    kw = Metric("kw", lambda y, p, **kw: float(np.average(y == p.argmax(1), weights=kw.get("sample_weight"))),
                True, ("binary",))
    assert kw.score(y, p, sample_weight=np.array([1.0, 3.0])) == 0.25
