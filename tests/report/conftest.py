"""One tiny classifier and one tiny regressor, fitted once for the report tests and saved as run directories."""
import warnings

import pytest
from sklearn.datasets import load_diabetes, load_iris

from forgeml import AutoML


def _fit(path, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoML(time_budget=None, max_trials=4, seed=0, verbose=0, path=str(path), **kw).fit(X, y)


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
    """Multiclass (iris), with the default ensemble comparison: the report shows the chosen method's
    cross-fitted predictions."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    path = tmp_path_factory.mktemp("report") / "iris"
    return _fit(path, X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"}).rename("species")), path


@pytest.fixture(scope="session")
def regressor_run(tmp_path_factory):
    """Regression (diabetes) with ensemble=None: the report falls back to the single pipeline's out-of-fold
    predictions."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    path = tmp_path_factory.mktemp("report") / "diabetes"
    return _fit(path, X, y.rename("progression"), ensemble=None), path
