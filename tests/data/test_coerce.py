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


def test_to_categories_holds_to_string_values_as_codes():
    from forgeml.data.coerce import has_string_categories, to_categories, to_string

    cases = [pd.Series(["x", 3, None, 2.0, "x"], index=range(5, 10), name="c"),  # mixed: made from to_string
             pd.Series(pd.Categorical([1.0, None, 2.0, 1.0], ordered=True), name="c"),  # numbers: renamed
             pd.Series(pd.Categorical([1, "1", None]), name="c")]  # 1 and "1" collide as strings: re-encoded
    for s in cases:
        out = to_categories(s)
        assert isinstance(out.dtype, pd.CategoricalDtype) and has_string_categories(out) and not out.cat.ordered
        assert out.index.equals(s.index) and out.name == s.name
        assert out.astype(object).where(out.notna(), None).tolist() == \
            to_string(s).where(to_string(s).notna(), None).tolist()
    codes = pd.Series(pd.Categorical(["b", "a", None]))
    renamed = to_categories(codes)
    assert renamed.cat.codes.tolist() == codes.cat.codes.tolist()  # a category column is renamed, not re-encoded
    assert not has_string_categories(pd.Series(["a", "b"]))
    assert not has_string_categories(codes.cat.rename_categories([1, 2]))
