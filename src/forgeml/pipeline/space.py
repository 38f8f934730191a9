"""The preprocessing choices worth searching for one model family, and the fixed ones that are not.

Trees are invariant to monotone transforms, so they get no scaling or clipping choices and, when they handle
missing values, no imputation by default; distance- and gradient-based families get imputation with missing
indicators, standard scaling and one-hot encoding by default. Choices that cannot matter for this schema
(no categorical columns, no missing values) are left out, so searchers do not waste trials on them.

With ``engineering=True`` (``AutoML(feature_engineering=True)``) the space also holds the feature-engineering
choices, each "off" by default so the defaults are today's pipelines, and each ``late`` (the ``auto`` strategy
searches them once it has good base pipelines, as refinements of the best): ``generate`` / ``generate_k`` (arithmetic
terms, every family: trees gain from products and ratios too), ``skew`` (families that need scaling; trees are
invariant to monotone transforms), ``count_encoding`` and ``group_stats`` (with categoricals), ``cyclic_dates``
(with dates) and ``target_transform`` (regression with a skewed or positive target).
"""
from __future__ import annotations

from typing import Any

from forgeml.data.infer import SKEW_THRESHOLD
from forgeml.data.schema import CATEGORICAL, DATETIME, MODELLED, NUMERIC, TEXT, Schema
from forgeml.features.select import FILTERS, RANKERS
from forgeml.models.base import Capabilities
from forgeml.pipeline.pipe import MAX_DROP_SHARE
from forgeml.space import Categorical, Condition, SearchSpace

NUMERIC_LIKE = (NUMERIC, DATETIME, TEXT)
SELECT_KEEP = (0.25, 0.5, 0.75)  # the fractions of features a ranking selector may keep


def _facts(schema: Schema) -> tuple[bool, bool, bool]:
    numeric = [c for c in schema.columns if c.kind in NUMERIC_LIKE]
    has_missing = any(c.missing_frac > 0 for c in numeric if c.kind in (NUMERIC, DATETIME))
    has_cat = any(c.kind == CATEGORICAL for c in schema.columns)
    return bool(numeric), has_missing, has_cat


def native_ok(cap: Capabilities) -> bool:
    """Native ``category`` columns carry NaN for missing and unseen values, so the family must handle both."""
    return cap.native_categorical and cap.handles_missing


def prep_defaults(capabilities: Capabilities, schema: Schema) -> dict[str, Any]:
    """A complete, sound set of ``Preprocessor`` choices for this family (used for anything not searched)."""
    cap = capabilities
    return {
        "impute": "none" if cap.handles_missing else "median",
        "indicators": not cap.handles_missing,
        "clip": "none",
        "scale": "standard" if cap.needs_scaling else "none",
        "cat_encoding": "native" if native_ok(cap) else ("ordinal" if cap.native_categorical else "onehot"),
        **ENGINEERING_OFF,
    }


#: The feature-engineering choices, all off: what a pipeline gets for anything not searched.
ENGINEERING_OFF: dict[str, Any] = {"generate": "none", "generate_k": 6, "skew": "none", "count_encoding": False,
                                   "group_stats": False, "cyclic_dates": False, "target_transform": "none"}
GENERATE_K = (4, 6, 8)  # how many top numeric columns the arithmetic terms combine


def _held(choices: tuple, default: Any) -> Categorical:
    return Categorical(choices, default=default, fixed_in_training=True)


def _late(choices: tuple, default: Any) -> Categorical:
    """An engineering or selection choice: a refinement the ``auto`` strategy tries once it has good pipelines."""
    return Categorical(choices, default=default, fixed_in_training=True, late=True)


def prep_space(capabilities: Capabilities, schema: Schema, engineering: bool = True) -> SearchSpace:
    """Unprefixed preprocessing parameters (``impute``, ``indicators``, ``scale``, ``clip``, ``cat_encoding``,
    and with ``engineering`` the feature-engineering choices) whose defaults equal ``prep_defaults``. All are
    ``fixed_in_training``: a model continued by PBT keeps the preprocessing it was trained with.

    With ``engineering`` also: generated features, skew transforms, count encoding, group statistics, cyclic
    dates and target transforms (``_engineering``); ``select`` (a ``FeatureSelector`` method, default
    ``"none"``: only the width cap), ``select_keep`` (the fraction the ranking methods keep) and, when a few rows
    have missing values, ``missing_rows`` (``"impute"`` or ``"drop"``); every one defaults to off."""
    cap = capabilities
    numeric, has_missing, has_cat = _facts(schema)
    d = prep_defaults(cap, schema)
    params: dict[str, Any] = {}
    conds: dict[str, Condition] = {}
    if numeric and has_missing:
        if cap.handles_missing:
            params["impute"] = _held(("none", "median"), "none")
            params["indicators"] = _held((True, False), True)
            conds["indicators"] = Condition("impute", ("median",))
        else:
            params["impute"] = _held(("median", "mean", "most_frequent"), "median")
            params["indicators"] = _held((True, False), True)
    if numeric and cap.needs_scaling:
        params["scale"] = _held(("standard", "robust", "quantile"), d["scale"])
        params["clip"] = _held(("none", "quantile", "iqr"), "none")
    if has_cat:
        if cap.native_categorical:
            choices = ("native", "ordinal", "onehot", "target") if native_ok(cap) else ("ordinal", "onehot", "target")
        else:
            choices = ("onehot", "target")
        params["cat_encoding"] = _held(choices, d["cat_encoding"])
    if engineering:
        _engineering(cap, schema, params, conds)
        _selection(params, conds, schema)
    return SearchSpace(params, conds)


