"""read_table / to_array: what a scikit-learn user hands ``fit`` and ``predict`` (lists of rows, sparse
matrices, complex numbers, nested cells) is read as an array or refused with a clear error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from forgeml.data.load import MAX_SPARSE_CELLS, read_table, to_array
from forgeml.errors import DataError, UnsupportedValueError


def test_list_of_rows_reads_like_an_array_and_keeps_numbers_next_to_strings():
    out = read_table([[1.5, "a", 3], [2.5, "b", 4]])
    assert list(out.columns) == ["x0", "x1", "x2"]
    assert out["x0"].dtype == np.float64 and out["x2"].dtype == np.int64  # not turned into strings
    assert out["x1"].tolist() == ["a", "b"]
    pd.testing.assert_frame_equal(read_table([[1.0, 2.0], [3.0, 4.0]]), read_table(np.array([[1.0, 2.0], [3.0, 4.0]])))


def test_ragged_rows_are_refused():
    with pytest.raises(DataError, match="different lengths"):
        read_table([[1, 2], [3]])


@pytest.mark.parametrize("kind", [sparse.csr_matrix, sparse.csr_array, sparse.coo_matrix, sparse.csc_array])
def test_sparse_input_is_densified(kind):
    dense = np.array([[0.0, 1.5], [2.0, 0.0], [0.0, 0.0]])
    out = read_table(kind(dense))
    np.testing.assert_array_equal(out.to_numpy(), dense)


def test_sparse_input_above_the_limit_names_the_limit():
    big = sparse.csr_matrix((MAX_SPARSE_CELLS // 1000 + 1, 1000))  # all zeros: no memory until densified
    with pytest.raises(DataError, match="sparse.*MAX_SPARSE_CELLS"):
        to_array(big)


def test_complex_numbers_are_refused_everywhere():
    with pytest.raises(DataError, match="Complex data not supported"):
        read_table(np.array([[1 + 2j, 0.5]]))
    with pytest.raises(DataError, match="Complex data not supported.*'z'"):
        read_table(pd.DataFrame({"a": [1.0], "z": [1 + 1j]}))
    with pytest.raises(DataError, match="Complex data not supported"):
        read_table([[1.0, 2 + 0j]])


def test_nested_cells_are_a_type_error_naming_the_cell():
    X = np.ones((3, 2), dtype=object)
    X[2, 1] = {"foo": "bar"}
    with pytest.raises(UnsupportedValueError, match=r"X\[2, 1\] holds a dict") as info:
        read_table(X)
    assert isinstance(info.value, TypeError) and isinstance(info.value, DataError)


def test_one_dimensional_input_says_how_to_reshape():
    with pytest.raises(DataError, match="Reshape your data"):
        to_array([1.0, 2.0, 3.0])
