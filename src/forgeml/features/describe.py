"""How each output column of a fitted ``Preprocessor`` was made, and from which input column(s).

Kept apart from ``preprocess.py`` so the transformer stays about transforming; ``Preprocessor.describe_features``
and ``Preprocessor.feature_sources`` read from here. Descriptions name the raw input columns, e.g.
``"one-hot city=Paris"``, ``"month of signup"``, ``"missing indicator of income"``; a column that enters the
model as it came in is ``"input"``.
"""
from __future__ import annotations

import re
from typing import Any

from forgeml.data.schema import BOOLEAN, NUMERIC

_ENCODED = {"target": "target encoding of {}", "ordinal": "ordinal code of {}", "native": "input"}


def preprocessor_features(pre: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Output column name -> ``(how, source columns)`` for a fitted ``Preprocessor``."""
    by_raw: dict[str, tuple[str, tuple[str, ...]]] = {}
    for c in pre.kinds_[NUMERIC] + pre.kinds_[BOOLEAN]:
        by_raw[c] = ("input", (c,))
    if pre.text_ is not None:
        by_raw.update(_text(pre.text_))
    if pre.dates_ is not None:
        for c, has_time in pre.dates_.has_time_.items():
            parts = list(_date_parts()) + (["hour"] if has_time else []) + (["epoch"] if pre.dates_.epoch else [])
            for p in parts:
                by_raw[f"{c}_{p}"] = ("seconds since 1970 of " + str(c) if p == "epoch" else f"{p} of {c}", (c,))
    for c in pre.imputer_.indicator_columns_:
        by_raw[f"{c}__missing"] = (f"missing indicator of {c}", by_raw.get(c, ("", (c,)))[1])
    if pre.encoder_ is not None:
        by_raw.update(_categorical(pre.encoder_))
    made = pre.engineered_descriptions() if hasattr(pre, "engineered_descriptions") else {}
    inputs = [str(name) for name, _ in pre.columns]
    for raw, how in made.items():  # skew transforms, counts, group statistics, cyclic dates
        source = by_raw.get(raw, ("", ()))[1] or named_in(how, inputs)
        by_raw[raw] = (how, source)
    out = {}
    for raw, name in zip(pre.raw_names_, pre.feature_names_out_):
        out[str(name)] = by_raw.get(raw, ("constant (no usable column)", ()) if raw == "_constant"
                                    else ("input", (raw,)))
    return out


def named_in(text: str, names: list[str]) -> tuple[str, ...]:
    """The ``names`` that appear in ``text`` as whole words (``"a"`` is not in ``"mean of b"``)."""
    return tuple(n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", text))


def _date_parts() -> tuple[str, ...]:
    from forgeml.features.dates import DATE_PARTS
    return DATE_PARTS


def _text(text: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    out = {}
    for c, (_, svd) in text.models_.items():
        for i in range(svd.n_components if svd is not None else 0):
            out[f"{c}_svd{i}"] = (f"TF-IDF SVD component {i} of {c}", (c,))
        out[f"{c}_chars"] = (f"character count of {c}", (c,))
        out[f"{c}_words"] = (f"word count of {c}", (c,))
    return out


def _categorical(enc: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    out = {}
    for method, cols in enc.groups_.items():
        for name in enc._names(method):
            # the longest column name the output name starts with is its source (names are "<col>_<value>")
            src = max((c for c in cols if name == c or name.startswith(f"{c}_")), key=len, default=None)
            if src is None:
                out[name] = (f"{method} encoding", tuple(cols))
            elif method == "onehot":
                value = name[len(src) + 1:]
                out[name] = (f"one-hot {src}=" + ("(infrequent)" if value == "infrequent_sklearn" else value), (src,))
            else:
                out[name] = (_ENCODED[method].format(src), (src,))
    return out
