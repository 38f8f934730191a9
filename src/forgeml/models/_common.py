"""Small helpers shared by the family files."""
from __future__ import annotations

import time
from typing import Any

from forgeml.errors import NotFittedError
from forgeml.models.base import FitContext

SPLIT_CELLS = 128_000  # columns x bins a histogram booster's split search may scan per leaf (255 bins x 500 columns)
MIN_BINS = 63


def histogram_bins(ctx: FitContext, default: int) -> int:
    """Bins per column for a histogram booster (LightGBM, XGBoost, CatBoost): the library's own ``default``, fewer
    on wide tables so that columns x bins stays near ``SPLIT_CELLS``, never below ``MIN_BINS``.

    The split search scans every bin of every sampled column at every leaf; on 2,000 columns that is most of a
    tree's cost. On 750 x 2,000 rows, 63 bins made LightGBM 2.9x, XGBoost 3.0x and CatBoost 3.1x faster for the
    same score (a 60 s run's first CatBoost trial had taken 29 s); on 15 tables under 3,000 rows, 63 bins for all
    columns moved LightGBM's cross-validated score both ways within noise. Counted in the schema's columns, the
    same for every fold and the refit, so a configuration means one model."""
    return int(min(default, max(MIN_BINS, SPLIT_CELLS // max(1, int(ctx.n_features)))))


def threads(ctx: FitContext) -> int:
    """The thread count a family may use: ``ctx.n_threads``, at least one (never -1: the machine is shared)."""
    return max(1, int(ctx.n_threads))


def torch_cpu_threads(ctx: FitContext) -> int:
    """Threads for a torch family: one (``forgeml.nn.trainer.TORCH_CPU_THREADS`` says why), never more than
    ``threads(ctx)``."""
    from forgeml.nn.trainer import TORCH_CPU_THREADS

    return min(threads(ctx), TORCH_CPU_THREADS)


def standardized_target(regressor: Any) -> Any:
    """Fit ``regressor`` on a standardized target so penalties and margins (alpha, epsilon) mean the same at any
    target scale; predictions come back in the original units."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler(), check_inverse=False)


def past(deadline: float | None) -> bool:
    """Whether an epoch-seconds ``deadline`` has passed (never, when there is none)."""
    return deadline is not None and time.time() >= deadline


def require_fitted(estimator: Any, attribute: str = "model_") -> None:
    """Raise forgeml's ``NotFittedError`` when a wrapper estimator is used before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit first")
