"""Edge checks: the one place where a user's table is judged, with messages that say what to do.

``validate_training`` runs once before any fitting; ``align_for_predict`` runs before every prediction and
turns a frame or array into the columns, order and value types the fitted pipeline saw.

Mixed-type object columns (numbers and strings together) are accepted: schema inference makes them
categorical and their values are compared as strings.
"""
from __future__ import annotations

import difflib
import warnings
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.coerce import is_missing, to_bool, to_categories, to_datetime, to_numeric, to_string, unreadable
from forgeml.data.infer import infer_column, infer_task
from forgeml.data.load import check_column_names
from forgeml.data.schema import BOOLEAN, CATEGORICAL, DATETIME, MODELLED, NUMERIC, TEXT, Schema
from forgeml.data.splits import MAX_RARE_CLASSES
from forgeml.errors import ConfigError, DataError, SchemaMismatchError, TargetError

# What to do with a value that cannot be read as its column's type (e.g. "abc" in a numeric column).
ON_BAD_VALUE = ("raise", "nan")
_SHOW = 5  # bad values or classes named in a message


def _names(cols: Any, limit: int = 20) -> str:
    cols = [str(c) for c in cols]
    more = f", ... ({len(cols) - limit} more)" if len(cols) > limit else ""
    return ", ".join(repr(c) for c in cols[:limit]) + more


def validate_training(df: pd.DataFrame, target: str, *, inf_as_nan: bool = False,
                      task: str | None = None) -> pd.DataFrame:
    """Check a training table and return it cleaned (rows with a missing target dropped, with a warning).

    Raises ``DataError`` for an empty table, duplicate column names, unhashable cell values or +/-inf in
    feature columns (unless ``inf_as_nan=True``, which turns them into missing values), and ``TargetError``
    for a target that is absent, entirely missing, infinite or constant, or (for classification; ``task`` is
    inferred when None) has more than ``MAX_RARE_CLASSES`` classes with a single row (see ``check_class_sizes``).
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}; load files with read_table()")
    check_column_names(df)
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
        what = "has a single value" if numeric else "has only one class"
        raise TargetError(f"the target column {target!r} {what} ({_plain(counts.index[0])}): there is nothing to "
                          "learn; use a target with at least two distinct values")
    if (task or infer_task(y)) != "regression":
        check_class_sizes(counts, target)
    return _check_inf(df, target, inf_as_nan)


def _plain(v: Any) -> str:
    """A value as the user wrote it: ``1`` and ``'yes'``, not ``np.int64(1)``."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def check_class_sizes(counts: pd.Series, target: str) -> None:
    """Classes with a single row: up to ``MAX_RARE_CLASSES`` are a warning (cross-validation scores them but
    cannot also train on them); more are a ``TargetError`` up front, since they point at a target that is not
    a set of classes (or needs its rare classes merged), and trials would only fail or run out of time.

    ``counts`` holds the number of rows per class label (``y.value_counts()``).
    """
    rare = counts[counts < 2]
    if len(rare) == 0:
        return
    shown = ", ".join(_plain(v) for v in rare.index[:_SHOW]) + (", ..." if len(rare) > _SHOW else "")
    if len(rare) <= MAX_RARE_CLASSES:
        warnings.warn(f"target classes with a single row: {shown}; they cannot be cross-validated reliably",
                      UserWarning, stacklevel=3)
        return
    numeric = pd.api.types.is_numeric_dtype(counts.index.dtype) and not pd.api.types.is_bool_dtype(counts.index)
    hint = "; or fit a regression (task='regression', AutoRegressor) since the target is numeric" if numeric else ""
    raise TargetError(f"the target column {target!r} has {len(rare)} of {len(counts)} classes with fewer than 2 rows "
                      f"({shown}): cross-validation can neither train on nor score them. Merge rare classes into "
                      f"larger ones (e.g. an 'other' class) or drop their rows{hint}")


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


def check_values(df: pd.DataFrame, target: str, *, on_bad_value: str = "raise",
                 inf_as_nan: bool = False) -> pd.DataFrame:
    """The training table with no value silently changed: cells of a numeric, date or yes/no column (as schema
    inference will type it) that cannot be read as that type are a ``DataError`` naming column, row and value,
    or, with ``on_bad_value="nan"``, missing values with a ``UserWarning`` naming them. ``"inf"`` written as
    text follows ``inf_as_nan`` as real infinities do. Only text-like columns can hold such values.

    Run before the fit infers its schema; the kinds it infers afterwards are unchanged (only unreadable cells
    become missing).
    """
    check_on_bad_value(on_bad_value)
    keep = ~is_missing(df[target]) if target in df.columns else np.ones(len(df), dtype=bool)
    out = df
    for c in df.columns:
        s = df[c]
        if c == target or (pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)):
            continue
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        try:
            kind = infer_column(s[keep], name=c).kind
        except TypeError:  # unhashable cells: validate_training names them
            continue
        if kind not in (NUMERIC, DATETIME, BOOLEAN):
            continue
        converted = _read_as(s, kind, c, on_bad_value, inf_as_nan, DataError, "in the training table")
        lost = unreadable(s, converted)  # reported above, now missing
        if lost.any():
            if out is df:
                out = df.copy()
            out[c] = s.astype(object).where(~lost, np.nan)
    return out


def check_on_bad_value(on_bad_value: Any) -> None:
    """``ConfigError`` unless ``on_bad_value`` is one of ``ON_BAD_VALUE``."""
    if on_bad_value not in ON_BAD_VALUE:
        raise ConfigError(f"on_bad_value must be one of {', '.join(map(repr, ON_BAD_VALUE))}, got {on_bad_value!r}")


