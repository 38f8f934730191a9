"""LightGBM's scikit-learn estimators with one extra parameter, ``deadline``: boosting stops at that epoch time
and keeps the trees built so far. Imports lightgbm at module level; only ``models/lightgbm.py`` imports this."""
from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb

from forgeml._threads import predict_threads


class _DeadlineCallback:
    """Stop boosting once ``time.time()`` passes ``deadline``; the booster keeps every finished round."""

    order = 40  # after LightGBM's own callbacks

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, env: Any) -> None:
        if time.time() >= self.deadline:
            raise lgb.callback.EarlyStopException(env.iteration, [])


class _DeadlineMixin:
    def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
        init = self.__dict__.pop("_init_model", None)  # set by LightGBMFamily.continue_from, used once
        if init is not None:
            kwargs["init_model"] = init
        if self.deadline is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _DeadlineCallback(float(self.deadline))]
        return super().fit(X, y, **kwargs)


class _PredictThreadsMixin:
    """Predict on ``predict_threads(rows)`` threads: fitted on one (a trial's share), predicting where the cores
    are free. An explicit ``num_threads`` wins."""

    def predict(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("num_threads", predict_threads(X.shape[0]))
        return super().predict(X, *args, **kwargs)


class _ProbaThreadsMixin(_PredictThreadsMixin):
    def predict_proba(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("num_threads", predict_threads(X.shape[0]))
        return super().predict_proba(X, *args, **kwargs)


# one mixin base per class: LightGBM's ``get_params`` looks at the second base when the first is a mixin
class _ClassifierMixin(_ProbaThreadsMixin, _DeadlineMixin):
    pass


class _RegressorMixin(_PredictThreadsMixin, _DeadlineMixin):
    pass


class LGBMClassifier(_ClassifierMixin, lgb.LGBMClassifier):
    """``lightgbm.LGBMClassifier`` that stops at ``deadline`` (epoch seconds, None for no limit)."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)


class LGBMRegressor(_RegressorMixin, lgb.LGBMRegressor):
    """``lightgbm.LGBMRegressor`` that stops at ``deadline`` (epoch seconds, None for no limit)."""

    def __init__(self, *, deadline: float | None = None, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)
