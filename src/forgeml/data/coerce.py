"""Value coercions shared by inference, predict-time alignment and the transformers.

One place decides how a raw column becomes numbers, dates, strings or 0/1, so that schema inference, the
predict-time checks and the fitted preprocessing agree on what a value means.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

# Strings that mean "no value" rather than a bad value: blank cells and the markers ``pandas.read_csv`` reads
# as missing by default, so a frame built in memory means the same as the CSV file it came from.
NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "0", "0.0"})

#: up to this many rows (a request's) a column is read value by value in Python: pandas' vectorised calls cost tens
#: of microseconds each whatever the length, most of a one-row prediction
FEW_ROWS = 64


# (frame id, column, reading) -> (the frame, the column so read), while ``request_columns`` is open
_REQUEST: ContextVar[dict | None] = ContextVar("forgeml_request_columns", default=None)


@contextlib.contextmanager
def request_columns() -> Iterator[None]:
    """Within, ``request_column`` reads each raw column of a request once for every pipeline of an ensemble: a
    bagged ensemble's fifteen preprocessors read the same row's columns (a cell-by-cell boolean reading is about
    8 us a column). Scoped to one prediction, so a frame changed in place between two calls is read again."""
    token = _REQUEST.set({})
    try:
        yield
    finally:
        _REQUEST.reset(token)


def request_memo(X: object, key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``, memoised per object ``X`` (a request's frame) and ``key`` inside ``request_columns``. What it
    returns is shared: callers copy out of it and never write into it."""
    cache = _REQUEST.get()
    if cache is None:
        return make()
    full = (id(X), key)
    hit = cache.get(full)
    if hit is None or hit[0] is not X:  # the frame is kept with its values: its id is not reused meanwhile
        hit = cache[full] = (X, make())
    return hit[1]


