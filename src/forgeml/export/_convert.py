"""Fitted forgeml parts as ONNX nodes: the ``Preprocessor`` by hand (its steps are forgeml's own), estimators by
skl2onnx (scikit-learn) and onnxmltools (LightGBM, XGBoost, registered with skl2onnx's
``update_registered_converter``), and the weighted average of the members.

Preprocessing runs in float64, as in forgeml; estimators take float32 (what their converters emit); the members'
outputs are averaged in float64. Only what ``_check.py`` calls convertible reaches this module.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.coerce import NA_STRINGS
from forgeml.data.schema import BOOLEAN, CATEGORICAL, NUMERIC
from forgeml.export._check import library_of
from forgeml.export._graph import ML_OPSET, OPSET, Graph

UNSEEN = "\x00forgeml-unseen"  # a category no training row had


def _tp() -> Any:
    from onnx import TensorProto

    return TensorProto


class Inputs:
    """One ONNX input per raw column, created the first time a member reads it: numeric and boolean columns as
    float64 ``[N, 1]`` (NaN = missing), categorical columns as strings ``[N, 1]`` (``""`` = missing)."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.kinds: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def get(self, column: str, kind: str) -> str:
        if column not in self.names:
            from forgeml.features._frame import safe_names

            taken = set(self.names.values())
            name = safe_names([column])[0]
            while name in taken:
                name += "_"
            elem = _tp().STRING if kind == CATEGORICAL else _tp().DOUBLE
            self.names[column], self.kinds[column] = self.g.add_input(name, elem), kind
        return self.names[column]


# preprocessing ---------------------------------------------------------------------------------------------------
def preprocessor(g: Graph, inputs: Inputs, pre: Any) -> str:
    """The ``Preprocessor``'s output (float64 ``[N, F]``, columns as ``feature_names_out_``)."""
    blocks: list[str] = []
    numeric = list(pre.kinds_[NUMERIC])
    imp = pre.imputer_
    if numeric:
        x = _concat(g, [inputs.get(c, NUMERIC) for c in numeric])
        x = g.op("Where", g.op("IsInf", x), g.const(np.nan), x)  # the imputer reads +/-inf as missing
        cols = list(imp.value_columns_)
        ind = None
        if imp.indicator_columns_:
            idx = g.const([cols.index(c) for c in imp.indicator_columns_], np.int64)
            ind = g.op("Cast", g.op("IsNaN", g.op("Gather", x, idx, axis=1)), to=_tp().DOUBLE)
        if imp.statistics_:
            fill = g.const([[imp.statistics_.get(c, np.nan) for c in cols]])
            x = g.op("Where", g.op("IsNaN", x), fill, x)
        if pre.clipper_ is not None:
            lo, hi = g.const([pre.clipper_.lower_]), g.const([pre.clipper_.upper_])
            x = g.op("Where", g.op("IsNaN", x), x, g.op("Min", g.op("Max", x, lo), hi))
        if pre.scaler_ is not None:
            x = _scale(g, pre.scaler_, x)
        blocks.append(x)
        if ind is not None:
            blocks.append(ind)
    for c in pre.kinds_[BOOLEAN]:
        b = inputs.get(c, BOOLEAN)
        if c in pre.bool_fill_:
            b = g.op("Where", g.op("IsNaN", b), g.const([[pre.bool_fill_[c]]]), b)
        blocks.append(b)
    if pre.encoder_ is not None:
        blocks += _categoricals(g, inputs, pre.encoder_)
    if not blocks:
        raise ValueError("the preprocessing keeps no column")
    return _concat(g, blocks)


def _concat(g: Graph, parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)


def _scale(g: Graph, scaler: Any, x: str) -> str:
    kind = type(scaler).__name__
    if kind == "MinMaxScaler":
        return g.op("Add", g.op("Mul", x, g.const([scaler.scale_])), g.const([scaler.min_]))
    center = scaler.mean_ if kind == "StandardScaler" else scaler.center_
    if center is not None:
        x = g.op("Sub", x, g.const([center]))
    if scaler.scale_ is not None:
        x = g.op("Div", x, g.const([scaler.scale_]))
    return x


