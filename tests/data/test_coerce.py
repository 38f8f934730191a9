"""Value coercions shared by inference, alignment and preprocessing."""
import numpy as np
import pandas as pd


def test_yes_no_values_are_read_once_per_distinct_value_and_odd_cells_become_missing():
    from forgeml.data.coerce import to_bool

    s = pd.Series(["yes", " No", None, "maybe", np.nan, "TRUE", 1, "0", 0.0, ["no"], "n"], index=range(10, 21),
                  name="b")
    out = to_bool(s)
    expected = [1.0, 0.0, np.nan, np.nan, np.nan, 1.0, 1.0, 0.0, 0.0, np.nan, 0.0]  # a list cell: missing, no error
    np.testing.assert_array_equal(out.to_numpy(), expected)
    assert out.index.equals(s.index) and out.name == "b" and out.dtype == np.float64
