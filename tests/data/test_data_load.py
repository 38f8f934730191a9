from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgeml.data import read_table
from forgeml.errors import DataError, DataFormatError

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"  # <repo>/../shared, as CI lays it out


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": ["x", "y", "z"], "c": [1, 2, 3]})


def test_dataframe_is_shallow_copy(frame):
    out = read_table(frame)
    assert out is not frame
    out["new"] = 1
    assert "new" not in frame.columns
    pd.testing.assert_frame_equal(out.drop(columns="new"), frame)


def test_array_gets_x_columns():
    out = read_table(np.arange(6.0).reshape(3, 2))
    assert list(out.columns) == ["x0", "x1"]
    assert out.shape == (3, 2)


def test_one_dimensional_array_is_rejected():
    with pytest.raises(DataError, match="2-D"):
        read_table(np.arange(3))


def test_unsupported_object_names_accepted_inputs():
    with pytest.raises(DataError, match="parquet"):
        read_table({"a": [1]})


@pytest.mark.parametrize("name,writer", [
    ("t.csv", lambda df, p: df.to_csv(p, index=False)),
    ("t.csv.gz", lambda df, p: df.to_csv(p, index=False)),
    ("t.tsv", lambda df, p: df.to_csv(p, index=False, sep="\t")),
    ("t.parquet", lambda df, p: df.to_parquet(p)),
    ("t.pq", lambda df, p: df.to_parquet(p)),
])
def test_files_by_suffix(tmp_path, frame, name, writer):
    path = tmp_path / name
    writer(frame, path)
    out = read_table(str(path))
    pd.testing.assert_frame_equal(out, frame)
    assert read_table(path).shape == (3, 3)  # Path works too


def test_unknown_suffix_sniffs_content(tmp_path, frame):
    frame.to_parquet(tmp_path / "data.bin")
    frame.to_csv(tmp_path / "data.txt", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "data.bin"), frame)
    pd.testing.assert_frame_equal(read_table(tmp_path / "data.txt"), frame)


def test_missing_file_names_path_and_formats(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataFormatError) as err:
        read_table(path)
    assert "nope.csv" in str(err.value) and "not found" in str(err.value)
    assert ".parquet" in str(err.value) and ".csv" in str(err.value)


def test_text_file_with_parquet_suffix(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="not a Parquet file"):
        read_table(path)


def test_corrupt_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + bytes(range(256)))
    with pytest.raises(DataFormatError, match="broken.parquet.*as Parquet"):
        read_table(path)


def test_binary_file_with_csv_suffix(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" * 50)
    with pytest.raises(DataFormatError, match="image.csv.*not a text CSV"):
        read_table(path)


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataFormatError, match="empty"):
        read_table(path)


def test_error_is_also_oserror(tmp_path):
    with pytest.raises(OSError):
        read_table(tmp_path / "missing.parquet")


def test_real_dataset():
    df = read_table(f"{DATASETS}/seattle_weather.parquet")
    assert df.shape == (1461, 6)
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