def _selection(params: dict[str, Any], conds: dict[str, Condition], schema: Schema) -> None:
    """Feature selection and row deletion (issue 17): chi2 for classification only; ``missing_rows`` only when
    some, but at most ``MAX_DROP_SHARE``, of the rows have a missing value in a modelled column."""
    methods = ("none", *FILTERS, *(m for m in RANKERS if m != "chi2" or schema.task != "regression"))
    params["select"] = _late(methods, "none")
    params["select_keep"] = _late(SELECT_KEEP, 0.5)
    conds["select_keep"] = Condition("select", tuple(m for m in methods if m in RANKERS))
    share = float(schema.extra.get("incomplete_row_share", 0.0) or 0.0)
    has_missing = any(c.missing_frac > 0 for c in schema.columns if c.kind in MODELLED)
    if has_missing and 0.0 < share <= MAX_DROP_SHARE:
        params["missing_rows"] = _late(("impute", "drop"), "impute")


def _engineering(cap: Capabilities, schema: Schema, params: dict[str, Any], conds: dict[str, Condition]) -> None:
    """Add the feature-engineering choices that can matter for this schema and family (all default off)."""
    n_numeric = sum(c.kind in NUMERIC_LIKE for c in schema.columns)
    has_cat = any(c.kind == CATEGORICAL for c in schema.columns)
    if n_numeric >= 2:
        params["generate"] = _late(("none", "arithmetic"), "none")
        params["generate_k"] = _late(GENERATE_K, ENGINEERING_OFF["generate_k"])
        conds["generate_k"] = Condition("generate", ("arithmetic",))
    if cap.needs_scaling and schema.extra.get("skewed_numeric"):
        params["skew"] = _late(("none", "log1p", "sqrt", "yeo-johnson", "box-cox"), "none")
    if has_cat:
        params["count_encoding"] = _late((False, True), False)
        if any(c.kind == NUMERIC for c in schema.columns):
            params["group_stats"] = _late((False, True), False)
    if any(c.kind == DATETIME for c in schema.columns):
        params["cyclic_dates"] = _late((False, True), False)
    choices = target_transforms(schema)
    if len(choices) > 1:
        params["target_transform"] = _late(choices, "none")


def engineered_prep(capabilities: Capabilities, schema: Schema) -> dict[str, Any]:
    """The feature-engineering choices the schema's facts point to, for one extra warm-start config per family
    (``default_configs``): a skewed regression target gets Box-Cox (a positive target), log1p (non-negative) or
    Yeo-Johnson; skewed numeric columns get Yeo-Johnson in families that need scaling. Empty when the facts show
    no skew, so data without it costs no extra trial."""
    space = prep_space(capabilities, schema, engineering=True)
    out: dict[str, Any] = {}
    skew = schema.extra.get("target_skew")
    if "target_transform" in space and skew is not None and abs(skew) > SKEW_THRESHOLD:
        choices = space["target_transform"].choices
        out["target_transform"] = next(m for m in ("box-cox", "log1p", "yeo-johnson") if m in choices)
    if "skew" in space:
        out["skew"] = "yeo-johnson"
    return out


def target_transforms(schema: Schema) -> tuple[str, ...]:
    """The target transforms worth trying: regression whose target is skewed (``SKEW_THRESHOLD``) or positive,
    each transform only where the whole training target is in its domain."""
    if schema.task != "regression":
        return ("none",)
    skew, low = schema.extra.get("target_skew"), schema.extra.get("target_min")
    if skew is None or low is None or not (abs(skew) > SKEW_THRESHOLD or low > 0):
        return ("none",)
    ok = {"log1p": low > -1, "sqrt": low >= 0, "yeo-johnson": True, "box-cox": low > 0}
    return ("none", *(m for m, good in ok.items() if good))
