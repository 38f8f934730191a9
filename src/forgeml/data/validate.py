"""Edge checks: the one place where a user's table is judged, with messages that say what to do.

``validate_training`` runs once before any fitting; ``align_for_predict`` runs before every prediction and
turns a frame or array into the columns, order and value types the fitted pipeline saw.

Mixed-type object columns (numbers and strings together) are accepted: schema inference makes them
categorical and their values are compared as strings.
"""
from __future__ import annotations

import difflib
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.coerce import is_missing, to_datetime, to_numeric, to_string
from forgeml.data.infer import infer_task
from forgeml.data.schema import BOOLEAN, CATEGORICAL, DATETIME, MODELLED, NUMERIC, TEXT, Schema
from forgeml.errors import DataError, SchemaMismatchError, TargetError

# Values of a numeric column that may fail numeric coercion (becoming missing, with a warning) before it is an
# error: a few, or up to the 5% that schema inference tolerates when it calls a string column numeric.
MAX_BAD_VALUES = 3
MAX_BAD_SHARE = 0.05


def _names(cols: Any, limit: int = 20) -> str:
    cols = [str(c) for c in cols]
    more = f", ... ({len(cols) - limit} more)" if len(cols) > limit else ""
    return ", ".join(repr(c) for c in cols[:limit]) + more


