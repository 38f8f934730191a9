"""Categorical encoders: one-hot, ordinal, out-of-fold target encoding and native ``category`` columns.

Values are compared as strings (``forgeml.data.coerce.to_string``) so a column read from CSV at predict time
matches the one seen at fit time. Unseen categories and missing values never raise at transform time.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.data.coerce import FEW_ROWS, as_text, has_string_categories, scalar_missing, to_string
from forgeml.errors import ConfigError
from forgeml.features._frame import as_frame, check_fitted, dense, index_of, without_caches

METHODS = ("onehot", "ordinal", "target", "native")
TARGET_TYPES = ("auto", "binary", "multiclass", "continuous")
#: Up to this many rows one-hot encoding reads a lookup table made from the fitted encoder's own answers
#: (``_OneHotLookup``): scikit-learn's transform checks its input for about a millisecond per call, most of a
#: one-row prediction's preprocessing. ``category`` columns (a training frame's) read it at any size, through
#: their codes: scikit-learn would turn every cell into a Python string first.
FAST_ROWS = FEW_ROWS


class CategoricalEncoder(TransformerMixin, BaseEstimator):
    """Encode categorical columns by ``method``.

    * ``"onehot"``: one 0/1 column per category seen at least ``min_frequency`` times (rarer and unseen
      categories share an "infrequent" column); columns with more than ``max_onehot`` distinct values are
      target-encoded instead, so one-hot never explodes the width.
    * ``"ordinal"``: one integer code per category; unseen and missing values become -1.
    * ``"target"``: scikit-learn's ``TargetEncoder``: ``fit_transform`` cross-fits (out-of-fold means, no
      leakage of a row's own label), ``transform`` uses means over all training rows. Needs ``y``.
    * ``"native"``: pandas ``category`` columns whose categories are the integers ``0..k-1`` (most frequent
      first, at most ``max_categories``), so LightGBM / XGBoost / CatBoost / HistGradientBoosting can split on
      them natively; unseen, rare-beyond-the-cap and missing values are NaN. Estimators that know nothing of
      categories see the integer codes (an ordinal encoding).

    ``target_type`` is passed to ``TargetEncoder`` (``"continuous"`` for regression: ``"auto"`` would take an
    integer-valued regression target for classes). When every target-encoded column is a ``category`` column (as
    in a training frame), ``TargetEncoder`` sees integer codes instead of strings (``target_codes_``): the same
    encodings, without scikit-learn turning every cell into a Python string and looking it up.
    """

    target_codes_: dict[str, dict[str, int]] | None = None  # a model saved before codes has none

    def __init__(self, method: str = "onehot", max_onehot: int = 20, min_frequency: int = 5,
                 max_categories: int = 250, target_type: str = "auto", seed: int = 0) -> None:
        self.method = method
        self.max_onehot = max_onehot
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.target_type = target_type
        self.seed = seed

    # fitting ---------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> CategoricalEncoder:
        self._fit(_strings(as_frame(X)), y, cross_fit=False)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        return self.fit_transform_groups(X, y).frame()

    def fit_transform_groups(self, X: Any, y: Any = None) -> EncodedGroups:
        """``fit_transform``, its output a group at a time (see ``EncodedGroups``); fitted on return."""
        X = _strings(as_frame(X))
        return EncodedGroups(self, X, self._fit(X, y, cross_fit=True))

    def _fit(self, X: pd.DataFrame, y: Any, cross_fit: bool) -> dict[str, pd.DataFrame]:
        """Fit every group; returns the cross-fitted (out-of-fold) target encodings when ``cross_fit``."""
        if self.method not in METHODS:
            raise ConfigError(f"unknown categorical encoding {self.method!r}; use one of {', '.join(METHODS)}")
        if self.target_type not in TARGET_TYPES:
            raise ConfigError(f"unknown target_type {self.target_type!r}; use one of {', '.join(TARGET_TYPES)}")
        if self.method == "target" and y is None:
            raise ConfigError("target encoding needs y; pass the training target to fit")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.__dict__.pop("onehot_lookup_", None)  # made from the encoder being replaced
        self.__dict__.pop("ordinal_lookup_", None)
        groups: dict[str, list] = {m: [] for m in METHODS}
        for c in X.columns:
            m = self.method
            if m == "onehot" and X[c].nunique() > self.max_onehot:
                m = "target" if y is not None else "ordinal"
            groups[m].append(c)
        self.groups_ = {m: g for m, g in groups.items() if g}
        self.encoders_: dict[str, Any] = {}
        crossed: dict[str, pd.DataFrame] = {}
        y_arr = None if y is None else np.asarray(y)
        for m, g in self.groups_.items():
            if m == "native":
                self.encoders_[m] = {c: _native_categories(X[c], self.max_categories) for c in g}
                continue
            enc = self.encoders_[m] = self._make(m, y_arr, len(X))
            data = X[g]
            if m == "onehot":  # what the encoder learns are the categories and which are rarer than min_frequency
                data = _count_sketch(data, self.min_frequency)
            if m == "target":
                self.target_codes_ = None
                if all(isinstance(t, pd.CategoricalDtype) for t in data.dtypes):
                    self.target_codes_ = {c: {v: i for i, v in enumerate(data[c].cat.categories)} for c in g}
                    data = self._codes(data)
            if m == "target" and cross_fit:
                with warnings.catch_warnings():  # rare classes in a fold: the split still works
                    warnings.simplefilter("ignore", UserWarning)
                    out = enc.fit_transform(data, y_arr)
                crossed[m] = pd.DataFrame(dense(out), index=X.index, columns=self._names(m))
            else:
                enc.fit(data, y_arr)
        self.feature_names_out_ = np.asarray([n for m in self.groups_ for n in self._names(m)], dtype=object)
        return crossed

    def _make(self, method: str, y: Any, n: int) -> Any:
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder
        if method == "onehot":
            return OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=self.min_frequency,
                                 sparse_output=False, dtype=np.float64)
        if method == "ordinal":
            return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                                  dtype=np.float64)
        from sklearn.model_selection import KFold, StratifiedKFold
        ttype, n_labels = self.target_type, len(np.unique(np.asarray(y)))
        if ttype == "auto":
            ttype = "continuous" if np.asarray(y).dtype.kind == "f" else (
                "binary" if n_labels <= 2 else "multiclass")
        if ttype != "continuous" and n_labels < 3:  # a fold may hold fewer classes than the task
            ttype = "binary" if n_labels == 2 else "continuous"
        k = max(2, min(5, n))
        if ttype == "continuous":
            cv = KFold(k, shuffle=True, random_state=self.seed)
        else:
            _, counts = np.unique(np.asarray(y), return_counts=True)
            cv = StratifiedKFold(max(2, min(k, int(counts.min()))), shuffle=True, random_state=self.seed)
        return TargetEncoder(target_type=ttype, cv=cv)

    def _names(self, method: str) -> list[str]:
        enc = self.encoders_[method]
        if method == "native":
            return list(enc)
        if method == "onehot":
            return [str(n) for n in enc.get_feature_names_out()]
        if method == "target":
            return [f"{n}__te" for n in enc.get_feature_names_out()]
        return list(self.groups_[method])

    def __getstate__(self) -> dict[str, Any]:
        # the one-hot lookup is rebuilt on first use: it stays out of saved models and of the digests by which
        # identically fitted members share their preprocessing (pipeline/fitted.py)
        state = without_caches(super().__getstate__())
        state.pop("onehot_lookup_", None)
        state.pop("ordinal_lookup_", None)
        return state

    # transforming ----------------------------------------------------------------------------------
    def transform(self, X: Any) -> pd.DataFrame:
        return self.transform_groups(X).frame()

    def transform_groups(self, X: Any) -> EncodedGroups:
        """``transform``, its output a group at a time (see ``EncodedGroups``)."""
        check_fitted(self, "feature_names_out_")
        X = as_frame(X, self.feature_names_in_)
        few = len(X) <= FAST_ROWS
        return EncodedGroups(self, X if few else _strings(X), {}, few=few)

    def _transform_few(self, method: str, X: pd.DataFrame) -> pd.DataFrame:
        """A group's encoding of a request's few rows, reading only the group's own columns (``X`` may hold
        others) and their cells one by one as ``_strings`` would read them."""
        if method in ("onehot", "ordinal", "native"):  # the lookups and native codes read cells as to_string would
            return self._transform_group(method, X)
        return self._transform_group(method, _strings(X[self.groups_[method]]))

    def _transform_group(self, method: str, X: pd.DataFrame) -> pd.DataFrame:
        g = self.groups_[method]
        if method == "native":
            out = {}
            for c in g:
                cats = self.encoders_[method][c]
                out[c] = pd.Categorical.from_codes(_native_codes(X[c], cats), categories=pd.RangeIndex(len(cats)))
            return pd.DataFrame(out, index=X.index)
        names = index_of(self, method, self.encoders_[method], lambda: self._names(method))
        if method == "target" and self.target_codes_ is not None:
            return pd.DataFrame(dense(self.encoders_[method].transform(self._codes(X[g]))), index=X.index,
                                columns=names)
        cols = [X[c] for c in g]  # (not ``X[g]``: a selection of a few rows costs more than reading them)
        categories = all(isinstance(s.dtype, pd.CategoricalDtype) for s in cols)  # a training frame's columns
        if method == "onehot" and (len(X) <= FAST_ROWS or categories):
            lookup = self.__dict__.get("onehot_lookup_")
            if lookup is None:
                lookup = self.onehot_lookup_ = _OneHotLookup(self.encoders_[method], g)
            a = lookup.transform(cols)
        elif method == "ordinal" and len(X) <= FAST_ROWS:  # a request's rows: scikit-learn's check costs ~1 ms
            lookup = self.__dict__.get("ordinal_lookup_")
            if lookup is None:
                lookup = self.ordinal_lookup_ = _OrdinalLookup(self.encoders_[method], g)
            a = lookup.transform(cols)
        else:
            a = dense(self.encoders_[method].transform(X[g]))
        return pd.DataFrame(a, index=X.index, columns=names)

    def _codes(self, X: pd.DataFrame) -> pd.DataFrame:
        """The target-encoded columns as the integer codes of their training categories: -1 for missing, one past
        the last for a value training did not see (``TargetEncoder`` gives those the target's mean)."""
        out = {c: _native_codes(X[c], self.target_codes_[c], unseen=len(self.target_codes_[c])) for c in X.columns}
        return pd.DataFrame(out, index=X.index, columns=list(X.columns))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


class EncodedGroups:
    """An encoder's output, one group (one-hot, target, ordinal, native) at a time, each made when it is asked for.

    A caller that copies the groups into an array of its own lets each go before the next is made: on a large table
    the one-hot group alone is hundreds of megabytes, and making every group first held all of them next to that
    array. ``width`` (the output's columns) is known before any group is made; ``numbers`` says whether every group
    is float64 (only native categories are not).
    """

    def __init__(self, encoder: CategoricalEncoder, X: pd.DataFrame, made: dict[str, pd.DataFrame],
                 few: bool = False) -> None:
        self.encoder, self.X, self.made, self.index, self.few = encoder, X, made, X.index, few
        self.width = len(encoder.feature_names_out_)
        self.numbers = "native" not in encoder.groups_

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for m in list(self.encoder.groups_):
            made = self.made.pop(m, None)  # cross-fitted while fitting: handed over once
            if made is None:
                made = (self.encoder._transform_few if self.few else self.encoder._transform_group)(m, self.X)
            yield made

    def frame(self) -> pd.DataFrame:
        """Every group side by side: the encoder's ``transform`` output."""
        return _concat(list(self), self.index)

    def coded(self) -> tuple[np.ndarray, dict[int, int]]:
        """A request's few rows (``few``) as one float64 array, native categories as their codes (NaN for missing)
        and ``{position: number of categories}`` of those: ``frame()``'s numbers, a category's code where the frame
        holds a ``category``, without a ``Categorical`` per column and a frame around them (made, then read back,
        for every row a member on native categories predicted)."""
        enc, blocks, where, at = self.encoder, [], {}, 0
        for m in list(enc.groups_):
            if m != "native":
                block = enc._transform_few(m, self.X).to_numpy(dtype="float64")
                blocks.append(block)
                at += block.shape[1]
                continue
            for c in enc.groups_[m]:
                cats = enc.encoders_[m][c]
                codes = _native_codes(self.X[c], cats)
                blocks.append(np.where(codes < 0, np.nan, codes).astype("float64")[:, None])
                where[at] = len(cats)
                at += 1
        return (np.hstack(blocks) if blocks else np.empty((len(self.index), 0))), where


class _OneHotLookup:
    """A fitted ``OneHotEncoder``'s output for every value it knows, for missing and for an unknown value, asked of
    the encoder itself once per category (so infrequent and unknown categories go where it sends them)."""

    _UNKNOWN = "\x00forgeml: a value no category has\x00"

    def __init__(self, enc: Any, columns: list) -> None:
        # per input column: its frequent categories, plus one column for the infrequent ones if there are any
        widths = [len(c) - len(inf if inf is not None else ()) + (inf is not None)
                  for c, inf in zip(enc.categories_, enc.infrequent_categories_)]
        self.width = sum(widths)
        self.tables: list[tuple[dict[Any, int | None], int | None, int | None]] = []
        offset = 0
        for (_, known, answers), width in zip(_probed(enc, columns), widths):
            block = answers[:, offset:offset + width]
            where = [offset + int(np.argmax(r)) if r.any() else None for r in block]
            self.tables.append((dict(zip(known, where)), where[-2], where[-1]))
            offset += width

    def transform(self, columns: list[pd.Series]) -> np.ndarray:
        n = len(columns[0]) if columns else 0
        out = np.zeros((n, self.width))
        rows = np.arange(n)
        for (table, missing, unknown), col in zip(self.tables, columns):
            if isinstance(col.dtype, pd.CategoricalDtype):  # one answer per category, read through the codes
                per = np.array([_slot(table.get(as_text(v), unknown)) for v in col.cat.categories]
                               + [_slot(missing)], dtype=np.int64)  # code -1 (missing) reads the last entry
                j = per[col.cat.codes.to_numpy()]
                hit = j >= 0
                out[rows[hit], j[hit]] = 1.0
                continue
            for r, v in enumerate(col.to_numpy(dtype=object)):
                j = missing if scalar_missing(v) else table.get(as_text(v), unknown)  # a list cell is a value
                if j is not None:
                    out[r, j] = 1.0
        return out


class _OrdinalLookup:
    """A fitted ``OrdinalEncoder``'s code for every value it knows, for missing and for an unknown value, asked of
    the encoder itself once per category (as ``_OneHotLookup``)."""

    def __init__(self, enc: Any, columns: list) -> None:
        self.tables: list[tuple[dict[Any, float], float, float]] = []
        for j, known, answers in _probed(enc, columns):
            codes = answers[:, j]
            self.tables.append((dict(zip(known, codes[:-2].tolist())), float(codes[-2]), float(codes[-1])))

    def transform(self, columns: list[pd.Series]) -> np.ndarray:
        n = len(columns[0]) if columns else 0
        out = np.empty((n, len(columns)))
        for k, ((table, missing, unknown), col) in enumerate(zip(self.tables, columns)):
            if isinstance(col.dtype, pd.CategoricalDtype):  # one answer per category, read through the codes
                per = np.array([table.get(as_text(v), unknown) for v in col.cat.categories] + [missing])
                out[:, k] = per[col.cat.codes.to_numpy()]  # code -1 (missing) reads the last entry
                continue
            for r, v in enumerate(col.to_numpy(dtype=object)):
                out[r, k] = missing if scalar_missing(v) else table.get(as_text(v), unknown)
        return out


def _probed(enc: Any, columns: list) -> Iterator[tuple[int, list, np.ndarray]]:
    """Per input column ``j`` of a fitted scikit-learn encoder: its known (non-missing) categories and the
    encoder's whole output for rows holding each of them, then a missing value, then a value it never saw, in
    that column (the others hold a fixed value): what the lookups read their answers from."""
    unknown = _OneHotLookup._UNKNOWN
    filler = {col: [cats[0] if len(cats) else unknown] for col, cats in zip(columns, enc.categories_)}
    for j, (col, cats) in enumerate(zip(columns, enc.categories_)):
        known = [v for v in cats if not pd.isna(v)]
        probe = [*known, np.nan, unknown]
        frame = pd.DataFrame({c: v * len(probe) for c, v in filler.items()}, columns=list(columns))
        frame[col] = pd.Series(probe, dtype=object)
        yield j, known, dense(enc.transform(frame))


def _count_sketch(X: pd.DataFrame, threshold: Any) -> pd.DataFrame:
    """``category`` columns with each category (and missing) repeated ``min(its count, threshold)`` times, padded
    to one length with a value already at the threshold: ``OneHotEncoder`` learns exactly the same categories,
    and the same infrequent ones, from it as from ``X``, without turning every cell of ``X`` into a Python object
    and counting it. ``X`` itself when that cannot hold (other columns, a fractional ``min_frequency``, a column with
    no value at the threshold)."""
    if not (isinstance(threshold, (int, np.integer)) and threshold >= 1) or \
            not all(isinstance(t, pd.CategoricalDtype) for t in X.dtypes):
        return X
    reps, pads = {}, {}
    for c in X.columns:
        col = X[c]
        counts = np.bincount(col.cat.codes.to_numpy().astype(np.int64) + 1, minlength=len(col.cat.categories) + 1)
        at = np.flatnonzero(counts >= threshold)
        if not len(at):
            return X
        reps[c] = np.repeat(np.arange(-1, len(counts) - 1), np.minimum(counts, threshold))
        pads[c] = int(at[0]) - 1
    size = max(len(r) for r in reps.values())
    out = {c: pd.Categorical.from_codes(np.concatenate([r, np.full(size - len(r), pads[c])]), dtype=X[c].dtype)
           for c, r in reps.items()}
    return pd.DataFrame(out, columns=list(X.columns))


def _slot(j: int | None) -> int:
    return -1 if j is None else int(j)


def _strings(X: pd.DataFrame) -> pd.DataFrame:
    """Every column as strings: ``category`` columns of strings as they are (the encoders read their values, and
    a large training frame is not copied into objects), anything else through ``to_string``."""
    return pd.DataFrame({c: X[c] if has_string_categories(X[c]) else to_string(X[c]) for c in X.columns},
                        index=X.index, columns=X.columns)


def _native_categories(s: pd.Series, cap: int) -> dict[str, int]:
    """Category -> code, most frequent first, ties by value, so ``object`` and ``category`` columns of the same
    strings get the same codes."""
    counts = s.value_counts()  # NaN excluded; a category column also lists categories it does not hold
    counts = counts[counts > 0]
    order = sorted(zip(counts.to_numpy().tolist(), counts.index.tolist()), key=lambda t: (-t[0], t[1]))
    return {v: i for i, (_, v) in enumerate(order[:cap])}


def _native_codes(s: pd.Series, cats: dict[str, int], unseen: int = -1) -> np.ndarray:
    """The codes of ``s`` under ``cats``: -1 for missing, ``unseen`` for values ``cats`` lacks (capped ones too); a
    ``category`` column through a table over its categories, not a lookup per row. Categories and a few rows' cells
    are read as ``to_string`` reads them; more rows of an object column must be strings already (``_strings``)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        table = np.array([cats.get(as_text(v), unseen) for v in s.cat.categories] + [-1], dtype=np.int64)
        return table[s.cat.codes.to_numpy()]  # code -1 (missing) reads the table's last entry
    if len(s) <= FAST_ROWS:  # a request's rows: one dictionary lookup per cell, of the value as to_string reads it
        return np.array([-1 if scalar_missing(v) else cats.get(as_text(v), unseen) for v in s.to_numpy(dtype=object)],
                        dtype=np.int64)
    codes = s.map(cats).fillna(unseen).astype("int64").to_numpy()
    return np.where(s.isna().to_numpy(), -1, codes)


def _concat(frames: list[pd.DataFrame], index: pd.Index) -> pd.DataFrame:
    """The groups' frames side by side, sharing their arrays. Without copy-on-write, ``concat(copy=False)`` merges
    blocks of one dtype into a new array (a copy of every float64 group at once: 340 MB on 750,000 rows); with it,
    the blocks stay as they are. Each group's frame is made for this call, so nothing else holds them."""
    frames = [f for f in frames if f.shape[1]]
    if len(frames) == 1:
        return frames[0]
    if not frames:
        return pd.DataFrame(index=index)
    with pd.option_context("mode.copy_on_write", True):
        return pd.concat(frames, axis=1)


def native_to_codes(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Native ``category`` columns replaced by their int64 codes (-1 = missing or unseen), and their names.

    For libraries (CatBoost) that take categorical features as integers but reject NaN in them.
    """
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return X, []
    out = X.copy()
    for c in cats:
        out[c] = out[c].cat.codes.astype("int64")
    return out, cats