def _widths(enc: Any, method: str, n: int) -> list[int]:
    """How many output columns each input column of one encoder group makes."""
    inner = enc.encoders_[method]
    if method == "onehot":
        return [int(w) for w in inner._n_features_outs]
    if method == "target" and getattr(inner, "target_type_", "") == "multiclass":
        return [len(inner.classes_)] * n
    return [1] * n


def _known(enc: Any, method: str, j: int, column: str) -> list[str]:
    inner = enc.encoders_[method]
    if method == "native":
        return [str(k) for k in inner[column]]
    codes = getattr(enc, "target_codes_", None)
    if method == "target" and codes is not None:  # fitted on the categories' integer codes: their strings
        return [str(v) for v in codes[column]]
    return [v for v in inner.categories_[j] if isinstance(v, str)]


def _categoricals(g: Graph, inputs: Inputs, enc: Any) -> list[str]:
    """Each categorical column as a lookup: its string -> a row index -> that row of the encoder's output table
    (computed by the fitted encoder itself for every known category, missing and unseen)."""
    columns = list(enc.feature_names_in_)
    out, start = [], 0
    for method, group in enc.groups_.items():
        for j, (col, width) in enumerate(zip(group, _widths(enc, method, len(group)))):
            known = _known(enc, method, j, col)
            values = [*known, np.nan, UNSEEN]
            frame = pd.DataFrame({c: pd.Series([_first(enc, c)] * len(values), dtype=object) for c in columns})
            frame[col] = pd.Series(values, dtype=object)
            table = np.asarray(enc.transform(frame).iloc[:, start:start + width], dtype="float64")
            start += width
            missing = [s for s in sorted(NA_STRINGS) if s not in known]
            keys = [*known, *missing]
            codes = [*range(len(known)), *[len(known)] * len(missing)]
            idx = g.op("LabelEncoder", inputs.get(col, CATEGORICAL), domain="ai.onnx.ml", keys_strings=keys,
                       values_int64s=codes, default_int64=len(known) + 1)
            flat = g.op("Reshape", idx, g.const([-1], np.int64))
            out.append(g.op("Gather", g.const(table), flat, axis=0))
    if start != len(enc.feature_names_out_):
        raise ValueError(f"categorical encoder widths {start} != {len(enc.feature_names_out_)}")
    return out


def _first(enc: Any, column: str) -> Any:
    for method, group in enc.groups_.items():
        if column in group:
            known = _known(enc, method, group.index(column), column)
            return known[0] if known else np.nan
    return np.nan


def selector(g: Graph, sel: Any, x: str) -> str:
    names = list(sel.feature_names_in_)
    if list(sel.selected_) == names:
        return x
    return g.op("Gather", x, g.const([names.index(c) for c in sel.selected_], np.int64), axis=1)


# estimators ------------------------------------------------------------------------------------------------------
def _lightgbm() -> tuple[str, Any, tuple[type, ...], tuple[type, ...], dict | None]:
    import lightgbm as lgb
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    from forgeml.models import _lgbm

    return ("LightGbm", convert_lightgbm, (lgb.LGBMClassifier, _lgbm.LGBMClassifier),
            (lgb.LGBMRegressor, _lgbm.LGBMRegressor), {"split": None})


def _xgboost() -> tuple[str, Any, tuple[type, ...], tuple[type, ...], dict | None]:
    import xgboost as xgb
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

    from forgeml.models import _xgb

    return ("XGBoost", convert_xgboost, (xgb.XGBClassifier, _xgb.XGBClassifier),
            (xgb.XGBRegressor, _xgb.XGBRegressor), None)


