"""Tables in, schema out: loading, task and column-kind inference, edge validation and fold plans."""
from __future__ import annotations

from forgeml.data.infer import infer_column, infer_schema, infer_task
from forgeml.data.load import read_table
from forgeml.data.schema import ColumnSpec, Schema
from forgeml.data.splits import make_folds
from forgeml.data.validate import align_for_predict, check_values, validate_training

__all__ = ["ColumnSpec", "Schema", "align_for_predict", "check_values", "infer_column", "infer_schema", "infer_task",
           "make_folds", "read_table", "validate_training"]
