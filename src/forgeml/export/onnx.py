"""Export a fitted forgeml model to ONNX, verified against forgeml's own predictions before anything is written.

The ONNX model has one input per raw column the pipelines read, named as the column (made an identifier):
numeric and yes/no columns as float64 ``[N, 1]`` (NaN = missing; yes/no as 1/0), categorical columns as strings
``[N, 1]`` (``""`` = missing; numbers as forgeml reads them, ``"3"`` not ``"3.0"``). ``onnx_feed`` builds that
input dict from a DataFrame. Outputs: ``label`` and ``probabilities`` (classification), ``prediction``
(regression). The column-to-input mapping is kept in the model's metadata (``forgeml.inputs``).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.schema import BOOLEAN, CATEGORICAL, NUMERIC
from forgeml.errors import ConfigError, ForgeMLError, MissingDependencyError
from forgeml.export._check import Part, member_indices, member_name, member_parts, model_parts

META_KEY = "forgeml.inputs"


class ExportError(ForgeMLError, ValueError):
    """The model cannot be exported as asked: some part has no converter. Nothing was written."""


class ExportMismatchError(ExportError):
    """The converted model disagrees with forgeml's predictions beyond the tolerance. Nothing was written."""


@dataclass(frozen=True)
class ExportResult:
    """What was written: the file, its inputs (column -> ONNX input name), the verification and the parts."""

    path: Path
    inputs: dict[str, str]
    n_verified: int
    max_abs_diff: float
    parts: list[Part] = field(default_factory=list)


def _fitted(model: Any) -> Any:
    fitted = getattr(model, "best_pipeline_", model)
    if not hasattr(fitted, "members") or not hasattr(fitted, "schema"):
        raise ConfigError(f"expected a fitted AutoML or FittedPipeline, got {type(model).__name__}; fit it first")
    return fitted


def check_onnx(model: Any, member: int | None = None) -> list[Part]:
    """Every part of ``model`` (an ``AutoML`` or ``FittedPipeline``), each marked convertible or not, with why."""
    fitted = _fitted(model)
    _check_member(fitted, member)
    return model_parts(fitted, member)


def _check_member(fitted: Any, member: int | None) -> None:
    if member is not None and not 1 <= int(member) <= len(fitted.members):
        raise ConfigError(f"member={member} is out of range: the model has {len(fitted.members)} member(s), "
                          f"numbered 1 to {len(fitted.members)}")


def _refusal(fitted: Any, parts: list[Part], member: int | None) -> str:
    bad = "; ".join(str(p) for p in parts if not p.ok)
    msg = f"cannot export to ONNX, nothing was written: {bad}"
    if member is None and len(fitted.members) > 1:
        whole = [i + 1 for i in range(len(fitted.members))
                 if all(p.ok for p in member_parts(member_name(fitted, i), fitted.members[i]))]
        if whole:
            msg += f". Member(s) {', '.join(map(str, whole))} convert alone: export one with --member N (member=N)"
    return msg


def _require() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"ONNX export needs {exc.name}: pip install \"forgeml[export]\"") from None


