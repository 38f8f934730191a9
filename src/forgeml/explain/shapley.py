"""Shapley attributions of a whole fitted model (``FittedPipeline``) over its INPUT columns.

What is explained: the model's output on each row, per output ``o`` — the probability of class ``o``
(classification) or the prediction (regression, one output) — so that for every row
``base[o] + phi[i, :, o].sum() == output[i, o]`` (efficiency, to rounding, on both routes below).

Routes (``method``):

* ``"exact"``: every member (and every fold model of a bagged member) is explained by its model's own exact SHAP
  (``forgeml.explain.native``: TreeSHAP for LightGBM/XGBoost/CatBoost, linear SHAP for linear models), brought to
  the output space and to the input columns, and the members are combined with the ensemble weights. A member
  without such a route is a ``ConfigError``.
* ``"sampling"``: permutation sampling over the input columns (``forgeml.explain.sampling``) of the whole model's
  output, against a background sample; works for any model (kNN, SVM, MLP, stacking...).
* ``"auto"``: exact members exactly and the rest by sampling (their weighted outputs together, as one function);
  a model whose combiner is not a weighted average (stacking) is sampled as a whole.

Combining members linearly is exact for the output (the ensemble averages its members' probabilities or
predictions with fixed weights); each member's base is its own (TreeSHAP's is the expected margin over its
training data, sampling's the mean over the background), so the model's base is their weighted sum.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError
from forgeml.explain.native import Unsupported, member_shap
from forgeml.explain.sampling import sampled_shapley
from forgeml.pipeline.fitted import predict_matrix

METHODS = ("auto", "exact", "sampling")


@dataclass
class Attributions:
    """``phi`` (rows, inputs, outputs), ``base`` (outputs,), ``output`` (rows, outputs), over ``inputs``; ``routes``
    says how each member was explained (``"exact"`` or ``"sampling"``)."""

    phi: np.ndarray
    base: np.ndarray
    output: np.ndarray
    inputs: list[str]
    routes: list[str]


def shap_values(fitted: Any, X: pd.DataFrame, background: pd.DataFrame, *, method: str = "auto",
                n_samples: int = 64, seed: int = 0) -> Attributions:
    """The attributions of ``fitted`` on aligned raw rows ``X``; ``background`` (aligned raw rows, e.g. a training
    sample) is what "a column's value is unknown" means for sampling and for linear SHAP."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    schema = fitted.schema
    k = 0 if schema.task == "regression" else len(schema.classes)
    inputs, modelled = schema.names(), list(schema.modelled)
    n_out = max(1, k)
    phi = np.zeros((len(X), len(inputs), n_out))
    base = np.zeros(n_out)
    output = np.zeros((len(X), n_out))
    sampled: list[tuple[float, Any]] = []
    routes: list[str] = []
    if fitted.combiner is not None:
        if method == "exact":
            raise ConfigError("method='exact' needs a weighted ensemble of tree or linear models; this model combines "
                              f"its members with {fitted.combiner.describe()}: use method='sampling' or 'auto'")
        sampled = [(1.0, fitted)]
        routes = ["sampling"] * len(fitted.members)
    else:
        for w, member in zip(_weights(fitted, k), fitted.members):
            pipes = list(getattr(member, "pipelines", [member]))
            try:
                if method == "sampling":
                    raise Unsupported("sampling asked for")
                parts = [member_shap(p, X, background, inputs, modelled, k) for p in pipes]
            except Exception as exc:  # noqa: BLE001 - any failure of the exact route means: sample this member
                if method == "exact":
                    raise ConfigError(f"method='exact' cannot explain member {type(member).__name__} "
                                      f"({exc}); use method='auto' or 'sampling'") from None
                sampled.append((w, member))
                routes.append("sampling")
                continue
            for p_phi, p_base, p_out in parts:
                phi += w / len(pipes) * p_phi
                base += w / len(pipes) * p_base
                output += w / len(pipes) * p_out
            routes.append("exact")
    if sampled:
        def f(frame: pd.DataFrame) -> np.ndarray:
            return sum(w * _output(m, frame, k) for w, m in sampled)

        s_phi, s_base = sampled_shapley(f, X, background, [c for c in inputs if c in modelled],
                                        n_samples=n_samples, seed=seed)
        cols = [inputs.index(c) for c in inputs if c in modelled]
        phi[:, cols, :] += s_phi
        base += s_base
        output += f(X)
    return Attributions(phi, base, output, inputs, routes)


def _weights(fitted: Any, k: int) -> np.ndarray:
    """The members' weights as the model applies them: probabilities are renormalised (so the weights are, too);
    regression predictions are summed with the weights as they are."""
    w = np.asarray(fitted.weights, dtype=float)
    return w / w.sum() if k and w.sum() > 0 else w


def _output(model: Any, X: pd.DataFrame, k: int) -> np.ndarray:
    """A member's, or the whole model's, outputs on aligned raw rows as ``(n, outputs)``."""
    if hasattr(model, "combiner"):
        out = model.predict_proba(X) if k else model.predict(X)
    else:
        out = predict_matrix(model, X, k)
    return np.asarray(out, dtype=float).reshape(len(X), -1)
