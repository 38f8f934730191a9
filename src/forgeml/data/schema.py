"""The schema of a training table: each column's kind, saved with the model and checked at predict time."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Column kinds. "id" and "constant" columns are kept in the schema (so predict-time frames may carry them)
# but dropped before modelling.
NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT, ID, CONSTANT = (
    "numeric", "categorical", "boolean", "datetime", "text", "id", "constant")
KINDS = (NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT, ID, CONSTANT)
MODELLED = (NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str
    dtype: str
    missing_frac: float = 0.0
    n_unique: int = 0
    categories: tuple = ()  # for categorical/boolean columns: the values seen at fit time (as strings)


@dataclass(frozen=True)
class Schema:
    """Columns in training order, the target, the task and the class labels (as the user gave them)."""

    columns: tuple[ColumnSpec, ...]
    target: str
    task: str
    classes: tuple = ()
    target_dtype: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def names(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        return [c.name for c in self.columns if kinds is None or c.kind in kinds]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def modelled(self) -> list[str]:
        return self.names(MODELLED)

    def to_json(self) -> str:
        d = asdict(self)
        d["classes"] = [_jsonable(c) for c in self.classes]
        for c in d["columns"]:
            c["categories"] = [_jsonable(v) for v in c["categories"]]
        return json.dumps(d, indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> Schema:
        d = json.loads(text)
        cols = tuple(ColumnSpec(**{**c, "categories": tuple(c["categories"])}) for c in d.pop("columns"))
        return cls(columns=cols, classes=tuple(d.pop("classes")), **d)


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return v
