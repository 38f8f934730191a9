"""Guess the task from the target and each column's kind from its values.

The rules are deliberately simple and documented, because a user who disagrees must be able to predict them:

* task: text/bool/category targets are classification; numbers with fractional values, or integer values with
  more than ``MAX_INT_CLASSES`` (10) distinct values, are regression (counts such as goals or visits are far
  more common targets than integer-coded classes beyond ten); two classes make it binary. Pass ``task=``
  explicitly when this guess is wrong.
* kinds: ``constant`` (at most one distinct non-missing value), ``boolean`` (bool dtype or a yes/no-like pair),
  ``datetime`` (datetime dtype, or strings of which >= 90% parse as dates), ``numeric`` (numeric dtype, or
  strings of which >= 95% parse as numbers, unless they are codes: only whole numbers, or some with a leading
  zero, are categorical), ``id`` (all-unique identifier-like values), ``text`` (long,
  mostly unique, multi-word strings), else ``categorical``. An object column mixing numbers and strings is
  categorical: its values are compared as strings.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.coerce import as_text, looks_boolean, to_datetime, to_numeric, to_string
from forgeml.data.schema import (
    BOOLEAN,
    CATEGORICAL,
    CONSTANT,
    DATETIME,
    ID,
    MODELLED,
    NUMERIC,
    TEXT,
    ColumnSpec,
    Schema,
)
from forgeml.errors import ConfigError, TargetError

TASKS = ("binary", "multiclass", "regression")
MAX_INT_CLASSES = 10  # integer targets with more distinct values are regression
MAX_CATEGORIES = 200  # categories stored in the schema per column (most frequent first)
_SAMPLE = 2000  # values examined when parsing strings
SKEW_THRESHOLD = 1.0  # |skewness| above which a numeric column (or regression target) counts as skewed
_ID_NAME = re.compile(r"(^|[_\s\-.])(id|ids|uuid|guid|key|index)$|^id[_\s\-.]|^unnamed:?\s*\d*$", re.IGNORECASE)


def infer_task(y: pd.Series) -> str:
    """``"binary"``, ``"multiclass"`` or ``"regression"`` for target values ``y``."""
    y = pd.Series(y)
    vals = y.dropna()
    if len(vals) == 0:
        raise TargetError("the target has no non-missing values, so the task cannot be inferred")
    dtype = vals.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype) \
        and not isinstance(dtype, pd.CategoricalDtype)
    n_unique = int(vals.nunique())
    if numeric:
        f = vals.astype("float64").to_numpy()
        if not np.all(np.isfinite(f)) or not np.all(np.mod(f, 1) == 0):
            return "regression"
        if n_unique > MAX_INT_CLASSES:
            return "regression"
    return "binary" if n_unique <= 2 else "multiclass"


def infer_schema(df: pd.DataFrame, target: str, task: str | None = None) -> Schema:
    """The ``Schema`` of a validated training frame: every non-target column's kind and statistics."""
    if target not in df.columns:
        raise TargetError(f"target column {target!r} is not in the table")
    y = df[target]
    if task is None:
        task = infer_task(y)
    elif task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    classes: tuple = ()
    if task != "regression":
        classes = tuple(_sorted_labels(y.dropna().unique()))
    columns = tuple(infer_column(df[c], name=c) for c in df.columns if c != target)
    extra = skew_facts(df, columns, y, task)
    modelled = [c.name for c in columns if c.kind in MODELLED]
    # the share of rows with a missing value in a modelled column: whether dropping them is worth searching
    extra["incomplete_row_share"] = round(float(df[modelled].isna().any(axis=1).mean()), 6) \
        if modelled and len(df) else 0.0
    return Schema(columns=columns, target=target, task=task, classes=classes, target_dtype=str(y.dtype),
                  extra=extra)


def skew_facts(df: pd.DataFrame, columns: tuple[ColumnSpec, ...], y: pd.Series, task: str) -> dict:
    """Facts the feature-engineering search needs (JSON values, read with ``.get``): ``skewed_numeric``, the
    numeric columns whose |skewness| exceeds ``SKEW_THRESHOLD``; for regression ``target_skew``, ``target_min``."""
    skewed = []
    for c in columns:
        if c.kind == NUMERIC and c.n_unique > 2 and abs(_skew(to_numeric(df[c.name]))) > SKEW_THRESHOLD:
            skewed.append(str(c.name))
    out: dict = {"skewed_numeric": skewed}
    if task == "regression":
        t = to_numeric(y)
        out["target_skew"] = round(_skew(t), 6)
        out["target_min"] = float(t.min()) if t.notna().any() else 0.0
    return out


def _skew(s: pd.Series) -> float:
    v = s.to_numpy(dtype="float64", na_value=np.nan)
    v = v[np.isfinite(v)]  # every value: one vectorised pass is cheaper than drawing a sample without replacement
    sd = v.std() if len(v) > 2 else 0.0
    if not sd > 0:
        return 0.0
    z = (v - v.mean()) / sd
    return float(np.mean(z * z * z))  # not z ** 3: a float power is several times slower


def _sorted_labels(labels: np.ndarray) -> list:
    vals = [v.item() if isinstance(v, np.generic) else v for v in labels]
    try:
        return sorted(vals)
    except TypeError:  # mixed types: order by their string form, stable across runs
        return sorted(vals, key=lambda v: (type(v).__name__, str(v)))


