"""Row weights (``sample_weight``) checked at the edge: one finite, non-negative number per row, not all zero.

``AutoML.fit`` accepts the weights as an array-like or as the name of a column of the training frame (as
AutoGluon does). Either way they travel with the frame as a column until the rows are final (rows whose target
is missing are dropped), then ``pop_sample_weight`` takes them out, so that the column is never a feature.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import DataError

WEIGHT_COLUMN = "__forgeml_sample_weight__"


def check_sample_weight(sample_weight: Any, n_rows: int, *, what: str = "sample_weight") -> np.ndarray:
    """``sample_weight`` as a float64 vector of ``n_rows`` finite, non-negative values that are not all zero.

    Raises ``DataError`` naming the problem (length, shape, type, NaN/inf, negative values, all zero)."""
    values = sample_weight.to_numpy() if isinstance(sample_weight, (pd.Series, pd.DataFrame)) else sample_weight
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise DataError(f"{what} must be one weight per row (a 1-D array), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise DataError(f"{what} has {len(arr)} values but the data has {n_rows} rows; give one weight per row")
    try:
        if arr.dtype.kind not in "biufO":  # strings, complex numbers, dates: not weights
            raise TypeError
        w = arr.astype(np.float64)  # an object array of numbers (None becomes NaN, refused below)
    except (TypeError, ValueError):
        raise DataError(f"{what} must hold real numbers, got values of type {arr.dtype}; "
                        "convert them to floats") from None
    bad = ~np.isfinite(w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what} holds {int(bad.sum())} NaN or infinite values (first at row {i}: {w[i]}); "
                        "give every row a finite weight (0 leaves a row out)")
    neg = w < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise DataError(f"{what} holds {int(neg.sum())} negative values (first at row {i}: {w[i]:g}); "
                        "weights must be 0 or more")
    if not w.sum() > 0:
        raise DataError(f"{what} is zero for every row; give some rows a positive weight")
    return w


def attach_sample_weight(df: pd.DataFrame, sample_weight: Any, target: str) -> tuple[pd.DataFrame, str | None]:
    """The frame with the checked weights in a column, and that column's name (None when there are no weights).

    ``sample_weight`` is None, an array-like of ``len(df)`` values, or the name of a column of ``df``."""
    if sample_weight is None:
        return df, None
    if isinstance(sample_weight, str):
        if sample_weight not in df.columns:
            raise DataError(f"sample_weight names the column {sample_weight!r}, which is not in the table; "
                            "pass a column name of the training frame or an array of weights")
        if sample_weight == target:
            raise DataError(f"sample_weight names the target column {target!r}; weights need a column of their own")
        check_sample_weight(df[sample_weight], len(df), what=f"the sample_weight column {sample_weight!r}")
        return df, sample_weight
    w = check_sample_weight(sample_weight, len(df))
    df = df.copy()
    df[WEIGHT_COLUMN] = w  # positional: the weights follow the rows, whatever the frame's index
    return df, WEIGHT_COLUMN


def pop_sample_weight(df: pd.DataFrame, column: str | None, target: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``(df without the weight column, the weights of its rows)``; ``(df, None)`` when ``column`` is None.

    Called after rows with a missing target are dropped, so it checks again that some weight is left."""
    if column is None:
        return df, None
    w = check_sample_weight(df[column], len(df), what="sample_weight (rows with a target)")
    df = df.drop(columns=[column])
    if df.shape[1] < 2:
        raise DataError(f"the training table has no feature columns besides the target {target!r} and the "
                        "sample weights; add at least one feature column")
    return df, w