def _register() -> None:
    """LightGBM and XGBoost converters from onnxmltools, registered with skl2onnx for their classes and forgeml's
    subclasses (skl2onnx looks converters up by exact class). Idempotent; a library that is not installed is
    skipped."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    clf_opts = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    for library in (_lightgbm, _xgboost):
        try:
            prefix, convert, classifiers, regressors, reg_opts = library()
            for classes, shapes, options in ((classifiers, calculate_linear_classifier_output_shapes, clf_opts),
                                             (regressors, calculate_linear_regressor_output_shapes, reg_opts)):
                for cls in classes:
                    update_registered_converter(cls, f"{prefix}{cls.__module__}{cls.__name__}", shapes, convert,
                                                options=options)
        except ImportError:
            pass


def _convert(est: Any, n_features: int, classifier: bool) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(est): {"zipmap": False}} if classifier else None
    return convert_sklearn(est, initial_types=[("X", FloatTensorType([None, n_features]))], options=options,
                           target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})


def estimator(g: Graph, est: Any, x: str, n_features: int, n_classes: int, prefix: str) -> str:
    """The estimator's output in ``predict_matrix`` form: float64 probabilities ``[N, n_classes]`` over every
    class, or predictions ``[N, 1]``."""
    if library_of(est) in ("lightgbm", "xgboost"):
        _register()
    xf = g.op("Cast", x, to=_tp().FLOAT)
    scaler = None
    if type(est).__name__ == "TransformedTargetRegressor":
        est, scaler = est.regressor_, est.transformer_
    outs = g.splice(_convert(est, n_features, n_classes > 0), prefix, xf)
    if not n_classes:
        y = g.op("Cast", outs[0], to=_tp().DOUBLE)
        if scaler is not None:
            y = g.op("Add", g.op("Mul", y, g.const([scaler.scale_])), g.const([scaler.mean_]))
        return g.op("Reshape", y, g.const([-1, 1], np.int64))
    p = g.op("Cast", outs[1], to=_tp().DOUBLE)
    classes = np.asarray(getattr(est, "classes_", np.arange(n_classes))).astype(int)
    if len(classes) == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return p
    spread = np.zeros((len(classes), n_classes))  # a fold that lacked a class gives it probability 0
    spread[np.arange(len(classes)), classes] = 1.0
    return g.op("MatMul", p, g.const(spread))


# members and the ensemble ----------------------------------------------------------------------------------------
def pipeline(g: Graph, inputs: Inputs, pipe: Any, n_classes: int, prefix: str) -> str:
    x, width = None, 0
    for _name, step in pipe.steps[:-1]:
        if type(step).__name__ == "Preprocessor":
            x, width = preprocessor(g, inputs, step), len(step.feature_names_out_)
        else:  # FeatureSelector (the check lets nothing else through)
            x, width = selector(g, step, x), len(step.selected_)
    return estimator(g, pipe.steps[-1][1], x, width, n_classes, prefix)


def member(g: Graph, inputs: Inputs, m: Any, n_classes: int, prefix: str) -> str:
    """A member's output; a ``BaggedPipeline`` is the mean of its fold pipelines."""
    if type(m).__name__ != "BaggedPipeline":
        return pipeline(g, inputs, m, n_classes, prefix)
    outs = [pipeline(g, inputs, p, n_classes, f"{prefix}fold{i}_") for i, p in enumerate(m.pipelines)]
    return weighted(g, outs, [1.0 / len(outs)] * len(outs))


def weighted(g: Graph, outs: list[str], weights: list[float]) -> str:
    total = None
    for o, w in zip(outs, weights):
        term = o if w == 1.0 else g.op("Mul", o, g.const(w))
        total = term if total is None else g.op("Add", total, term)
    return total


def finish(g: Graph, combined: str, classes: tuple, n_classes: int) -> None:
    """Graph outputs: ``label`` ``[N]`` and ``probabilities`` ``[N, k]`` (float32, rows summing to 1) for
    classification; ``prediction`` ``[N, 1]`` (float32) for regression."""
    tp = _tp()
    if not n_classes:
        g.add_output(g.op("Cast", combined, to=tp.FLOAT), "prediction", tp.FLOAT, 1)
        return
    total = g.op("Max", g.op("ReduceSum", combined, g.const([1], np.int64), keepdims=1), g.const(1e-15))
    p = g.op("Div", combined, total)
    g.add_output(g.op("Cast", p, to=tp.FLOAT), "probabilities", tp.FLOAT, n_classes)
    idx = g.op("ArgMax", p, axis=1, keepdims=0)
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in classes):
        labels, elem = g.const(list(classes), np.int64), tp.INT64
    else:
        labels, elem = g.const(np.asarray([str(c) for c in classes], dtype=object), object), tp.STRING
    from onnx import helper

    label = g.op("Gather", labels, idx, axis=0)
    g.nodes.append(helper.make_node("Identity", [label], ["label"], name=g.fresh("node_out")))
    g.outputs.append(helper.make_tensor_value_info("label", elem, [None]))
