"""``Preprocessor``: the raw training frame in, a model-ready frame out, one rule per column kind.

* numeric (and the numbers derived from datetime and text columns): impute (+ missing indicators) -> clip ->
  scale; indicators are neither clipped nor scaled;
* boolean: 0/1 (missing -> the training mode unless ``impute="none"``);
* categorical: ``CategoricalEncoder(cat_encoding)``; with ``"onehot"`` columns above ``max_onehot`` distinct
  values are target-encoded (out of fold);
* datetime: ``DatetimeParts``; text: ``TextFeatures``; id and constant columns: dropped.

Feature engineering (each off by default): ``skew`` transforms skewed numeric columns after imputation and before
clipping and scaling (``SkewTransformer``); ``count_encoding`` adds ``<cat>__count`` per categorical;
``group_stats`` adds the mean and std of the numeric column most related to ``y`` per category (out of fold on the
training rows, ``GroupStats``); ``cyclic_dates`` adds sin/cos date parts. The added numbers are imputed, clipped
and scaled like the other numbers.

Columns entirely missing in the training fold are dropped. The output is float64 except native categoricals
(``category`` dtype), with unique ASCII column names fixed at fit time.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml._direct import scaled
from forgeml.data.coerce import FEW_ROWS, bool_array, request_column, to_bool, to_numeric
from forgeml.data.schema import BOOLEAN, CATEGORICAL, DATETIME, NUMERIC, TEXT, Schema
from forgeml.errors import ConfigError, SchemaMismatchError
from forgeml.features._frame import Rows, check_fitted, dense, index_of, safe_names, without_caches
from forgeml.features.clip import OutlierClipper
from forgeml.features.dates import DatetimeParts
from forgeml.features.describe import preprocessor_features
from forgeml.features.encode import METHODS, CategoricalEncoder, EncodedGroups
from forgeml.features.engineer import GROUP_MAX_COLUMNS, SKEWS, CountEncoder, GroupStats, SkewTransformer
from forgeml.features.impute import INDICATOR_SUFFIX, STRATEGIES, NumericImputer
from forgeml.features.text import TextFeatures

SCALERS = ("none", "standard", "robust", "minmax", "quantile")
CLIPS = ("none", "quantile", "iqr")
_TARGET_TYPE = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


_SCALE_ROWS = 65_536  # rows scaled per call when the output is built: every scaler works row by row
_WHOLE_CELLS = 1 << 20  # a frame part of at most this many cells is copied into the output in one call


def _few_numbers(s: pd.Series) -> np.ndarray:
    """A numeric column of a request's few rows as ``_numeric_raw`` reads it."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu":  # no missing marker but NaN: cast as is
        return s.to_numpy()  # (``na_value`` costs 20 us a column, a tenth of a member's request)
    return to_numeric(s).to_numpy(dtype="float64", na_value=np.nan)