def validate_training(df: pd.DataFrame, target: str, *, inf_as_nan: bool = False,
                      task: str | None = None) -> pd.DataFrame:
    """Check a training table and return it cleaned (rows with a missing target dropped, with a warning).

    Raises ``DataError`` for an empty table, duplicate column names, unhashable cell values or +/-inf in
    feature columns (unless ``inf_as_nan=True``, which turns them into missing values), and ``TargetError``
    for a target that is absent, entirely missing, infinite or constant. ``task`` (inferred when None) only
    decides whether single-row classes deserve a warning.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}; load files with read_table()")
    dup = [c for c, n in Counter(df.columns).items() if n > 1]
    if dup:
        raise DataError(f"duplicate column names: {_names(dup)}; rename them so that each column is unique")
    if target not in df.columns:
        close = difflib.get_close_matches(str(target), [str(c) for c in df.columns], n=3, cutoff=0.6)
        hint = f" Did you mean {_names(close)}?" if close else ""
        raise TargetError(f"target column {target!r} is not in the table.{hint} "
                          f"Available columns: {_names(df.columns)}")
    if len(df) == 0:
        raise DataError("the training table is empty (0 rows); pass a table with at least a few rows")
    if df.shape[1] < 2:
        raise DataError(f"the training table has no feature columns, only the target {target!r}; "
                        "add at least one feature column")
    _check_hashable(df)
    y = df[target]
    y_missing = is_missing(y)
    if y_missing.all():
        raise TargetError(f"the target column {target!r} is entirely missing ({len(df)} rows); "
                          "fill in the labels or choose another target")
    if y_missing.any():
        n = int(y_missing.sum())
        warnings.warn(f"dropping {n} of {len(df)} rows whose target {target!r} is missing", UserWarning,
                      stacklevel=2)
        df = df.loc[~y_missing]
        y = df[target]
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        f = y.astype("float64")
        if np.isinf(f).any():
            raise TargetError(f"the target column {target!r} holds {int(np.isinf(f).sum())} infinite values; "
                              "replace them with finite numbers or drop those rows")
    counts = y.value_counts()
    if len(counts) < 2:
        numeric = pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype)
        what = "constant" if numeric else "has only one class"
        raise TargetError(f"the target column {target!r} {what} ({counts.index[0]!r}): there is nothing to "
                          "learn; use a target with at least two distinct values")
    if (task or infer_task(y)) != "regression" and (counts < 2).any():
        rare = list(counts.index[counts < 2])
        warnings.warn(f"target classes with a single row: {_names(rare)}; they cannot be cross-validated "
                      "reliably", UserWarning, stacklevel=2)
    return _check_inf(df, target, inf_as_nan)


def _check_hashable(df: pd.DataFrame) -> None:
    bad = []
    for c in df.columns:
        if df[c].dtype == object:
            try:
                df[c].nunique()
            except TypeError:
                bad.append(c)
    if bad:
        raise DataError(f"columns holding lists, dicts or other unhashable values: {_names(bad)}; "
                        "flatten them into scalar columns first")


def _check_inf(df: pd.DataFrame, target: str, inf_as_nan: bool) -> pd.DataFrame:
    num = [c for c in df.columns if c != target and pd.api.types.is_float_dtype(df[c].dtype)]
    with_inf = [c for c in num if np.isinf(df[c].to_numpy(dtype="float64", na_value=np.nan)).any()]
    if not with_inf:
        return df
    if not inf_as_nan:
        raise DataError(f"infinite values (+/-inf) in columns {_names(with_inf)}; replace them with NaN "
                        "(e.g. df.replace([np.inf, -np.inf], np.nan)) or pass inf_as_nan=True")
    df = df.copy()
    for c in with_inf:
        df[c] = df[c].replace([np.inf, -np.inf], np.nan)
    return df


def align_for_predict(schema: Schema, X: Any) -> pd.DataFrame:
    """``X`` as a frame with the schema's columns, in schema order, with values coerced to the fitted types.

    Arrays are read by schema order. Missing modelled columns raise ``SchemaMismatchError``; extra columns
    are dropped with a ``UserWarning`` (the target column silently). Numbers sent as strings are converted;
    when more than a few values (and more than 5%) fail to convert, that is a ``SchemaMismatchError`` naming
    them. Also suitable for the training frame itself, so fit and predict see identically coerced values.
    """
    names = schema.names()
    if isinstance(X, pd.Series):
        X = X.to_frame().T if X.name is None or X.name not in names else X.to_frame()
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise SchemaMismatchError(f"expected a 2-D array with {len(names)} columns, got shape {X.shape}")
        if X.shape[1] != len(names):
            raise SchemaMismatchError(f"the array has {X.shape[1]} columns but the model was fit on "
                                      f"{len(names)}: {_names(names)}; pass a DataFrame or columns in that order")
        X = pd.DataFrame(X, columns=names)
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame or a 2-D NumPy array, got {type(X).__name__}")
    if len(X) == 0:
        raise DataError("the table to predict on is empty (0 rows)")
    dup = [c for c, n in Counter(X.columns).items() if n > 1]
    if dup:
        raise DataError(f"duplicate column names: {_names(dup)}; rename them so that each column is unique")
    present = set(X.columns)
    missing = [c for c in schema.names(MODELLED) if c not in present]
    if missing:
        raise SchemaMismatchError(f"missing columns the model was fit on: {_names(missing)}; "
                                  f"expected columns: {_names(names)}")
    extra = [c for c in X.columns if c not in set(names) and c != schema.target]
    if extra:
        warnings.warn(f"ignoring columns not seen at fit time: {_names(extra)}", UserWarning, stacklevel=2)
    out = {}
    for spec in schema.columns:
        if spec.name not in present:  # id / constant columns are not needed
            out[spec.name] = pd.Series(np.nan, index=X.index, dtype="float64")
            continue
        out[spec.name] = _coerce(X[spec.name], spec.kind, spec.name)
    return pd.DataFrame(out, index=X.index)


def _coerce(s: pd.Series, kind: str, name: Any) -> pd.Series:
    if kind == NUMERIC:
        if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
            return s
        num = to_numeric(s)
        bad = num.isna() & ~pd.Series(is_missing(s), index=s.index)
        n_values = max(1, int((~pd.Series(is_missing(s), index=s.index)).sum()))
        if int(bad.sum()) > MAX_BAD_VALUES and bad.sum() > MAX_BAD_SHARE * n_values:
            examples = list(dict.fromkeys(str(v) for v in s[bad]))[:5]
            raise SchemaMismatchError(
                f"column {name!r} was numeric at fit time but {int(bad.sum())} values are not numbers, e.g. "
                f"{_names(examples)}; send numbers (or leave them missing)")
        if bad.any():
            warnings.warn(f"column {name!r}: {int(bad.sum())} non-numeric values treated as missing",
                          UserWarning, stacklevel=3)
        return num
    if kind == DATETIME:
        return to_datetime(s)
    if kind in (CATEGORICAL, TEXT):
        return to_string(s)
    if kind == BOOLEAN:
        return s
    return s