def align_for_predict(schema: Schema, X: Any, *, on_bad_value: str = "raise", inf_as_nan: bool = False,
                      keep_categories: bool = False) -> pd.DataFrame:
    """``X`` as a frame with the schema's columns, in schema order, with values coerced to the fitted types.

    Arrays are read by schema order. Missing modelled columns raise ``SchemaMismatchError``; extra columns
    are dropped with a ``UserWarning`` (the target column silently). Numbers and dates sent as strings are
    converted. No value is changed silently: a value that cannot be read as its column's fitted type (numeric,
    datetime, yes/no) is a ``SchemaMismatchError`` naming the column, the row (index label) and the value,
    unless ``on_bad_value="nan"``, which reads it as missing with a warning; +/-inf in a numeric column is an
    error unless ``inf_as_nan=True`` (as at fit). Blank cells and markers such as ``"NA"`` are missing values.
    Also suitable for the training frame itself, so fit and predict see identically coerced values.
    Categorical columns come out as strings; ``keep_categories=True`` (the training frame, with
    ``compact_categoricals``) keeps a ``category`` column as codes with its categories renamed to strings.
    """
    check_on_bad_value(on_bad_value)
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
    check_column_names(X)
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
        if keep_categories and spec.kind == CATEGORICAL and isinstance(X[spec.name].dtype, pd.CategoricalDtype):
            out[spec.name] = to_categories(X[spec.name])  # no pass over the rows, no string per cell
            continue
        out[spec.name] = _coerce(X[spec.name], spec.kind, spec.name, on_bad_value, inf_as_nan)
    return pd.DataFrame(out, index=X.index)


def compact_categoricals(schema: Schema, X: pd.DataFrame) -> pd.DataFrame:
    """An aligned training frame with its categorical columns as ``category`` (``to_categories``).

    The training frame is held by the run and copied into each worker; strings cost a pointer and an object per
    cell (750,000 rows x 15 columns: ~200 MB more than codes). Predict-time frames stay as they come: one row pays
    nothing for codes, and the encoders read both forms alike.
    """
    cats = [c.name for c in schema.columns if c.kind == CATEGORICAL and c.name in X.columns
            and not isinstance(X[c.name].dtype, pd.CategoricalDtype)]
    return _converted(X, cats, to_categories)


def as_sent(X: pd.DataFrame) -> pd.DataFrame:
    """A training frame's rows as a caller sends them to ``predict``: ``category`` columns as strings (what
    ``align_for_predict`` makes of an object column), so timing them measures what a request costs."""
    return _converted(X, [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)], to_string)


def _converted(X: pd.DataFrame, columns: list, convert: Any) -> pd.DataFrame:
    """``X`` with ``columns`` replaced by ``convert`` of each (``X`` itself when there are none; never changed)."""
    if not columns:
        return X
    out = X.copy(deep=False)
    for c in columns:
        out[c] = convert(X[c])
    return out


def _coerce(s: pd.Series, kind: str, name: Any, on_bad_value: str, inf_as_nan: bool) -> pd.Series:
    if kind in (NUMERIC, DATETIME, BOOLEAN):
        return _read_as(s, kind, name, on_bad_value, inf_as_nan, SchemaMismatchError, "at fit time")
    if kind in (CATEGORICAL, TEXT):
        return to_string(s)
    return s


_TYPE_WORDS = {NUMERIC: "a number", DATETIME: "a date/time", BOOLEAN: "a yes/no value"}


def _read_as(s: pd.Series, kind: str, name: Any, on_bad_value: str, inf_as_nan: bool, error: type[DataError],
             when: str) -> pd.Series:
    """``s`` read as ``kind``, unreadable values and infinities handled by the policy (booleans stay raw: the
    preprocessing maps them, but unreadable ones become NaN here so that nothing is dropped unseen)."""
    plain_numbers = pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype)
    if kind == NUMERIC:
        out = s if plain_numbers else to_numeric(s)
    elif kind == DATETIME:
        out = to_datetime(s)
    else:
        if pd.api.types.is_bool_dtype(s.dtype) or plain_numbers:
            return s
        out = s
    converted = to_bool(s) if kind == BOOLEAN else out
    if not plain_numbers:
        bad = unreadable(s, converted)
        if bad.any():
            _report(s, bad, name, f"not readable as {_TYPE_WORDS[kind]} (the column's type {when})", error,
                    on_bad_value, "fix or remove them (leave a cell empty for a missing value), or pass "
                    "on_bad_value='nan' to read them as missing")
            out = out.where(~bad, np.nan) if kind != BOOLEAN else s.astype(object).where(~bad, np.nan)
    if kind == NUMERIC and pd.api.types.is_float_dtype(out.dtype):
        inf = np.isinf(out.to_numpy(dtype="float64", na_value=np.nan))
        if inf.any():
            if not inf_as_nan:
                _report(s, inf, name, "equal to +/-inf", error, "raise",
                        "replace them with NaN or pass inf_as_nan=True to read them as missing")
            out = out.where(~inf, np.nan)
    return out


def _report(s: pd.Series, bad: np.ndarray, name: Any, what: str, error: type[DataError], on_bad_value: str,
            fix: str) -> None:
    n = int(bad.sum())
    rows = s.index[bad][:_SHOW]
    shown = ", ".join(f"row {_plain(r)}: {_plain(v)}" for r, v in zip(rows, s[bad].iloc[:_SHOW]))
    more = f" and {n - _SHOW} more" if n > _SHOW else ""
    values = "value" if n == 1 else "values"
    if on_bad_value == "raise":
        raise error(f"column {name!r}: {n} {values} {what}: {shown}{more}; {fix}")
    warnings.warn(f"column {name!r}: {n} {values} {what}, read as missing (on_bad_value='nan'): {shown}{more}",
                  UserWarning, stacklevel=4)
