"""Turn what a user hands us (a frame, an array or a file path) into a pandas DataFrame."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import DataError, DataFormatError, UnsupportedValueError

ACCEPTED = ("a pandas DataFrame, a 2-D NumPy array (or a list of rows, or a scipy.sparse matrix), or a path to "
            "a .csv, .tsv, .parquet or .pq file")
# forgeml's models work on dense tables: a sparse matrix is densified when it has at most this many cells
# (400 MB as float64), else refused with a message naming the limit.
MAX_SPARSE_CELLS = 50_000_000
# Cells that no column kind can use; complex numbers get their own message.
_NON_SCALAR = (dict, list, set, tuple, np.ndarray)
_COMPLEX = (complex, np.complexfloating)
_COMPRESSION = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_PARQUET_MAGIC = b"PAR1"


def read_table(source: Any) -> pd.DataFrame:
    """Read ``source`` as a table.

    A DataFrame is returned as a shallow copy (the caller's frame is never modified); a 2-D array, a list of
    rows or a scipy.sparse matrix (see ``to_array``) gets columns ``x0..xn``; a path is read by its suffix (CSV
    also compressed; unknown suffix: Parquet when the file starts with Parquet's magic bytes, else CSV). Every
    failure to read a file is a ``DataFormatError`` naming the path; complex values are a ``DataError``.
    """
    if isinstance(source, pd.DataFrame):
        check_column_names(source)
        check_not_complex(source)
        return source.copy(deep=False)
    if isinstance(source, pd.Series):
        check_not_complex(source.to_frame())
        return source.to_frame()
    if isinstance(source, (str, Path)):
        return _read_path(Path(source))
    arr = to_array(source)
    df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    return df.infer_objects() if arr.dtype == object else df


def is_array_like(source: Any) -> bool:
    """Whether ``to_array`` can read ``source``: an ndarray, a list/tuple of rows, scipy.sparse, or anything
    with ``__array__``."""
    return (isinstance(source, (np.ndarray, list, tuple)) or hasattr(source, "__array__")
            or _is_sparse(source))


def to_array(source: Any) -> np.ndarray:
    """``source`` as a checked 2-D NumPy array, as a scikit-learn user expects array-likes to be read.

    A list of rows becomes an array (rows of mixed strings and numbers keep each value's type, as an object
    array); a scipy.sparse matrix is densified up to ``MAX_SPARSE_CELLS`` cells. Raises ``DataError`` for
    anything not 2-D, ragged rows, complex numbers or a sparse matrix above the limit, and
    ``UnsupportedValueError`` (also a ``TypeError``) for cells holding dicts, lists or other containers.
    """
    if isinstance(source, (list, tuple)) and source and all(isinstance(r, dict) for r in source):
        raise DataError("X is a list of dicts (rows by column name); pass pandas.DataFrame(X), which keeps the "
                        "column names the model needs")
    if _is_sparse(source):
        arr = _densify(source)
    elif isinstance(source, np.ndarray):
        arr = source
    elif is_array_like(source) and not isinstance(source, (str, bytes, dict)):
        arr = _as_ndarray(source)
    else:
        raise DataError(f"cannot read a table from {type(source).__name__}; pass {ACCEPTED}")
    if arr.ndim != 2:
        raise DataError(f"X must be 2-D (rows x columns), got shape {arr.shape}. Reshape your data: "
                        "X.reshape(-1, 1) if it holds one feature, X.reshape(1, -1) if it holds one sample")
    if np.iscomplexobj(arr):
        raise DataError(_complex_message("X holds"))
    if arr.dtype == object:
        _check_cells(arr)
    return arr


def check_column_names(df: pd.DataFrame) -> None:
    """Raise ``DataError`` for columns every later step could not read by name: a MultiIndex, repeated names."""
    if isinstance(df.columns, pd.MultiIndex):
        raise DataError(f"the columns have {df.columns.nlevels} levels (a MultiIndex); flatten them to one name "
                        "each, e.g. df.columns = ['_'.join(map(str, c)) for c in df.columns]")
    if not df.columns.is_unique:
        dup = [str(c) for c in dict.fromkeys(df.columns[df.columns.duplicated()])]
        more = f", ... ({len(dup) - 20} more)" if len(dup) > 20 else ""
        raise DataError(f"duplicate column names: {', '.join(repr(c) for c in dup[:20])}{more}; rename them so "
                        "that each column is unique")


def check_not_complex(df: pd.DataFrame, what: str = "X") -> None:
    """Raise ``DataError`` when a column of ``df`` holds complex numbers (no model can use them)."""
    cols = [c for c, t in zip(df.columns, df.dtypes) if pd.api.types.is_complex_dtype(t)]  # names may repeat
    if cols:
        names = ", ".join(repr(str(c)) for c in cols[:10])
        raise DataError(_complex_message(f"{what} column(s) {names} hold"))


def _complex_message(where: str) -> str:
    return (f"Complex data not supported: {where} complex numbers; pass the real and imaginary parts "
            "(or the magnitude) as separate real-valued columns")


def _is_sparse(source: Any) -> bool:
    if not type(source).__module__.startswith("scipy"):
        return False
    from scipy import sparse

    return sparse.issparse(source)


def _densify(source: Any) -> np.ndarray:
    rows, cols = source.shape
    if rows * cols > MAX_SPARSE_CELLS:
        raise DataError(
            f"sparse input of shape ({rows}, {cols}) has {rows * cols:,} cells; forgeml densifies sparse input "
            f"only up to MAX_SPARSE_CELLS = {MAX_SPARSE_CELLS:,} cells (its models work on dense tables). Reduce "
            "the columns first (e.g. feature selection or TruncatedSVD) or pass fewer rows")
    return np.asarray(source.toarray())


def _as_ndarray(source: Any) -> np.ndarray:
    try:
        arr = np.asarray(source)
    except ValueError:  # NumPy refuses ragged nesting
        raise DataError("the rows of X have different lengths; every row must hold one value per column") \
            from None
    if arr.dtype.kind in "US" and isinstance(source, (list, tuple)):
        arr = np.asarray(source, dtype=object)  # keep numbers as numbers next to strings
    return arr


def _check_cells(arr: np.ndarray) -> None:
    for j in range(arr.shape[1]):
        col = arr[:, j]
        i = next((i for i, v in enumerate(col) if isinstance(v, _NON_SCALAR + _COMPLEX)), None)
        if i is None:
            continue
        if isinstance(col[i], _COMPLEX):
            raise DataError(_complex_message(f"X[{i}, {j}] (and maybe other cells) holds"))
        raise UnsupportedValueError(
            f"X[{i}, {j}] holds a {type(col[i]).__name__}: a cell argument must be a string or a number, not "
            f"{type(col[i]).__name__!r}; flatten nested values into scalar columns first")


def _read_path(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataFormatError(f"file not found: {str(path)!r}; pass {ACCEPTED}")
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] in _COMPRESSION
    suffix = (suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else ""))
    if path.is_dir():
        return _read_parquet(path)
    is_parquet = _has_parquet_magic(path)
    if suffix in (".parquet", ".pq"):
        if not is_parquet:
            raise DataFormatError(
                f"{str(path)!r} has a Parquet suffix but is not a Parquet file; pass {ACCEPTED}")
        return _read_parquet(path)
    if is_parquet:  # a Parquet file under another name: read what it is
        return _read_parquet(path)
    return _read_csv(path, sep="\t" if suffix == ".tsv" else ",")


def _has_parquet_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == _PARQUET_MAGIC
    except OSError as exc:
        raise DataFormatError(f"cannot open {str(path)!r}: {exc.strerror or exc}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types; the user needs one clear message
        raise DataFormatError(
            f"cannot read {str(path)!r} as Parquet ({type(exc).__name__}: {str(exc)[:200]}); pass {ACCEPTED}"
        ) from None


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        df = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{str(path)!r} is empty: no header and no rows; pass {ACCEPTED}") from None
    except UnicodeDecodeError:
        raise DataFormatError(
            f"{str(path)!r} is not a text {kind} file (it is binary or not UTF-8); pass {ACCEPTED}") from None
    except Exception as exc:
        raise DataFormatError(
            f"cannot read {str(path)!r} as {kind} ({type(exc).__name__}: {str(exc)[:200]}); pass {ACCEPTED}"
        ) from None
    return df
