"""Small helpers shared by the family files."""
from __future__ import annotations

import time
from typing import Any

from forgeml.errors import NotFittedError
from forgeml.models.base import FitContext


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