def infer_column(s: pd.Series, name: str | None = None) -> ColumnSpec:
    """The ``ColumnSpec`` for one column."""
    name = s.name if name is None else name
    if isinstance(s.dtype, pd.CategoricalDtype):
        spec = _category_column(s, name)
        if spec is not None:
            return spec
    n = len(s)
    miss = s.isna()
    missing_frac = float(miss.mean()) if n else 0.0
    present = s[~miss]
    try:
        n_unique = int(present.nunique())
    except TypeError:  # unhashable values: validate_training rejects these; describe as strings here
        present = to_string(present)
        n_unique = int(present.nunique())
    kind = _kind(present, n_unique, str(name))
    cats: tuple = ()
    if kind in (CATEGORICAL, BOOLEAN):
        counts = to_string(present).value_counts()
        cats = tuple(str(v) for v in counts.index[:MAX_CATEGORIES])
    return ColumnSpec(name=name, kind=kind, dtype=str(s.dtype), missing_frac=round(missing_frac, 6),
                      n_unique=n_unique, categories=cats)


def _category_column(s: pd.Series, name: Any) -> ColumnSpec | None:
    """``infer_column`` of a ``category`` column from its per-category counts: no pass over the rows as strings
    (a 750,000-row column: ~0.1 s instead of ~1 s). None when two categories read as the same string (``1`` and
    ``"1"``), which the general path handles."""
    counts = s.value_counts(sort=False)  # by category, NaN excluded; unused categories count 0
    counts = counts[counts.to_numpy() > 0]
    labels = [as_text(v) for v in counts.index]
    if len(set(labels)) != len(labels):
        return None
    n_unique = len(counts)
    order = np.lexsort((np.asarray(labels, dtype=str), -counts.to_numpy())) if n_unique else np.arange(0)
    values = pd.Series(counts.index.take(order[:3]), dtype=object)  # two values decide yes/no-ness
    kind = CONSTANT if n_unique <= 1 else (
        BOOLEAN if n_unique == 2 and looks_boolean(values) else CATEGORICAL)
    cats = tuple(labels[i] for i in order[:MAX_CATEGORIES]) if kind in (CATEGORICAL, BOOLEAN) else ()
    missing_frac = float(s.isna().mean()) if len(s) else 0.0
    return ColumnSpec(name=name, kind=kind, dtype=str(s.dtype), missing_frac=round(missing_frac, 6),
                      n_unique=n_unique, categories=cats)


def _kind(present: pd.Series, n_unique: int, name: str) -> str:
    dtype = present.dtype
    if n_unique <= 1:
        return CONSTANT
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return DATETIME
    if isinstance(dtype, pd.CategoricalDtype):
        return BOOLEAN if n_unique == 2 and looks_boolean(present) else CATEGORICAL
    if pd.api.types.is_timedelta64_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_numeric_dtype(dtype):
        if _is_integer_id(present, n_unique, name):
            return ID
        return NUMERIC
    return _object_kind(present, n_unique, name)


def _is_integer_id(present: pd.Series, n_unique: int, name: str) -> bool:
    if n_unique != len(present) or n_unique < 3:
        return False
    f = present.astype("float64").to_numpy()
    if not np.all(np.mod(f[np.isfinite(f)], 1) == 0):
        return False
    if not _ID_NAME.search(name.strip()):
        return False
    diffs = np.diff(f)
    return bool(np.all(diffs > 0) or np.all(diffs < 0) or len(present) >= 20)


def _object_kind(present: pd.Series, n_unique: int, name: str) -> str:
    sample = present.sample(_SAMPLE, random_state=0) if len(present) > _SAMPLE else present
    if n_unique == 2 and looks_boolean(present):
        return BOOLEAN
    if all(isinstance(v, (bool, np.bool_)) for v in sample):
        return BOOLEAN
    strings = to_string(sample)
    if to_numeric(sample).notna().mean() >= 0.95:
        return _codes_kind(strings, n_unique, len(present), name) or NUMERIC
    has_digit = strings.str.contains(r"\d", regex=True).mean() >= 0.9
    if has_digit and strings.str.len().mean() >= 6 and to_datetime(sample).notna().mean() >= 0.9:
        return DATETIME
    unique_frac = n_unique / max(1, len(present))
    words = strings.str.split().str.len()
    if unique_frac >= 0.5 and words.mean() >= 3 and strings.str.len().mean() >= 15:
        return TEXT
    if unique_frac == 1.0 and (len(present) >= 20 or _ID_NAME.search(name.strip())) and words.max() <= 1:
        return ID
    return CATEGORICAL


_DIGITS = re.compile(r"^\d+$")


def _codes_kind(strings: pd.Series, n_unique: int, n: int, name: str) -> str | None:
    """Codes written with digits (zip codes, product or school ids, "1"/"2"/"3" for regions) are stored as text
    on purpose: a loader that met plain integers would have made the column numeric. So text holding only
    whole numbers, or any with a leading zero, is categorical (an identifier when all values differ); text with
    decimals, signs or a few stray values ("3.5", "-2", "n/a") stays numeric."""
    s = strings.str.strip()
    digits = s.str.match(_DIGITS)
    if not (digits.all() or (digits.mean() >= 0.95 and (s[digits].str.len().gt(1) & s[digits].str.startswith("0"))
                                                         .any())):
        return None
    if n_unique == n and (n >= 20 or _ID_NAME.search(name.strip())):
        return ID
    return CATEGORICAL

