"""Meta-learners for stacking and blending: small models fitted on the members' predictions.

``fit_meta(kind, preds, y, k, w, seed, extra)`` returns a fitted ``MetaModel``: ``predict(preds, extra)`` gives the
internal form (``(n, k)`` probability rows summing to 1 for classification, ``k == 0`` for regression), ``shares()``
one non-negative number per member (how much the model uses it), ``state()`` the fitted parameters for ``==``.

- ``"linear"``: non-negative. Classification: the convex mixture of the members' probabilities minimising log loss
  (the Super Learner's optimiser); regression: non-negative least squares on the members' predictions.
- ``"logistic"``: L2-regularised multinomial logistic regression on the members' log-probabilities, one
  coefficient per member (classification); ridge on their predictions (regression).
- ``"lightgbm"``: a small, seeded, single-threaded LightGBM on the members' probabilities or predictions, plus the
  ``extra`` columns (numeric raw features) when given.

A fit on rows that hold a single class gives the weighted class frequencies; classes absent from the rows get a
small probability, so every prediction covers all ``k`` classes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

META_KINDS = ("linear", "logistic", "lightgbm")
_EPS = 1e-6  # probability floor for log features and for classes missing from a fit
_LGB_ROUNDS = 50


class MetaModel:
    kind = ""

    def __init__(self, k: int, m: int) -> None:
        self.k, self.m = k, m

    def predict(self, preds: list[np.ndarray], extra: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def shares(self) -> np.ndarray:
        return np.zeros(self.m)

    def state(self) -> tuple:
        raise NotImplementedError


def _rows(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=float)


def _full(proba: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over the model's ``classes`` spread to all ``k``; absent classes get a small share."""
    if len(classes) == k:
        return proba
    out = np.zeros((len(proba), k))
    out[:, classes.astype(int)] = proba
    return (out + _EPS) / (1 + k * _EPS)


class Constant(MetaModel):
    """The weighted class frequencies or mean: what a fit on rows without two classes (or no weight) gives."""

    kind = "constant"

    def __init__(self, k: int, m: int, y: np.ndarray, w: np.ndarray | None) -> None:
        super().__init__(k, m)
        rw = _rows(w, len(y))
        rw = rw if rw.sum() > 0 else np.ones(len(y))
        if k:
            freq = np.bincount(np.asarray(y, dtype=int), weights=rw, minlength=k)[:k] / rw.sum()
            self.value = (freq + _EPS) / (1 + k * _EPS)
        else:
            self.value = np.array([np.average(np.asarray(y, dtype=float), weights=rw)])

    def predict(self, preds, extra=None):
        n = len(preds[0])
        return np.tile(self.value, (n, 1)) if self.k else np.full(n, self.value[0])

    def state(self):
        return (self.value,)


class Linear(MetaModel):
    kind = "linear"

    def __init__(self, k: int, m: int, preds: list[np.ndarray], y: np.ndarray, w: np.ndarray | None) -> None:
        super().__init__(k, m)
        if k:
            from forgeml.ensemble.super_learner import SuperLearnerEnsembler

            coef = SuperLearnerEnsembler()._convex_weights(preds, y, w)
        else:
            from scipy.optimize import nnls

            sw = np.sqrt(_rows(w, len(y)))
            coef = nnls(np.column_stack(preds) * sw[:, None], np.asarray(y, dtype=float) * sw)[0]
        if coef is None or not coef.sum() > 0:
            coef = np.full(m, 1.0 / m)
        self.coef = np.asarray(coef, dtype=float)

    def predict(self, preds, extra=None):
        out = sum(c * p for c, p in zip(self.coef, preds))
        return out / np.clip(out.sum(1, keepdims=True), 1e-15, None) if self.k else out

    def shares(self):
        return self.coef.copy()

    def state(self):
        return (self.coef,)


