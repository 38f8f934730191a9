"""A family whose refit fails: what a refit over a memory limit looks like, without the memory."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.tree import DecisionTreeClassifier

from forgeml.models import FitContext
from plugins.families import DecisionTreeFamily


class RefitRefusingTreeFamily(DecisionTreeFamily):
    """A decision tree (classification) that fails to fit more than 100 rows: it cross-validates on small data
    (each fold trains on fewer rows) but its refit on all rows fails, as a refit over a memory limit would."""

    name = "refit_refusing_tree"

    def build(self, params: Mapping[str, Any], ctx: FitContext) -> Any:
        return RowCappedTree(**params, random_state=ctx.seed)


class RowCappedTree(DecisionTreeClassifier):
    def fit(self, X, y, sample_weight=None, check_input=True):
        if len(X) > 100:
            raise ValueError(f"refusing to fit {len(X)} rows (more than 100)")
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