def to_onnx(model: Any, path: str | Path, *, member: int | None = None, sample: pd.DataFrame | None = None,
            n_rows: int = 200, tolerance: float = 1e-4, seed: int = 0,
            progress: Callable[[str], None] | None = None) -> ExportResult:
    """Write ``model`` (an ``AutoML`` or ``FittedPipeline``; only member number ``member``, 1-based, if given) to
    ``path`` as ONNX, after checking that onnxruntime reproduces forgeml's probabilities (or predictions) on
    ``sample`` (raw feature rows; default ``n_rows`` rows drawn from the fitted preprocessing and split
    thresholds) within ``tolerance`` (absolute for probabilities; relative to the largest prediction, at least 1,
    for regression).

    Raises ``ExportError`` naming every part that does not convert, ``ExportMismatchError`` when the check
    fails, ``MissingDependencyError`` without the ``export`` extra. Nothing is written unless all goes well.
    """
    fitted = _fitted(model)
    _check_member(fitted, member)
    say = progress or (lambda _msg: None)
    parts = model_parts(fitted, member)
    if not all(p.ok for p in parts):
        raise ExportError(_refusal(fitted, parts, member))
    _require()
    from forgeml.export import _convert
    from forgeml.export._graph import Graph

    k = 0 if fitted.task == "regression" else len(fitted.schema.classes)
    g = Graph()
    inputs = _convert.Inputs(g)
    idx = member_indices(fitted, member)
    outs = []
    for n, i in enumerate(idx):
        say(f"export: converting member {n + 1}/{len(idx)} ({member_name(fitted, i).split('(', 1)[1][:-1]})...")
        outs.append(_convert.member(g, inputs, fitted.members[i], k, f"m{i}_"))
    weights = [1.0] if member is not None else list(fitted.weights)
    _convert.finish(g, _convert.weighted(g, outs, weights), tuple(fitted.schema.classes), k)
    proto = g.model("forgeml", f"forgeml {fitted!r}")
    names = {col: inputs.names[col] for col in inputs.names}
    meta = proto.metadata_props.add()
    meta.key, meta.value = META_KEY, json.dumps({inputs.names[c]: [c, inputs.kinds[c]] for c in inputs.names})
    data = proto.SerializeToString()
    rows = fitted._align(sample) if sample is not None else synthetic_rows(fitted, idx, n_rows, seed)
    diff = _verify(data, fitted, idx if member is not None else None, rows, k, tolerance)
    say(f"export: verified on {len(rows)} rows, max |diff| {diff:.2g}")
    from forgeml._io import atomic_write

    out = atomic_write(path, data)
    return ExportResult(out, names, len(rows), diff, parts)


