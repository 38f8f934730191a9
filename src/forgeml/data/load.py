"""Turn what a user hands us (a frame, an array or a file path) into a pandas DataFrame."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forgeml.errors import DataError, DataFormatError

ACCEPTED = "a pandas DataFrame, a 2-D NumPy array, or a path to a .csv, .tsv, .parquet or .pq file"
_COMPRESSION = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_PARQUET_MAGIC = b"PAR1"


def read_table(source: Any) -> pd.DataFrame:
    """Read ``source`` as a table.

    A DataFrame is returned as a shallow copy (the caller's frame is never modified); a 2-D array gets
    columns ``x0..xn``; a path is read by its suffix (CSV also compressed; unknown suffix: Parquet when the
    file starts with Parquet's magic bytes, else CSV). Every failure is a ``DataFormatError`` naming the path.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(deep=False)
    if isinstance(source, pd.Series):
        return source.to_frame()
    if isinstance(source, np.ndarray):
        if source.ndim != 2:
            raise DataError(f"a NumPy array must be 2-D (rows x columns), got shape {source.shape}")
        return pd.DataFrame(source, columns=[f"x{i}" for i in range(source.shape[1])])
    if isinstance(source, (str, Path)):
        return _read_path(Path(source))
    raise DataError(f"cannot read a table from {type(source).__name__}; pass {ACCEPTED}")


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
