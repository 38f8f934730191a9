"""Small helpers shared by the transformers: DataFrame in, DataFrame out."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import NotFittedError


def as_frame(X: Any, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """``X`` as a DataFrame (arrays get ``columns`` or ``x0..xn``); never copies a DataFrame."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    arr = np.asarray(X, dtype=object if not hasattr(X, "dtype") else None)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    cols = list(columns) if columns is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=cols)


INDEXES = "_indexes"  # the instance attribute ``index_of`` keeps its Index objects in: leave it out of pickles


def index_of(est: Any, name: str, source: Any, labels: Callable[[], Iterable[Any]] | None = None) -> pd.Index:
    """A fitted step's output columns as one ``pd.Index``, made once: a frame given a list of labels builds a new
    Index every call (80 us, a large share of a one-row request). ``source`` is the fitted attribute the labels
    come from (``labels()``, or ``source`` itself): a refit replaces it, and with it the Index."""
    cache = est.__dict__.setdefault(INDEXES, {})
    hit = cache.get(name)
    if hit is not None and hit[0] is source:
        return hit[1]
    index = pd.Index(list(labels() if labels is not None else source))
    cache[name] = (source, index)
    return index


class Rows:
    """A request's few transformed rows as one float64 array with its columns' labels (an Index a step made once):
    what the steps hand each other on a prediction of at most ``FEW_ROWS`` rows instead of a DataFrame. Building
    a frame per step and reading it back column by column cost more than the steps' arithmetic (about a third of a
    one-row request of a fifteen-pipeline ensemble). ``codes`` maps the positions of native ``category`` columns
    (categories ``0..k-1``, as forgeml's encoder makes them) to ``k``: they hold their codes, NaN for missing, as
    the models that read codes take them. ``frame()`` gives the DataFrame the step's ``transform`` returns."""

    __slots__ = ("values", "columns", "index", "codes")

    def __init__(self, values: np.ndarray, columns: pd.Index, index: pd.Index,
                 codes: dict[int, int] | None = None) -> None:
        self.values, self.columns, self.index, self.codes = values, columns, index, codes or None

    def __len__(self) -> int:
        return len(self.values)

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame(self.values, index=self.index, columns=self.columns, copy=False)
        for j, k in (self.codes or {}).items():  # a new column each: the array itself is not written into
            v = self.values[:, j]
            out.isetitem(j, pd.Categorical.from_codes(np.where(np.isnan(v), -1, v).astype(np.int64),
                                                      categories=pd.RangeIndex(k)))
        return out

    def taken(self, pos: np.ndarray, columns: pd.Index) -> Rows:
        """The columns at ``pos``, under the labels ``columns``."""
        codes = None if not self.codes else {i: self.codes[int(j)] for i, j in enumerate(pos) if int(j) in self.codes}
        return Rows(self.values[:, pos], columns, self.index, codes)


def positions_in(est: Any, name: str, columns: pd.Index, wanted: Any) -> np.ndarray | None:
    """Where the labels ``wanted`` sit in ``columns`` (None when one is missing), memoised on ``est`` for the very
    ``columns`` object (the producing step's Index, made once) and ``wanted`` object (a fitted attribute: a refit
    in place replaces it) like ``index_of``, and left out of pickles."""
    cache = est.__dict__.setdefault(INDEXES, {})
    hit = cache.get(name)
    if hit is not None and hit[0] is columns and hit[2] is wanted:
        return hit[1]
    at = {str(c): j for j, c in enumerate(columns)}
    try:
        pos = np.array([at[str(c)] for c in wanted], dtype=np.intp)
    except KeyError:
        pos = None
    cache[name] = (columns, pos, wanted)
    return pos


def in_order(pos: np.ndarray | None, width: int) -> bool:
    """Whether ``positions_in`` found every one of ``width`` columns where it already is."""
    return pos is not None and len(pos) == width and bool(np.array_equal(pos, np.arange(width)))


def without_caches(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a pickled step's state without what ``index_of`` keeps: saved models and the digests by which
    identically fitted members share their steps must not depend on whether a step has predicted."""
    state = dict(state)  # (``object.__getstate__`` hands over the instance's own ``__dict__``)
    state.pop(INDEXES, None)
    return state


def dense(a: Any) -> np.ndarray:
    """A dense float64 array from an sklearn output (array, sparse matrix or DataFrame)."""
    if hasattr(a, "toarray"):
        a = a.toarray()
    return np.asarray(a, dtype="float64")


def check_fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"this {type(est).__name__} is not fitted yet; call fit first")


_BAD = re.compile(r"[^0-9A-Za-z_]+")


def safe_names(names: Iterable[Any]) -> list[str]:
    """Unique ASCII identifiers: LightGBM and XGBoost reject JSON characters and brackets in feature names."""
    out: list[str] = []
    seen: set[str] = set()
    for n in names:
        base = _BAD.sub("_", str(n)).strip("_") or "f"
        name, i = base, 2
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        out.append(name)
    return out
