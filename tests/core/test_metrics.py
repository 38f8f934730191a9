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