# the check ---------------------------------------------------------------------------------------------------
def onnx_feed(session_or_model: Any, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The input dict of an exported model (an ``onnxruntime.InferenceSession``, ``onnx.ModelProto`` or path)
    for the raw rows ``X``, read as forgeml reads them."""
    from forgeml.data.coerce import to_bool, to_numeric, to_string

    mapping = json.loads(_metadata(session_or_model)[META_KEY])
    feed = {}
    for name, (col, kind) in mapping.items():
        if col not in X.columns:
            raise ConfigError(f"the ONNX model needs column {col!r}, which X lacks")
        s = X[col]
        if kind == CATEGORICAL:
            feed[name] = np.asarray(to_string(s).fillna("").to_numpy(dtype=object).reshape(-1, 1), dtype=object)
        else:
            f = to_bool(s) if kind == BOOLEAN else to_numeric(s)
            feed[name] = f.to_numpy(dtype="float64", na_value=np.nan).reshape(-1, 1)
    return feed


def _metadata(obj: Any) -> dict[str, str]:
    if hasattr(obj, "get_modelmeta"):
        return dict(obj.get_modelmeta().custom_metadata_map)
    import onnx

    proto = obj if hasattr(obj, "metadata_props") else onnx.load(str(obj))
    return {p.key: p.value for p in proto.metadata_props}


def _verify(data: bytes, fitted: Any, member: list[int] | None, rows: pd.DataFrame, k: int,
            tolerance: float) -> float:
    import onnxruntime as ort

    from forgeml.pipeline.fitted import predict_matrix

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, onnx_feed(sess, rows))
    outs = dict(zip([o.name for o in sess.get_outputs()], got))
    if member is not None:
        ref = predict_matrix(fitted.members[member[0]], rows, k)
        if k:
            ref = ref / np.clip(ref.sum(axis=1, keepdims=True), 1e-15, None)
    else:
        ref = fitted.predict_proba(rows) if k else fitted.predict(rows)
    ref = np.asarray(ref, dtype="float64")
    mine = np.asarray(outs["probabilities" if k else "prediction"], dtype="float64").reshape(ref.shape)
    diff = np.abs(mine - ref)
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    limit = tolerance if k else tolerance * max(1.0, float(np.nanmax(np.abs(ref))))
    if np.isnan(mine).any() != np.isnan(ref).any() or worst > limit:
        per_row = diff.max(axis=1) if diff.ndim == 2 else diff
        row, n_bad = int(np.nanargmax(per_row)), int((per_row > limit).sum())
        raise ExportMismatchError(f"the ONNX model disagrees with forgeml on {n_bad} "
                                  f"of {len(rows)} rows (max |diff| {worst:.3g} > {limit:.3g}, first at row "
                                  f"{row}); nothing was written")
    return worst


def synthetic_rows(fitted: Any, members: list[int], n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` raw rows to check an export on when the user gives none: categories seen in training, plus missing
    and unseen ones; numbers spread over the model's split thresholds or the fitted imputer and scaler; about one
    value in ten missing."""
    rng = np.random.default_rng(seed)
    hints = _numeric_hints(fitted, members)
    data: dict[str, Any] = {}
    for spec in fitted.schema.columns:
        miss = rng.random(n) < 0.1
        if spec.kind == CATEGORICAL:
            pool = [*spec.categories, "forgeml-unseen"] if spec.categories else ["a"]
            vals = pd.Series(rng.choice(np.asarray(pool, dtype=object), n), dtype=object)
        elif spec.kind == BOOLEAN:
            vals = pd.Series(rng.integers(0, 2, n).astype(bool), dtype=object)
        elif spec.kind == NUMERIC:
            lo, hi = hints.get(spec.name, (-2.0, 2.0))
            pad = 0.1 * (hi - lo) if hi > lo else 1.0
            vals = pd.Series(rng.uniform(lo - pad, hi + pad, n))
        else:
            data[spec.name] = pd.Series([None] * n, dtype=object)
            continue
        data[spec.name] = vals.where(~miss, None if vals.dtype == object else np.nan)
    return fitted._align(pd.DataFrame(data))


def _numeric_hints(fitted: Any, members: list[int]) -> dict[str, tuple[float, float]]:
    """Raw numeric column -> (low, high): its split thresholds in the members' trees, else its fitted
    statistics (imputer fill, scaler centre and spread, clipping bounds)."""
    lows: dict[str, list[float]] = {}
    for i in members:
        m = fitted.members[i]
        for pipe in getattr(m, "pipelines", [m]):
            pre = pipe.steps[0][1]
            names = {str(f): str(r) for r, f in zip(getattr(pre, "raw_names_", []), getattr(pre, "feature_names_out_",
                                                                                          []))}
            for feat, values in _thresholds(pipe.steps[-1][1]).items():
                if feat in names and pre.scaler_ is None:
                    lows.setdefault(names[feat], []).extend(values)
            imp = getattr(pre, "imputer_", None)
            for j, c in enumerate(getattr(imp, "value_columns_", []) if imp is not None else []):
                vals = [imp.statistics_[c]] if c in imp.statistics_ else []
                sc = getattr(pre, "scaler_", None)
                if type(sc).__name__ == "StandardScaler":
                    vals += [sc.mean_[j] - 2 * sc.scale_[j], sc.mean_[j] + 2 * sc.scale_[j]]
                if pre.clipper_ is not None:
                    vals += [v for v in (pre.clipper_.lower_[j], pre.clipper_.upper_[j]) if np.isfinite(v)]
                lows.setdefault(c, []).extend(vals)
    return {c: (float(min(v)), float(max(v))) for c, v in lows.items() if v}


def _thresholds(est: Any) -> dict[str, list[float]]:
    """Feature name -> split thresholds of a LightGBM, XGBoost or scikit-learn forest model (empty otherwise)."""
    out: dict[str, list[float]] = {}
    try:
        if hasattr(est, "booster_"):
            df = est.booster_.trees_to_dataframe()
            df = df[df["decision_type"] == "<="]
            feats, thr = df["split_feature"], df["threshold"]
        elif hasattr(est, "get_booster"):
            df = est.get_booster().trees_to_dataframe()
            df = df[df["Feature"] != "Leaf"]
            feats, thr = df["Feature"], df["Split"]
        elif hasattr(est, "estimators_") and hasattr(est, "feature_names_in_"):
            pairs = [(est.feature_names_in_[f], t) for tree in est.estimators_
                     for f, t in zip(tree.tree_.feature, tree.tree_.threshold) if f >= 0]
            feats, thr = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            return out
    except Exception:  # a hint only: the check still runs on the fitted statistics
        return out
    for f, t in zip(feats, thr):
        try:
            value = float(t)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            out.setdefault(str(f), []).append(value)
    return out
