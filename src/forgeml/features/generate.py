"""``FeatureGenerator``: bounded arithmetic features over the most promising numeric columns.

It is the ``("generate", ...)`` step after ``prep``, so it sees the model-ready frame (imputed, maybe scaled).

1. Candidates: float columns with more than two distinct values on the ranking sample (below); ``category``
   columns, missing indicators (``*__missing``) and 0/1 columns (one-hot, booleans) are passed through untouched
   and not combined.
2. Ranking: each candidate is scored on at most ``sample`` fit rows by ``relevance`` (below) and the best ``k``
   are kept.
3. Terms over those ``k`` columns: pairwise products ``a * b``, ratios ``a / b`` (both directions, computed as
   ``a * b / (b² + e²)`` with ``e`` = 0.001 x the std of ``b``, so a zero denominator gives 0, never inf),
   differences ``a - b`` and squares ``a²``. Each term is scored the same way and the best ``max_features``
   (default ``MAX_GENERATED`` = 40) are added, whatever ``k``: the hard cap on the added width.
4. Every added column is clipped to the 0.1 and 99.9 % quantiles it had on the fit rows, so a ratio near a zero
   denominator cannot send an extreme value to the model at predict time. Each term's inputs are first clipped to
   the range they had on the fit rows, and a term that is still not a number (a missing input, or ``inf / inf``
   from huge inputs) becomes its median on the fit rows: generated columns are always finite.

Everything is learned in ``fit`` on the rows given (the training fold); ``transform`` only computes.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.data.coerce import FEW_ROWS
from forgeml.errors import ConfigError
from forgeml.features._frame import Rows, as_frame, check_fitted, in_order, index_of, positions_in, without_caches
from forgeml.features.impute import INDICATOR_SUFFIX

OPERATIONS = ("product", "ratio", "difference", "square")
MAX_GENERATED = 40  # the most columns a FeatureGenerator adds
SAMPLE_ROWS = 2000  # rows used to rank columns and terms
_SYMBOL = {"product": "*", "ratio": "/", "difference": "-"}
_SUFFIX = {"product": "x", "ratio": "div", "difference": "minus"}


def relevance(X: np.ndarray, y: np.ndarray, classification: bool) -> np.ndarray:
    """A cheap per-column relevance in [0, 1]: the larger of ``|Spearman(x, t)|`` and
    ``|Spearman(|x - median x|, |t - mean t|)|`` over targets ``t`` (``y`` itself for regression, one 0/1
    indicator per class for classification). The second term catches columns that matter through an
    interaction (for y = x0 * x1 with centred inputs, x0 alone is uncorrelated with y but |x0| is not with |y|)."""
    if X.shape[1] == 0:
        return np.zeros(0)
    targets = [y == c for c in np.unique(y)] if classification else [y]
    Xr = _ranks(X)
    Xd = _ranks(np.abs(X - np.nanmedian(X, axis=0)))
    best = np.zeros(X.shape[1])
    for t in targets:
        t = np.asarray(t, dtype="float64")
        tr = _ranks(t[:, None])[:, 0]
        td = _ranks(np.abs(t - t.mean())[:, None])[:, 0]
        best = np.maximum(best, np.maximum(np.abs(_corr(Xr, tr)), np.abs(_corr(Xd, td))))
    return best


def _ranks(a: np.ndarray) -> np.ndarray:
    return pd.DataFrame(a).rank(axis=0).to_numpy(dtype="float64")


def _corr(A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``A`` with ``t`` (NaN rows of a column ignored via mean fill)."""
    A = np.where(np.isnan(A), np.nanmean(A, axis=0), A)
    A = A - A.mean(axis=0)
    t = t - t.mean()
    den = np.sqrt((A ** 2).sum(axis=0) * (t ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A * t[:, None]).sum(axis=0) / den
    return np.nan_to_num(r)


class FeatureGenerator(TransformerMixin, BaseEstimator):
    """Adds at most ``max_features`` arithmetic terms over the top ``k`` numeric columns (see the module doc).

    ``task`` is ``"regression"`` or a classification task (``y`` integer class codes); ``y`` is required.
    The input frame's columns come out first and unchanged, then the new ones.
    """

    def __init__(self, k: int = 6, max_features: int = MAX_GENERATED, operations: tuple[str, ...] = OPERATIONS,
                 task: str = "regression", sample: int = SAMPLE_ROWS, seed: int = 0) -> None:
        self.k = k
        self.max_features = max_features
        self.operations = operations
        self.task = task
        self.sample = sample
        self.seed = seed

    def fit(self, X: Any, y: Any = None) -> FeatureGenerator:
        X = as_frame(X)
        self.__dict__.pop("plan_", None)  # made from the terms being replaced
        bad = [o for o in self.operations if o not in OPERATIONS]
        if bad:
            raise ConfigError(f"unknown FeatureGenerator operations {bad}; use some of {', '.join(OPERATIONS)}")
        if y is None:
            raise ConfigError("FeatureGenerator ranks columns against the target; pass y to fit")
        if not (isinstance(self.k, int) and self.k >= 1 and isinstance(self.max_features, int)
                and 0 <= self.max_features <= MAX_GENERATED):
            raise ConfigError(f"FeatureGenerator needs k >= 1 and 0 <= max_features <= {MAX_GENERATED}, got "
                              f"k={self.k!r}, max_features={self.max_features!r}")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        y = np.asarray(y).ravel()
        rows = np.arange(len(X))
        if len(rows) > self.sample:
            rows = np.sort(np.random.default_rng(self.seed).choice(len(X), self.sample, replace=False))
        sub = X.iloc[rows]  # rank on the sample only: no full-size copy of a wide frame
        cands = [c for c in X.columns if _combinable(sub[c])]
        A = sub[cands].to_numpy(dtype="float64", na_value=np.nan) if cands else np.zeros((len(rows), 0))
        classification = self.task != "regression"
        score = relevance(A, y[rows], classification)
        top = [cands[i] for i in np.argsort(-score, kind="stable")[: self.k]]
        self.top_ = top
        with np.errstate(over="ignore", invalid="ignore"):  # huge inputs: an inf scale, terms are fixed below
            self.scale_ = {c: float(np.nanstd(X[c].to_numpy(dtype="float64", na_value=np.nan))) for c in top}
        self.ranges_ = {c: _range(X[c].to_numpy(dtype="float64", na_value=np.nan)) for c in top}
        terms = self._candidates(top)
        if terms and self.max_features:
            with np.errstate(over="ignore", invalid="ignore"):
                T = np.column_stack([self._term(sub, t) for t in terms])
            tscore = relevance(T, y[rows], classification)
            keep = np.argsort(-tscore, kind="stable")[: self.max_features]
            terms = [terms[i] for i in sorted(keep)]
        else:
            terms = []
        self.terms_ = terms
        taken = set(self.feature_names_in_)
        self.names_ = [_unique(_name(t), taken) for t in terms]
        self.bounds_, self.medians_ = {}, {}
        for name, t in zip(self.names_, terms):
            with np.errstate(invalid="ignore", over="ignore"):
                v = self._term(X, t)
            v = v[np.isfinite(v)]
            lo, hi = (np.quantile(v, [0.001, 0.999]) if len(v) else (0.0, 0.0))
            self.bounds_[name] = (float(lo), float(hi))
            self.medians_[name] = float(np.clip(np.median(v), lo, hi)) if len(v) else 0.0
        self.feature_names_out_ = np.asarray(list(self.feature_names_in_) + self.names_, dtype=object)
        return self

    def _candidates(self, top: list[str]) -> list[tuple[str, str, str]]:
        ops = self.operations
        out: list[tuple[str, str, str]] = []
        for i, a in enumerate(top):
            if "square" in ops:
                out.append(("square", a, a))
            for b in top[i + 1:]:
                if "product" in ops:
                    out.append(("product", a, b))
                if "ratio" in ops:
                    out += [("ratio", a, b), ("ratio", b, a)]
                if "difference" in ops:
                    out.append(("difference", a, b))
        return out

    def _term(self, X: pd.DataFrame, term: tuple[str, str, str],
              clipped: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """One generated column; ``clipped`` memoises the clipped input columns across the terms of one call."""
        op, a, b = term
        memo = {} if clipped is None else clipped
        for c in (a, b):
            if c not in memo:
                ranges = getattr(self, "ranges_", {})
                memo[c] = np.clip(X[c].to_numpy(dtype="float64", na_value=np.nan), *ranges.get(c, (-np.inf, np.inf)))
        va, vb = memo[a], memo[b]
        if op in ("product", "square"):
            return va * vb
        if op == "difference":
            return va - vb
        e = 1e-3 * self.scale_[b] + 1e-12
        return va * vb / (vb * vb + e * e)

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "terms_")
        X = as_frame(X, self.feature_names_in_)
        if not self.terms_:
            return X
        new = pd.DataFrame(self._terms_matrix(X), index=X.index, columns=index_of(self, "names", self.names_))
        return pd.concat([X, new], axis=1)

    def transform_rows(self, X: Any) -> Rows | None:
        """``transform`` of ``Rows`` (a request's few rows) as ``Rows``; None for anything else, or when the rows'
        columns are not the ones this generator was fitted on."""
        if not isinstance(X, Rows):
            return None
        check_fitted(self, "terms_")
        pos = positions_in(self, "rows_in", X.columns, self.feature_names_in_)
        if not in_order(pos, X.values.shape[1]):
            return None  # other columns, or its own in another order (the output keeps the input's order)
        if not self.terms_:
            return X
        plan = self._plan()
        used = positions_in(self, "rows_used", X.columns, plan.used)
        M = X.values[:, used]  # a copy (fancy indexing), clipped in place below
        out = self._few_terms(M, plan)
        return Rows(np.hstack([X.values, out]), index_of(self, "out", self.feature_names_out_), X.index, X.codes)

    def _few_terms(self, M: np.ndarray, plan: _Plan) -> np.ndarray:
        """The terms of a request's few rows from ``M``, their input columns (clipped here, in place)."""
        out = np.empty((len(M), len(self.terms_)), order="F")
        with np.errstate(invalid="ignore", over="ignore"):
            np.clip(M, plan.low, plan.high, out=M)
            for op, idx, a, b, ee in plan.groups:
                A, B = M[:, a], M[:, b]
                out[:, idx] = A - B if op == "difference" else A * B / (B * B + ee) if op == "ratio" else A * B
            np.clip(out, plan.lo, plan.hi, out=out)
            nan = np.isnan(out)
            return np.where(nan, plan.med, out) if nan.any() else out

    def _terms_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Every generated column, as ``_term`` and the clipping of the module doc give them (the same float64
        operations, so the same bits). A request's few rows: all terms of an operation at once (numpy's cost per
        call is what one row pays); more rows: each term written in place into its column, without temporaries
        as large as the output. 0.9 -> 0.2 ms on one row, 6.1 -> 4.5 ms on 10,000 at 40 terms."""
        plan = self._plan()
        cols = [X[c] for c in plan.used]
        if all(isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu" for s in cols):  # the preprocessed frame
            M = np.array([s.to_numpy() for s in cols], dtype="float64").T  # one column after another
        else:
            M = np.asfortranarray(X[plan.used].to_numpy(dtype="float64", na_value=np.nan))
        if len(X) <= FEW_ROWS:
            return self._few_terms(M, plan)
        out = np.empty((len(X), len(self.terms_)), order="F")
        with np.errstate(invalid="ignore", over="ignore"):
            np.clip(M, plan.low, plan.high, out=M)
            tmp = np.empty(len(X))
            for i, (op, a, b, ee) in enumerate(plan.terms):
                col, va, vb = out[:, i], M[:, a], M[:, b]
                if op == "difference":
                    np.subtract(va, vb, out=col)
                elif op == "ratio":  # a * b / (b * b + e * e)
                    np.multiply(vb, vb, out=col)
                    col += ee
                    np.multiply(va, vb, out=tmp)
                    np.divide(tmp, col, out=col)
                else:
                    np.multiply(va, vb, out=col)
                np.clip(col, plan.lo[i], plan.hi[i], out=col)  # +-inf become the bounds
                nan = np.isnan(col)
                if nan.any():
                    col[nan] = plan.med[i]
        return out

    def _plan(self) -> _Plan:
        """Where each term reads its inputs, by operation; made once per fitted generator (not saved with it)."""
        plan = self.__dict__.get("plan_")
        if plan is None:
            plan = self.plan_ = _Plan(self)
        return plan

    def __getstate__(self) -> dict[str, Any]:
        state = without_caches(super().__getstate__())
        state.pop("plan_", None)
        return state

    def describe_features(self) -> dict[str, str]:
        """Output column -> how it was made: ``"input"`` for passed-through columns, else e.g. ``"x0 * x1"``."""
        check_fitted(self, "terms_")
        out = {str(c): "input" for c in self.feature_names_in_}
        for name, (op, a, b) in zip(self.names_, self.terms_):
            out[name] = f"{a}^2" if op == "square" else f"{a} {_SYMBOL[op]} {b}"
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


class _Plan:
    """A fitted ``FeatureGenerator``'s terms by position: the input columns they read (with their fit ranges), per
    term its operation, its inputs' positions, ``e²`` (ratios), its bounds and its median; and the terms grouped by
    operation."""

    def __init__(self, gen: FeatureGenerator) -> None:
        self.used = list(dict.fromkeys(c for _, a, b in gen.terms_ for c in (a, b)))
        at = {c: j for j, c in enumerate(self.used)}
        ranges = getattr(gen, "ranges_", {})
        self.low, self.high = np.array([ranges.get(c, (-np.inf, np.inf)) for c in self.used], dtype="float64").T
        e = {b: 1e-3 * gen.scale_[b] + 1e-12 for op, _, b in gen.terms_ if op == "ratio"}
        self.terms = [(op, at[a], at[b], e[b] * e[b] if op == "ratio" else None) for op, a, b in gen.terms_]
        self.groups = []  # per operation: the terms' positions, their inputs' positions, their e² (ratios)
        for op in OPERATIONS:
            idx = [i for i, t in enumerate(self.terms) if t[0] == op]
            if idx:
                ee = np.array([self.terms[i][3] for i in idx], dtype="float64") if op == "ratio" else None
                self.groups.append((op, idx, [self.terms[i][1] for i in idx], [self.terms[i][2] for i in idx], ee))
        self.lo, self.hi = np.array([gen.bounds_[n] for n in gen.names_], dtype="float64").T
        self.med = np.array([getattr(gen, "medians_", {}).get(n, 0.0) for n in gen.names_], dtype="float64")


def _combinable(s: pd.Series) -> bool:
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        return False
    if pd.api.types.is_bool_dtype(s.dtype) or str(s.name).endswith(INDICATOR_SUFFIX):
        return False
    return s.nunique(dropna=True) > 2


def _range(v: np.ndarray) -> tuple[float, float]:
    """The finite range of ``v`` (unbounded when it has no finite value)."""
    v = v[np.isfinite(v)]
    return (float(v.min()), float(v.max())) if len(v) else (-np.inf, np.inf)


def _name(term: tuple[str, str, str]) -> str:
    op, a, b = term
    return f"{a}_sq" if op == "square" else f"{a}_{_SUFFIX[op]}_{b}"


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out
