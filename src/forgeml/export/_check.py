"""Which parts of a fitted pipeline the ONNX export can convert, and why the others cannot.

The check reads only the fitted objects (no ONNX library is imported), so a user learns what blocks an export
before installing anything. Conversion (``_convert.py``) handles exactly what this module calls convertible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: scikit-learn estimators converted by skl2onnx (TransformedTargetRegressor: the inner linear model + the scale)
LINEAR = ("LogisticRegression", "Ridge", "Lasso", "ElasticNet", "LinearRegression")
FORESTS = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")
SCALERS = ("StandardScaler", "RobustScaler", "MinMaxScaler")


@dataclass(frozen=True)
class Part:
    """One step or estimator of one member: ``where`` names the member, ``what`` the part."""

    where: str
    what: str
    ok: bool
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}" + ("" if self.ok else f" ({self.reason})")


def family_of(description: str) -> str:
    return description.split("(", 1)[0].strip() or description


def _mro_names(obj: Any) -> list[tuple[str, str]]:
    return [(c.__module__ or "", c.__name__) for c in type(obj).__mro__]


def library_of(est: Any) -> str:
    """``lightgbm``, ``xgboost``, ``sklearn``, ``catboost``, ``forgeml`` ... : the library behind ``est``."""
    mods = [m.split(".")[0] for m, _ in _mro_names(est)]
    for lib in ("lightgbm", "xgboost", "catboost", "sklearn"):
        if lib in mods:
            return lib
    return mods[0]


def estimator_part(where: str, est: Any) -> Part:
    name = type(est).__name__
    lib = library_of(est)
    if lib == "lightgbm":
        return Part(where, f"LightGBM {name}", True)
    if lib == "xgboost":
        booster = est.get_booster()
        if "c" in (booster.feature_types or []):
            return Part(where, f"XGBoost {name}", False, "native categorical splits: onnxmltools cannot convert "
                                                          "them; use cat_encoding='ordinal' or 'onehot'")
        return Part(where, f"XGBoost {name}", True)
    if lib == "catboost":
        return Part(where, f"CatBoost {name}", False, "catboost: use CatBoost's own export, "
                                                      "model.save_model(path, format='onnx')")
    if name == "TransformedTargetRegressor":
        inner, scaler = getattr(est, "regressor_", None), getattr(est, "transformer_", None)
        if type(inner).__name__ in LINEAR and type(scaler).__name__ == "StandardScaler":
            return Part(where, f"{type(inner).__name__} (standardized target)", True)
        return Part(where, name, False, f"{type(inner).__name__} on a {type(scaler).__name__}-transformed target: "
                                        "not supported")
    if lib == "sklearn" and name in LINEAR + FORESTS:
        return Part(where, name, True)
    if name.startswith("TorchMLP") or "forgeml.nn" in type(est).__module__:
        return Part(where, name, False, "torch MLP: not supported")
    if "KNN" in name or "Neighbors" in name:
        return Part(where, name, False, "k-nearest neighbours: not supported by forgeml's export")
    if "SV" in name:
        return Part(where, name, False, "support vector machine: not supported by forgeml's export")
    return Part(where, name, False, "no ONNX converter in forgeml's export")


def preprocessor_parts(where: str, pre: Any) -> list[Part]:
    """The ``Preprocessor``'s sub-steps: supported are numeric imputation (+ indicators), clipping, standard /
    robust / min-max scaling, booleans and every categorical encoding; not its feature engineering."""
    out = [Part(where, "numeric imputation, indicators, booleans", True)]
    blocked = {
        "date parts": ("dates_", "no ONNX converter"),
        "text features": ("text_", "no ONNX converter"),
        "count encoding": ("counts_", "no ONNX converter"),
        "group statistics": ("groups_", "no ONNX converter"),
    }
    for what, (attr, reason) in blocked.items():
        if getattr(pre, attr, None) is not None:
            out.append(Part(where, what, False, reason))
    skew = getattr(pre, "skew_", None)
    if skew is not None and getattr(skew, "columns_", None):
        out.append(Part(where, f"skew transform ({pre.skew})", False, "no ONNX converter"))
    if getattr(pre, "clipper_", None) is not None:
        out.append(Part(where, f"clipping ({pre.clip})", True))
    scaler = getattr(pre, "scaler_", None)
    if scaler is not None:
        ok = type(scaler).__name__ in SCALERS
        out.append(Part(where, f"scaling ({pre.scale})", ok, "" if ok else f"{type(scaler).__name__}: not supported"))
    enc = getattr(pre, "encoder_", None)
    if enc is not None:
        out.append(Part(where, f"categorical encoding ({', '.join(enc.groups_)})", True))
    return out


def pipeline_parts(where: str, pipe: Any) -> list[Part]:
    """Every part of one fitted member pipeline (a ``ForgePipeline``)."""
    steps = getattr(pipe, "steps", None)
    if not steps:
        return [Part(where, type(pipe).__name__, False, "not a preprocessing + model pipeline")]
    out: list[Part] = []
    target = getattr(pipe, "target_", None)
    if target is not None:
        out.append(Part(where, f"target transform ({target.method})", False, "no ONNX converter"))
    for name, step in steps[:-1]:
        kind = type(step).__name__
        if kind == "Preprocessor":
            out += preprocessor_parts(where, step)
        elif kind == "FeatureSelector":
            out.append(Part(where, f"feature selection ({step.method})", True))
        elif kind == "FeatureGenerator":
            out.append(Part(where, "generated features (arithmetic)", False, "no ONNX converter"))
        else:
            out.append(Part(where, f"{name} ({kind})", False, "no ONNX converter"))
    est = steps[-1][1]
    if type(est).__name__ in FORESTS and _passes_nan(steps[0][1]):
        out.append(Part(where, type(est).__name__, False, "forest fed missing values: skl2onnx ignores the trees' "
                                                          "missing-value routing; use impute='median' and "
                                                          "cat_encoding='ordinal'"))
    else:
        out.append(estimator_part(where, est))
    return out


def _passes_nan(pre: Any) -> bool:
    """Whether the preprocessing can hand the model NaN (no numeric imputation, or native categoricals)."""
    if type(pre).__name__ != "Preprocessor":
        return True
    numeric = bool(pre.kinds_.get("numeric")) and not pre.imputer_.statistics_
    enc = getattr(pre, "encoder_", None)
    return numeric or (enc is not None and "native" in enc.groups_)


def member_parts(where: str, member: Any) -> list[Part]:
    """A member pipeline, or a ``BaggedPipeline`` of fold pipelines (each checked; repeated findings once)."""
    folds = getattr(member, "pipelines", None)
    if folds is None or type(member).__name__ != "BaggedPipeline":
        return pipeline_parts(where, member)
    seen: dict[tuple[str, bool, str], Part] = {}
    for fold in folds:
        for p in pipeline_parts(where, fold):
            seen.setdefault((p.what, p.ok, p.reason), p)
    return list(seen.values())


def model_parts(fitted: Any, member: int | None = None) -> list[Part]:
    """Every part of a ``FittedPipeline`` (or only member number ``member``, 1-based)."""
    out: list[Part] = []
    if member is None and getattr(fitted, "combiner", None) is not None:
        describe = getattr(fitted.combiner, "describe", lambda: type(fitted.combiner).__name__)
        out.append(Part("ensemble", f"combiner {describe()}", False,
                        "only weighted averages of members are exported; refit with ensemble='greedy' or export "
                        "one member"))
    for i in member_indices(fitted, member):
        out += member_parts(member_name(fitted, i), fitted.members[i])
    return out


def member_indices(fitted: Any, member: int | None) -> list[int]:
    return list(range(len(fitted.members))) if member is None else [member - 1]


def member_name(fitted: Any, i: int) -> str:
    return f"member {i + 1} ({family_of(fitted.descriptions[i])})"