class Preprocessor(TransformerMixin, BaseEstimator):
    """One transformer for the whole raw frame.

    ``columns`` is a sequence of ``(name, kind)`` pairs, as in a ``Schema`` (``Preprocessor.from_schema``).
    ``task`` tells target encoding what ``y`` is. The other arguments are the preprocessing choices.
    """

    # defaults for parameters added after models were first saved: an older pickle lacks them
    skew: str = "none"
    count_encoding: bool = False
    group_stats: bool = False
    cyclic_dates: bool = False

    def __init__(self, columns: Sequence[tuple[str, str]] = (), *, task: str = "regression",
                 impute: str = "median", indicators: bool = False, clip: str = "none", scale: str = "none",
                 cat_encoding: str = "onehot", max_onehot: int = 20, text_components: int = 8,
                 skew: str = "none", count_encoding: bool = False, group_stats: bool = False,
                 cyclic_dates: bool = False, seed: int = 0) -> None:
        self.columns = columns
        self.task = task
        self.impute = impute
        self.indicators = indicators
        self.clip = clip
        self.scale = scale
        self.cat_encoding = cat_encoding
        self.max_onehot = max_onehot
        self.text_components = text_components
        self.skew = skew
        self.count_encoding = count_encoding
        self.group_stats = group_stats
        self.cyclic_dates = cyclic_dates
        self.seed = seed

    @classmethod
    def from_schema(cls, schema: Schema, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> Preprocessor:
        """A preprocessor for every column of ``schema`` with the given choices."""
        cols = tuple((c.name, c.kind) for c in schema.columns)
        return cls(cols, task=schema.task, seed=seed, **dict(params or {}))

    # fitting ---------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> Preprocessor:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        self._check_params()
        X = self._input(X, fitting=True)
        kinds = {name: kind for name, kind in self.columns}
        present = {c for c in kinds if X[c].notna().any()}
        self.dropped_ = [c for c in kinds if c not in present or kinds[c] not in (NUMERIC, BOOLEAN, CATEGORICAL,
                                                                                 DATETIME, TEXT)]
        by_kind = {k: [c for c in kinds if kinds[c] == k and c in present]
                   for k in (NUMERIC, BOOLEAN, CATEGORICAL, DATETIME, TEXT)}
        self.kinds_ = by_kind
        self.dates_ = None
        if by_kind[DATETIME]:
            self.dates_ = DatetimeParts(cyclic=self.cyclic_dates).fit(X[by_kind[DATETIME]])
        self.text_ = None
        raw = self._numeric_raw(X)
        parts = [raw]
        if by_kind[TEXT]:
            self.text_ = TextFeatures(n_components=self.text_components, seed=self.seed)
            parts.append(self.text_.fit_transform(X[by_kind[TEXT]]))
        if self.dates_ is not None:
            parts.append(self.dates_.transform(X[by_kind[DATETIME]]))
        parts += self._fit_engineered(X, raw, y)
        num = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
        del parts, raw  # what is not needed any more is let go as soon as possible: a large table's peak memory
        self.imputer_ = NumericImputer(self.impute, indicators=self.indicators).fit(num)
        vals = self.imputer_.transform(num)
        del num
        value_cols = list(self.imputer_.value_columns_)
        self.skew_ = None
        if self.skew != "none":
            skewable = [c for c in value_cols if c in set(by_kind[NUMERIC])]
            self.skew_ = SkewTransformer(self.skew, seed=self.seed).fit(vals[skewable])
            vals = self._skewed(vals)
        self.clipper_ = None
        if self.clip != "none" and value_cols:
            self.clipper_ = OutlierClipper(self.clip).fit(vals[value_cols])
        values = vals.iloc[:, :len(value_cols)]  # the imputer puts the values first: a view, not a copy
        clipped = self.clipper_.transform(values) if self.clipper_ is not None else values
        self.scaler_ = self._make_scaler(len(X)) if self.scale != "none" and value_cols else None
        if self.scaler_ is not None:
            self.scaler_.fit(clipped.to_numpy())
        bools = self._bools_raw(X)
        self.bool_fill_ = {c: _mode(bools[c]) for c in bools.columns} if self.impute != "none" else {}
        self.encoder_ = None
        if by_kind[CATEGORICAL]:
            self.encoder_ = CategoricalEncoder(self.cat_encoding, max_onehot=self.max_onehot,
                                               target_type=_TARGET_TYPE.get(self.task, "auto"), seed=self.seed)
            cats = self.encoder_.fit_transform_groups(X[by_kind[CATEGORICAL]], None if y is None else np.asarray(y))
        else:
            cats = None
        numeric = [clipped, vals.iloc[:, len(value_cols):], bools]  # the indicators follow the values: a view
        del clipped, values, vals, bools  # handed over: each is freed once copied into the output
        out = self._assemble(numeric, cats, X.index)
        self.raw_names_ = list(out.columns)
        self.feature_names_out_ = np.asarray(safe_names(out.columns), dtype=object)
        out.columns = index_of(self, "out", self.feature_names_out_)
        return out

    def _check_params(self) -> None:
        checks = (("impute", self.impute, STRATEGIES), ("clip", self.clip, CLIPS), ("scale", self.scale, SCALERS),
                  ("cat_encoding", self.cat_encoding, METHODS))
        checks += (("skew", self.skew, SKEWS),)
        for name, value, allowed in checks:
            if value not in allowed:
                raise ConfigError(f"Preprocessor {name}={value!r} is not one of {', '.join(allowed)}")

    def _make_scaler(self, n_rows: int) -> Any:
        from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

        from forgeml.features.quantile import NormalQuantiles
        if self.scale == "standard":
            return StandardScaler()
        if self.scale == "robust":
            return RobustScaler()
        if self.scale == "minmax":
            return MinMaxScaler()
        return NormalQuantiles(n_quantiles=max(2, min(1000, n_rows)), output_distribution="normal",
                               subsample=100_000, random_state=self.seed)

    def __getstate__(self) -> dict[str, Any]:
        return without_caches(super().__getstate__())

    # transforming ----------------------------------------------------------------------------------
    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "feature_names_out_")
        X = self._input(X, fitting=False)
        if len(X) <= FEW_ROWS and self._few_rows_apply():
            few = self._transform_few(X)
            return few.frame() if isinstance(few, Rows) else few
        parts = [self._numeric_raw(X)]
        if self.text_ is not None:
            parts.append(self.text_.transform(X[self.kinds_[TEXT]]))
        if self.dates_ is not None:
            parts.append(self.dates_.transform(X[self.kinds_[DATETIME]]))
        if getattr(self, "counts_", None) is not None:
            parts.append(self.counts_.transform(X[self.kinds_[CATEGORICAL]]))
        if getattr(self, "groups_", None) is not None:
            parts.append(self.groups_.transform(self._group_input(X, parts[0])))
        vals = self._skewed(self.imputer_.transform(parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)))
        del parts  # let go before the output is built: a large table's peak memory
        n_values = len(self.imputer_.value_columns_)  # the imputer puts the values first, then the indicators
        ind, values = vals.iloc[:, n_values:], vals.iloc[:, :n_values]
        clipped = self.clipper_.transform(values) if self.clipper_ is not None else values
        cats = self.encoder_.transform_groups(X[self.kinds_[CATEGORICAL]]) if self.encoder_ is not None else None
        numeric = [clipped, ind, self._bools_raw(X)]
        del clipped, values, ind, vals  # handed over: each is freed once copied into the output
        out = self._assemble(numeric, cats, X.index)
        out.columns = index_of(self, "out", self.feature_names_out_)
        return out

    def transform_rows(self, X: Any) -> Rows | pd.DataFrame | None:
        """``transform`` of a request's few rows as ``Rows`` (native categories as their codes; the frame when the
        output holds other categories); None where the frame path applies (more rows, text or date columns)."""
        if not isinstance(X, pd.DataFrame) or len(X) > FEW_ROWS or not self._few_rows_apply():
            return None
        check_fitted(self, "feature_names_out_")
        return self._transform_few(self._input(X, fitting=False))

    def _few_rows_apply(self) -> bool:
        """Whether ``_transform_few`` covers every step fitted here (text and dates take the frame path)."""
        return self.text_ is None and self.dates_ is None

    def _transform_few(self, X: pd.DataFrame) -> Rows | pd.DataFrame:
        """``transform`` of a request's few rows on NumPy arrays: the same output as the frame path (a test
        compares them), without its per-column pandas objects, which cost most of a one-row prediction (about
        2 of a member's 2.5 ms)."""
        cols = self.kinds_[NUMERIC]
        raw = np.empty((len(X), len(cols)))
        for j, c in enumerate(cols):  # as _numeric_raw reads them (each column once per request: request_column)
            raw[:, j] = request_column(X, c, "number", _few_numbers)
        blocks = [raw]  # then what transform appends to the numbers, in its order (counts, group statistics)
        if getattr(self, "counts_", None) is not None:
            blocks.append(self.counts_.transform(X[self.kinds_[CATEGORICAL]]).to_numpy(dtype="float64",
                                                                                       na_value=np.nan))
        if getattr(self, "groups_", None) is not None:
            blocks.append(self.groups_.transform_rows({c: X[c].to_numpy(dtype=object) for c in self.groups_.groups}))
        vals = self.imputer_.transform_array(np.hstack(blocks) if len(blocks) > 1 else raw)
        skew = getattr(self, "skew_", None)
        if skew is not None and skew.columns_:
            names = self.imputer_.get_feature_names_out()
            pos = self._skew_positions(names)
            vals[:, pos] = skew.transform_array(vals[:, pos])
        n_values = len(self.imputer_.value_columns_)
        values, ind = vals[:, :n_values], vals[:, n_values:]
        if self.clipper_ is not None:
            values = self.clipper_.transform_array(values)
        bools = np.empty((len(X), len(self.kinds_[BOOLEAN])))
        for j, c in enumerate(self.kinds_[BOOLEAN]):
            bools[:, j] = request_column(X, c, "bool", bool_array)
            fill = self.bool_fill_.get(c)
            if fill is not None:
                bools[:, j] = np.where(np.isnan(bools[:, j]), fill, bools[:, j])
        # the encoder reads only its own columns of a few rows: the whole frame, not a selection made for it; its
        # groups are copied into the output one by one, not first put side by side in a frame of their own
        cats = self.encoder_.transform_groups(X) if self.encoder_ is not None else None
        out = self._assemble([values, ind, bools], cats, X.index, rows=True)
        if not isinstance(out, Rows):
            out.columns = index_of(self, "out", self.feature_names_out_)
        return out

    def _fit_engineered(self, X: pd.DataFrame, raw: pd.DataFrame, y: Any) -> list[pd.DataFrame]:
        """Fit the count encoding and group statistics; their training-row columns (group statistics out of
        fold)."""
        cats, out = self.kinds_[CATEGORICAL], []
        self.counts_ = self.groups_ = None
        if self.count_encoding and cats:
            self.counts_ = CountEncoder().fit(X[cats])
            out.append(self.counts_.transform(X[cats]))
        if self.group_stats and cats and raw.shape[1]:
            value = raw.columns[0]
            if y is not None and raw.shape[1] > 1:
                from forgeml.features.generate import SAMPLE_ROWS, relevance

                rows = np.arange(len(raw))  # a seeded sample: the first rows of data sorted by y are not one
                if len(raw) > SAMPLE_ROWS:
                    rows = np.sort(np.random.default_rng(self.seed).choice(len(raw), SAMPLE_ROWS, replace=False))
                score = relevance(raw.to_numpy()[rows], np.asarray(y)[rows], self.task != "regression")
                value = raw.columns[int(np.argmax(score))]
            self.groups_ = GroupStats(tuple(cats[:GROUP_MAX_COLUMNS]), str(value), seed=self.seed)
            self.group_value_ = value
            out.append(self.groups_.fit_transform(self._group_input(X, raw)))
        return out

    def _group_input(self, X: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
        frame = X[list(self.groups_.groups)].copy()
        frame[str(self.group_value_)] = raw[self.group_value_].to_numpy()
        return frame

    def _skewed(self, vals: pd.DataFrame) -> pd.DataFrame:
        skew = getattr(self, "skew_", None)
        if skew is None or not skew.columns_:
            return vals
        a = vals.to_numpy(dtype="float64", copy=True)  # the imputer's output: numbers only
        pos = self._skew_positions(vals.columns)
        a[:, pos] = skew.transform_array(a[:, pos])
        return pd.DataFrame(a, index=vals.index, columns=vals.columns)

    def _skew_positions(self, columns: Any) -> list[int]:
        """Where the skew transform's columns are among the imputer's output ``columns``."""
        where = {str(c): j for j, c in enumerate(columns)}
        return [where[c] for c in self.skew_.feature_names_in_]  # str() of the labels, which may be numbers

    def engineered_descriptions(self) -> dict[str, str]:
        """Raw output column -> how the engineering made it (``"log1p(income)"``, ``"count of city"``, ``"mean of
        price per city"``, ``"sin(month of date)"``, ...); read by ``features/describe.py``."""
        made: dict[str, str] = {}
        skew = getattr(self, "skew_", None)
        if skew is not None:
            made.update(skew.describe())
        for step in (getattr(self, "counts_", None), getattr(self, "groups_", None)):
            if step is not None:
                made.update(step.describe())
        for c, _ in (self.dates_.has_time_.items() if self.dates_ is not None else ()):
            for name in self.dates_.feature_names_out_:
                if name.startswith(f"{c}_"):
                    part = name[len(c) + 1:]
                    p, _, fn = part.rpartition("_") if part.endswith(("_sin", "_cos")) else (part, "", "")
                    made.setdefault(name, f"{fn}({p} of {c})" if fn else f"{p} of {c}")
        for raw in self.raw_names_:
            if str(raw).endswith(INDICATOR_SUFFIX):
                made.setdefault(raw, f"missing indicator of {str(raw)[:-len(INDICATOR_SUFFIX)]}")
        return made

    def _numeric_raw(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = self.kinds_[NUMERIC]
        if not cols:
            return pd.DataFrame(index=X.index)
        pos = X.columns.get_indexer(cols)
        kinds = [getattr(t, "kind", "O") if isinstance(t, np.dtype) else "O" for t in X.dtypes.to_numpy()]
        if all(kinds[j] in "fiu" for j in pos):
            # numbers already (as align_for_predict leaves them): one conversion instead of one per column, on
            # the whole frame when it holds only numbers (no column selection to pay for)
            a = (X.to_numpy(dtype="float64")[:, pos] if all(k in "fiu" for k in kinds)
                 else X[cols].to_numpy(dtype="float64"))
            return pd.DataFrame(a, index=X.index, columns=cols)
        return pd.DataFrame({c: to_numeric(X[c]) for c in cols}, index=X.index, columns=cols, dtype="float64")

    def _bools_raw(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = self.kinds_[BOOLEAN]
        if not cols:
            return pd.DataFrame(index=X.index)
        return pd.DataFrame({c: to_bool(X[c]) for c in cols}, index=X.index, columns=cols, dtype="float64")

    def _assemble(self, numeric: list, cats: pd.DataFrame | EncodedGroups | None, index: pd.Index,
                  rows: bool = False) -> pd.DataFrame | Rows:
        """The output frame: the float64 parts written into one array allocated once, each part let go as soon as
        it is copied, then the categorical block when it holds ``category`` columns.

        ``numeric`` is ``[values, indicators, bools]``, handed over: the caller keeps no reference, so each part
        is freed once copied. ``cats`` is the encoder's output, whole or a group at a time (``EncodedGroups``, each
        group made after the numbers are let go). On a large table the output is the largest thing a trial holds;
        making every part first held them all next to it (about twice the output at the peak). With ``rows`` (a
        request's few rows) an all-number output comes back as ``Rows``, named as ``transform`` names it."""
        parts: list[Any] = list(numeric)
        numeric.clear()
        if self.bool_fill_ and parts[2].shape[1] and isinstance(parts[2], pd.DataFrame):  # arrays come filled
            parts[2] = parts[2].fillna(self.bool_fill_)
        coded = None
        if isinstance(cats, EncodedGroups) and not cats.numbers:
            # a request's few rows beside numbers: native categories as their codes, no frame. Without numbers the
            # frame of categories itself goes on, as for more rows: a model reads a frame of categories alone
            # otherwise (scikit-learn's check makes it integers, a missing one a huge negative, not NaN)
            if rows and cats.few and any(f.shape[1] for f in parts):
                coded, cats = cats.coded(), None
            else:
                cats = cats.frame()  # native categories stay a block of their own
        if isinstance(cats, EncodedGroups):
            float_cats, cat_width = True, cats.width
        else:
            float_cats = cats is not None and cats.shape[1] > 0 and all(t == np.float64 for t in cats.dtypes)
            cat_width = cats.shape[1] if float_cats else 0
        width = sum(f.shape[1] for f in parts) + cat_width
        if not width:
            if cats is not None and cats.shape[1] and not float_cats:
                return cats
            return pd.DataFrame({"_constant": np.zeros(len(index))}, index=index)  # keeps every estimator working
        out = np.empty((len(index), width), dtype="float64")
        names: list[Any] = []
        at = 0
        for k in range(3):
            f, parts[k] = parts[k], None  # this loop holds the only reference: freed once copied
            at = self._copy_into(out, at, f, scale=k == 0 and self.scaler_ is not None, names=names)
            del f
        if float_cats:
            for group in cats if isinstance(cats, EncodedGroups) else [cats]:
                at = self._copy_into(out, at, group, scale=False, names=names)
                del group
            cats = None
        if coded is not None:  # native categories too: their codes, after the numbers (as the frame puts them)
            block, where = coded
            return Rows(np.hstack([out, block]), index_of(self, "out", self.feature_names_out_), index,
                        {out.shape[1] + j: k for j, k in where.items()})
        if rows and (cats is None or not cats.shape[1]):  # a request's few rows, all numbers: no frame
            return Rows(out, index_of(self, "out", self.feature_names_out_), index)
        # an array's columns are named by the caller (transform names every output column)
        num = pd.DataFrame(out, index=index, columns=names, copy=False)  # the array itself, not a copy
        if cats is not None and cats.shape[1]:
            return pd.concat([num, cats], axis=1, copy=False)
        return num

    def _copy_into(self, out: np.ndarray, at: int, f: pd.DataFrame | np.ndarray, scale: bool,
                   names: list[Any]) -> int:
        """Write part ``f`` into ``out`` from column ``at`` (scaled when ``scale``); returns the next column."""
        width = f.shape[1]
        if not width:
            return at
        if isinstance(f, np.ndarray):  # a few rows' part (_transform_few)
            if scale:  # a few rows: the scaler's arithmetic without its input check when it allows
                direct = scaled(self.scaler_, f)
                f = dense(self.scaler_.transform(f)) if direct is None else direct
            out[:, at:at + width] = f
            names.extend(range(width))
        else:
            if scale:  # a slice of rows at a time: the scaler's copy is small
                arr = f.to_numpy(dtype="float64", na_value=np.nan)
                for i in range(0, len(arr), _SCALE_ROWS):
                    out[i:i + _SCALE_ROWS, at:at + width] = dense(self.scaler_.transform(arr[i:i + _SCALE_ROWS]))
            elif f.size <= _WHOLE_CELLS:  # a small part at once: a call per column costs more than the copy
                out[:, at:at + width] = f.to_numpy(dtype="float64", na_value=np.nan)
            else:  # a column at a time: a slice of several columns of a many-block frame is copied twice
                for j in range(width):
                    out[:, at + j] = f.iloc[:, j].to_numpy(dtype="float64", na_value=np.nan)
            names.extend(f.columns)
        return at + width

    def _input(self, X: Any, fitting: bool) -> pd.DataFrame:
        names = [name for name, _ in self.columns]
        if not isinstance(X, pd.DataFrame):
            arr = np.asarray(X, dtype=object)
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise SchemaMismatchError(f"expected a table with {len(names)} columns ({', '.join(map(str, names))})"
                                          f", got shape {arr.shape}")
            X = pd.DataFrame(arr, columns=names)
        need = names if fitting else [c for k in self.kinds_.values() for c in k]
        missing = [c for c in need if c not in X.columns]
        if missing:
            raise SchemaMismatchError(f"missing columns: {', '.join(map(repr, missing))}")
        if fitting:
            self.feature_names_in_ = np.asarray([str(c) for c in names], dtype=object)
            self.n_features_in_ = len(names)
        return X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def describe_features(self) -> dict[str, str]:
        """Output column -> how it was made (``"input"``, ``"one-hot city=Paris"``, ...), for feature reports."""
        check_fitted(self, "feature_names_out_")
        return {k: how for k, (how, _) in preprocessor_features(self).items()}

    def feature_sources(self) -> dict[str, tuple[str, ...]]:
        """Output column -> the input column(s) it was made from."""
        check_fitted(self, "feature_names_out_")
        return {k: src for k, (_, src) in preprocessor_features(self).items()}


def _mode(s: pd.Series) -> float:
    m = s.mode()
    return float(m.iloc[0]) if len(m) else 0.0
