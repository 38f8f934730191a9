"""The feature report of a fitted model: every input column and every engineered feature, how it was made,
whether it reached the model, and its importance there (``AutoML.feature_report()``).

Columns: ``feature``, ``source`` (the input column(s) it was made from, comma-separated), ``how`` (from each
step's ``describe_features()``; ``"input"`` when a step does not describe it), ``kept`` (it survived selection
into the model) and ``importance``. Importance is per model: ``feature_importances_`` or ``|coef_|`` when the
model has them, else permutation importance (the drop in log loss, or in squared error on the scale the model
learns the target on, when one feature is shuffled) on at most ``PERMUTATION_ROWS`` rows; normalised to sum to 1
over the model's inputs; averaged over the fold models of a bagged member and weighted by the ensemble weights over
members. An input column's row sums the
importance of every feature made from it (a feature made from several inputs is shared equally), so the input
rows alone also sum to 1. Input columns that are not modelled (ids, constants) appear with ``kept=False``.

Works by duck typing on the fitted objects (members with ``steps`` or bagged ``pipelines``), so it imports nothing
from the pipeline layer.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["feature", "source", "how", "kept", "importance"]
PERMUTATION_ROWS = 500


def feature_report(fitted: Any, X: pd.DataFrame | None = None, y: np.ndarray | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """The report of ``fitted`` (a ``FittedPipeline``). ``X`` (raw rows, aligned to the schema) and ``y``
    (integer-coded classes, or values) are used only for models that need permutation importance."""
    schema = fitted.schema
    k = 0 if schema.task == "regression" else len(schema.classes)
    if X is not None and len(X) > PERMUTATION_ROWS:
        idx = np.sort(np.random.default_rng(seed).choice(len(X), PERMUTATION_ROWS, replace=False))
        X, y = X.iloc[idx], np.asarray(y)[idx]
    weights = np.asarray(fitted.weights, dtype=float)
    if not len(weights) or weights.sum() <= 0:
        weights = np.ones(len(fitted.members))
    weights = weights / weights.sum()
    rows: dict[str, dict[str, Any]] = {}
    for w, member in zip(weights, fitted.members):
        pipes = list(getattr(member, "pipelines", [member]))
        for pipe in pipes:
            for r in _pipeline_rows(pipe, schema.names(), X, y, k, seed):
                cur = rows.setdefault(r["feature"], {**r, "kept": False, "importance": 0.0})
                cur["kept"] = cur["kept"] or r["kept"]
                cur["importance"] += w / len(pipes) * r["importance"]
    return _with_inputs(schema, rows)


def _with_inputs(schema: Any, rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per input column (first, in schema order), aggregating what was made from it; then the others."""
    modelled = set(schema.modelled)
    inputs = []
    for col in schema.names():
        made = [r for r in rows.values() if col in r["sources"]]
        imp = sum(r["importance"] / len(r["sources"]) for r in made)
        how = "input" if col in modelled else f"input, not modelled ({schema.column(col).kind})"
        inputs.append({"feature": col, "source": col, "how": how, "kept": any(r["kept"] for r in made),
                       "importance": float(imp)})
    names = {r["feature"] for r in inputs}
    rest = [{"feature": r["feature"], "source": ", ".join(r["sources"]), "how": r["how"], "kept": bool(r["kept"]),
             "importance": float(r["importance"])}
            for r in rows.values() if not (r["how"] == "input" and r["sources"] == (r["feature"],))
            and r["feature"] not in names]
    return pd.DataFrame(inputs + rest, columns=COLUMNS)


def feature_sources(pipe: Any, inputs: list[str]) -> dict[str, tuple[str, ...]]:
    """The input columns each column the model step of ``pipe`` receives was made from (possibly empty): the
    provenance ``feature_report`` shows, for ``forgeml.explain`` to map attributions back to the inputs."""
    _, kept, how, prep_sources = _provenance(pipe)
    return {name: tuple(prep_sources.get(name) or _parse_sources(how.get(name, ""), name, inputs, prep_sources))
            for name in kept}


def _provenance(pipe: Any) -> tuple[list[str], list[str], dict[str, str], dict[str, tuple]]:
    """(columns before selection, columns the model receives, how each was made, the preprocessor's sources)."""
    steps = list(pipe.steps)
    transformers, model = [s for _, s in steps[:-1]], steps[-1][1]
    selector = dict(steps).get("select")
    made = [t for t in transformers if t is not selector]
    before = [str(n) for n in (selector.feature_names_in_ if selector is not None else _names_out(made[-1], model))]
    kept = [str(n) for n in (selector.get_feature_names_out() if selector is not None else before)]
    how: dict[str, str] = {}
    for t in made:  # a later step's "input" (passed through) never hides how an earlier step made the column
        for name, text in getattr(t, "describe_features", dict)().items():
            if text != "input" or name not in how:
                how[name] = text
    prep_sources = made[0].feature_sources() if hasattr(made[0], "feature_sources") else {}
    return before, kept, how, prep_sources