def _prob_features(preds: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Probability of class 1 (binary), of every class (multiclass), or the value (regression), per member."""
    if not k:
        return np.column_stack(preds), np.arange(len(preds))
    blocks = [p[:, 1:] if k == 2 else p for p in preds]
    owner = np.concatenate([[j] * b.shape[1] for j, b in enumerate(blocks)])
    return np.hstack(blocks), owner


class Logistic(MetaModel):
    """Classification: a multinomial logistic regression whose class-``c`` logit is ``sum_j beta_j log p_j[:, c] +
    b_c`` (one coefficient per member, shared by the classes: a weighted geometric pooling of the members), with a
    small L2 penalty on ``beta``. Regression: ridge on the members' predictions."""

    kind = "logistic"

    def __init__(self, k: int, m: int, preds: list[np.ndarray], y: np.ndarray, w: np.ndarray | None,
                 l2: float = 1e-3) -> None:
        super().__init__(k, m)
        if not k:
            from sklearn.linear_model import Ridge

            x = np.column_stack(preds)
            model = Ridge(alpha=1.0).fit(x, y, sample_weight=w)
            self.coef, self.intercept = np.asarray(model.coef_, dtype=float), np.atleast_1d(model.intercept_)
            self.scale = x.std(axis=0)
            return
        from scipy.optimize import minimize

        logp = np.stack([np.log(np.clip(p, _EPS, 1.0)) for p in preds])  # (m, n, k)
        rw = _rows(w, len(y))
        rw = rw / rw.sum()
        onehot = np.eye(k)[np.asarray(y, dtype=int)]

        def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
            beta, b = theta[:m], theta[m:]
            z = np.tensordot(beta, logp, axes=1) + b
            z -= z.max(axis=1, keepdims=True)
            lse = np.log(np.exp(z).sum(axis=1))
            loss = float(-(rw * ((z * onehot).sum(1) - lse)).sum() + l2 * beta @ beta)
            resid = (np.exp(z - lse[:, None]) - onehot) * rw[:, None]  # d loss / d z
            grad_beta = np.einsum("jnk,nk->j", logp, resid) + 2 * l2 * beta
            return loss, np.concatenate([grad_beta, resid.sum(axis=0)])

        start = np.concatenate([np.full(m, 1.0 / m), np.zeros(k)])
        res = minimize(nll, start, jac=True, method="L-BFGS-B", options={"maxiter": 200})
        self.coef, self.intercept = res.x[:m].copy(), res.x[m:].copy()
        self.scale = np.array([np.sqrt(np.average((lp - lp.mean(axis=1, keepdims=True)) ** 2, axis=(0, 1),
                                                  weights=np.broadcast_to(rw[:, None], lp.shape)))
                               for lp in logp])

    def predict(self, preds, extra=None):
        if not self.k:
            return np.column_stack(preds) @ self.coef + self.intercept[0]
        z = sum(c * np.log(np.clip(p, _EPS, 1.0)) for c, p in zip(self.coef, preds)) + self.intercept
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def shares(self):
        return np.abs(self.coef) * self.scale  # standardised coefficients: how far each member moves the output

    def state(self):
        return (self.coef, self.intercept)


class LightGBM(MetaModel):
    kind = "lightgbm"

    def __init__(self, k: int, m: int, preds: list[np.ndarray], y: np.ndarray, w: np.ndarray | None,
                 seed: int, extra: np.ndarray | None = None) -> None:
        super().__init__(k, m)
        import lightgbm as lgb

        x, self.owner = _prob_features(preds, k)
        if extra is not None:
            x = np.hstack([x, extra])
        n = len(y)
        params: dict[str, Any] = {
            "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": int(min(50, max(3, n // 20))),
            "lambda_l2": 1.0, "max_bin": 63, "num_threads": 1, "verbose": -1, "seed": int(seed),
            "deterministic": True, "force_col_wise": True,
        }
        if k > 2:
            params.update(objective="multiclass", num_class=k)
        else:
            params["objective"] = "binary" if k == 2 else "regression"
        data = lgb.Dataset(x, label=y, weight=w, params={"verbose": -1, "max_bin": 63})
        self.booster = lgb.train(params, data, num_boost_round=_LGB_ROUNDS)

    def predict(self, preds, extra=None):
        x = _prob_features(preds, self.k)[0]
        if extra is not None:
            x = np.hstack([x, extra])
        out = self.booster.predict(x)
        if self.k == 2:
            return np.column_stack([1 - out, out])
        return out

    def shares(self):
        gain = self.booster.feature_importance("gain")[:len(self.owner)]
        return np.bincount(self.owner, weights=gain, minlength=self.m)

    def state(self):
        return (self.booster.model_to_string(),)


def fit_meta(kind: str, preds: list[np.ndarray], y: np.ndarray, k: int, w: np.ndarray | None, seed: int = 0,
             extra: np.ndarray | None = None) -> MetaModel:
    """Fit the meta-learner ``kind`` on ``preds`` (one array per member, same rows as ``y``)."""
    m = len(preds)
    rw = _rows(w, len(y))
    present = np.unique(np.asarray(y)[rw > 0]) if k else None
    if not rw.sum() > 0 or (k and len(present) < 2):
        return Constant(k, m, y, w)
    if kind == "linear":
        return Linear(k, m, preds, y, w)
    if kind == "logistic":
        return Logistic(k, m, preds, y, w)
    if kind == "lightgbm":
        return LightGBM(k, m, preds, y, w, seed, extra)
    raise ValueError(f"unknown meta-learner {kind!r}")