def request_column(X: pd.DataFrame, column: object, how: str, read: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """``read(X[column])``, read once per request (``request_memo``)."""
    return request_memo(X, (column, how), lambda: read(X[column]))


def codes_are_values(dtype: pd.CategoricalDtype) -> bool:
    """Whether each category is its own code (``pd.RangeIndex(k)``: how forgeml hands models their categories)."""
    cats = dtype.categories
    return isinstance(cats, pd.RangeIndex) and cats.start == 0 and cats.step == 1


def scalar_missing(v: object) -> bool:
    """``is_missing`` of one cell: None, NaN, NaT and pd.NA (a list or other container is a value, not missing)."""
    if isinstance(v, str):  # most cells: no call into pandas
        return False
    r = pd.isna(v)
    return bool(r) if isinstance(r, (bool, np.bool_)) else False


def is_missing(s: pd.Series) -> np.ndarray:
    """Missing mask that treats None, NaN, NaT and pd.NA alike."""
    return np.asarray(s.isna(), dtype=bool)


def is_missing_like(s: pd.Series) -> np.ndarray:
    """``is_missing`` plus strings that only mark a missing value (blank, ``"NA"``, ``"null"``, ...)."""
    miss = is_missing(s)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        marker = s.map(lambda v: isinstance(v, str) and v.strip() in NA_STRINGS)
        miss = miss | marker.to_numpy(dtype=bool, na_value=False)
    return miss


def unreadable(s: pd.Series, converted: pd.Series) -> np.ndarray:
    """Mask of the entries of ``s`` that hold a value but became missing in ``converted`` (same index)."""
    if len(s) <= FEW_ROWS:
        lost = np.array([scalar_missing(c) and not scalar_missing(v)
                         for v, c in zip(s.to_numpy(dtype=object), converted.to_numpy(dtype=object))], dtype=bool)
    else:
        lost = np.asarray(converted.isna(), dtype=bool) & ~is_missing(s)
    if lost.any():  # look for missing-value markers among those only
        lost[lost] = ~is_missing_like(s[lost])
    return lost


def to_numeric(s: pd.Series) -> pd.Series:
    """Float64 values; unparseable entries become NaN, +/-inf stays (callers decide), bools become 0/1."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds().astype("float64")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return epoch_seconds(to_datetime(s))
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype("float64")
    vals = s.astype(object)
    vals = vals.where(~is_missing(vals), np.nan)
    if vals.map(lambda v: isinstance(v, str)).any():
        vals = vals.map(lambda v: v.strip() if isinstance(v, str) else v)
    return pd.to_numeric(vals, errors="coerce").astype("float64")


def to_datetime(s: pd.Series) -> pd.Series:
    """Naive UTC datetimes; unparseable entries become NaT.

    Strings are parsed with one inferred format first (fast, consistent) and element-wise only when that
    fails for most values. Time-zone aware values are converted to UTC and made naive.
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s
    else:
        vals = s.astype(object).where(~is_missing(s), None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = pd.to_datetime(vals, errors="coerce", utc=True)
            except (ValueError, TypeError, OverflowError):
                out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
            n_ok, n_val = int(out.notna().sum()), int((~is_missing(s)).sum())
            if n_val and n_ok < 0.9 * n_val:
                try:
                    alt = pd.to_datetime(vals, errors="coerce", utc=True, format="mixed")
                    if int(alt.notna().sum()) > n_ok:
                        out = alt
                except (ValueError, TypeError, OverflowError):
                    pass
    if getattr(out.dtype, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def epoch_seconds(dt: pd.Series) -> pd.Series:
    """Seconds since 1970-01-01 as float64 (NaN for NaT)."""
    ns = dt.astype("datetime64[ns]")
    out = ns.astype("int64").astype("float64") / 1e9
    return out.where(ns.notna(), np.nan)


def to_string(s: pd.Series) -> pd.Series:
    """Object Series of ``str`` values with missing entries as ``np.nan`` (mixed types become strings)."""
    if len(s) <= FEW_ROWS:  # the same values, one cell at a time
        return pd.Series([np.nan if scalar_missing(v) else as_text(v) for v in s.to_numpy(dtype=object)],
                         index=s.index, name=s.name, dtype=object)
    vals = s.astype(object)  # a copy, whatever the dtype: callers may write into it
    miss = is_missing(vals)
    if pd.api.types.infer_dtype(vals, skipna=True) in ("string", "empty"):  # already strings: no per-value work
        return vals.where(~miss, np.nan) if miss.any() else vals
    out = vals.map(as_text)
    out[miss] = np.nan
    return out.astype(object)


def to_categories(s: pd.Series) -> pd.Series:
    """``to_string``'s values as a ``category`` column (unordered, missing as NaN).

    One copy of each distinct string and a small integer code per row: on a large table a column of strings costs
    a pointer per cell plus its objects, which workers would each copy. A ``category`` input only has its
    categories renamed (no pass over the rows).
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        names = [as_text(v) for v in cats]
        if len(set(names)) == len(names):  # distinct as strings: rename in place of re-encoding every row
            out = s.cat.set_categories(pd.Index(names, dtype=object), rename=True).cat.as_unordered()
            return out.copy() if out is s else out
    return pd.Series(pd.Categorical(to_string(s)), index=s.index, name=s.name)


def has_string_categories(s: pd.Series) -> bool:
    """A ``category`` column whose categories are all ``str``: already what ``to_categories`` makes."""
    return (isinstance(s.dtype, pd.CategoricalDtype) and s.cat.categories.dtype == object
            and all(isinstance(v, str) for v in s.cat.categories))


def as_text(v: object) -> str:
    """One value as the text categorical encoders compare: whole floats without ".0", booleans as True/False."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def to_bool(s: pd.Series) -> pd.Series:
    """Float64 0/1 values for a boolean column; unrecognised and missing entries become NaN."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64")
    if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        f = s.astype("float64")
        return (f != 0).astype("float64").where(f.notna(), np.nan)
    if len(s) <= FEW_ROWS:
        return pd.Series(bool_array(s), index=s.index, name=s.name, dtype="float64")
    try:
        codes, uniques = pd.factorize(s.to_numpy(dtype=object))  # each distinct value read once (missing: -1)
    except TypeError:  # an unhashable cell (a list, a dict): read cell by cell, it becomes NaN like any stray value
        return pd.Series(bool_array(s), index=s.index, name=s.name, dtype="float64")
    table = np.array([_BOOL_WORD.get(as_text(u).strip().lower(), np.nan) for u in uniques] + [np.nan])
    return pd.Series(table[codes], index=s.index, name=s.name, dtype="float64")


def bool_array(s: pd.Series) -> np.ndarray:
    """``to_bool(s)``'s values, read cell by cell when ``s`` holds objects (meant for a few rows: ``FEW_ROWS``)."""
    if pd.api.types.is_bool_dtype(s.dtype) or (pd.api.types.is_numeric_dtype(s.dtype)
                                               and not isinstance(s.dtype, pd.CategoricalDtype)):
        return to_bool(s).to_numpy()
    return np.array([np.nan if scalar_missing(v) else _BOOL_WORD.get(as_text(v).strip().lower(), np.nan)
                     for v in s.to_numpy(dtype=object)], dtype="float64")


_BOOL_WORD = {**{w: 1.0 for w in TRUE_WORDS}, **{w: 0.0 for w in FALSE_WORDS}}


def looks_boolean(values: pd.Series) -> bool:
    """True for a column whose distinct non-missing values are a true/false pair such as yes/no."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    uniq = {as_text(v).strip().lower() for v in values.dropna().unique()}
    if len(uniq) != 2 or all(u.replace(".", "", 1).isdigit() for u in uniq):
        return False
    return len(uniq & TRUE_WORDS) == 1 and len(uniq & FALSE_WORDS) == 1