def _pipeline_rows(pipe: Any, inputs: list[str], X: pd.DataFrame | None, y: Any, k: int,
                   seed: int) -> list[dict[str, Any]]:
    before, kept, how, prep_sources = _provenance(pipe)
    imp = _importance(pipe, pipe.steps[-1][1], kept, X, y, k, seed)
    out = []
    for name in before:
        src = prep_sources.get(name) or _parse_sources(how.get(name, ""), name, inputs, prep_sources)
        out.append({"feature": name, "sources": tuple(src), "how": how.get(name, "input"),
                    "kept": name in imp, "importance": imp.get(name, 0.0)})
    return out


def _names_out(step: Any, model: Any) -> list[str]:
    """The output columns of the last transformer (or, when it cannot say, the columns the model was fitted on)."""
    try:
        return list(step.get_feature_names_out())
    except (AttributeError, TypeError, ValueError):
        names = getattr(model, "feature_names_in_", None)  # LightGBM fitted on forgeml's matrix: its feature_name_
        return list(names if names is not None else getattr(model, "feature_name_", []))


def _parse_sources(how: str, name: str, inputs: list[str], prep_sources: dict[str, tuple]) -> tuple[str, ...]:
    """The input columns a description mentions (directly, or through a preprocessed column it names)."""
    found: list[str] = []
    for token in sorted(set(inputs) | set(prep_sources), key=len, reverse=True):
        if re.search(rf"(?<![0-9A-Za-z_]){re.escape(str(token))}(?![0-9A-Za-z_])", how):
            found += list(prep_sources.get(token, (token,)))
    if not found and name in inputs:
        found = [name]
    return tuple(dict.fromkeys(found))


def _importance(pipe: Any, model: Any, names: list[str], X: Any, y: Any, k: int, seed: int) -> dict[str, float]:
    """Normalised importance of each model input (sums to 1; all zero when nothing can be measured)."""
    raw = _native(model, len(names))
    if raw is None and X is not None and y is not None:
        raw = _permutation(pipe, model, names, X, np.asarray(y), k, seed)
    raw = np.zeros(len(names)) if raw is None else np.nan_to_num(np.abs(raw))
    total = raw.sum()
    return {n: float(v / total) if total > 0 else 0.0 for n, v in zip(names, raw)}


def _native(model: Any, n: int) -> np.ndarray | None:
    for _ in range(4):  # through wrappers: TransformedTargetRegressor, forgeml's family wrappers
        for attr in ("feature_importances_", "coef_"):
            v = getattr(model, attr, None)
            if v is not None:
                a = np.abs(np.asarray(v, dtype=float))
                a = a.reshape(-1, n).sum(axis=0) if a.size and a.size % n == 0 else None
                if a is not None:
                    return a
        model = next((getattr(model, a) for a in ("regressor_", "model_", "estimator_", "best_estimator_")
                      if hasattr(model, a)), None)
        if model is None:
            return None
    return None


def _permutation(pipe: Any, model: Any, names: list[str], X: pd.DataFrame, y: np.ndarray, k: int,
                 seed: int) -> np.ndarray:
    Xt = pipe[:-1].transform(X)
    if not k and hasattr(pipe, "transform_target"):  # the model predicts on the transformed target's scale
        y = np.asarray(pipe.transform_target(np.asarray(y, dtype=float)), dtype=float)
        ok = np.isfinite(y)  # a y outside the transform's domain (Box-Cox of y <= 0) has no value on that scale
        if not ok.all():
            Xt, y = (Xt.iloc[np.flatnonzero(ok)] if hasattr(Xt, "iloc") else Xt[ok]), y[ok]
    base = _loss(model, Xt, y, k)
    rng = np.random.default_rng(seed)
    out = np.zeros(len(names))
    for j, name in enumerate(names):
        shuffled = Xt.copy()
        shuffled[name] = Xt[name].to_numpy()[rng.permutation(len(Xt))]
        out[j] = max(0.0, _loss(model, shuffled, y, k) - base)
    return out


def _loss(model: Any, Xt: pd.DataFrame, y: np.ndarray, k: int) -> float:
    if not k:
        return float(np.mean((np.asarray(model.predict(Xt), dtype=float) - y.astype(float)) ** 2))
    proba = np.asarray(model.predict_proba(Xt), dtype=float)
    classes = np.asarray(getattr(model, "classes_", np.arange(proba.shape[1]))).astype(int)
    full = np.full((len(Xt), k), 1e-15)
    full[:, classes] = np.clip(proba, 1e-15, 1.0)
    return float(-np.mean(np.log(full[np.arange(len(y)), y.astype(int)])))
