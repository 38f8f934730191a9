"""Request bodies turned into a frame the model reads, checked against the saved schema before any prediction.

Two shapes are accepted, and nothing else: JSON ``{"records": [{column: value, ...}, ...]}`` and CSV (a
``text/csv`` body or a multipart upload). JSON is typed, so it is checked strictly here: every record is an object
holding every input column (``null`` for a missing value), and a numeric column takes JSON numbers only. CSV is
text, so its cells are read as the CLI's ``forgeml predict`` reads a file (forgeml's own coercion, which names a
cell it cannot read). Columns the model does not use are ignored and listed in the response.

Every problem is a ``RequestError`` with an HTTP status and a message naming the record, column or value.
"""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

from forgeml.data.schema import CATEGORICAL, MODELLED, NUMERIC, TEXT, Schema

_SHOW = 10  # columns named in a message


class RequestError(Exception):
    """A request the client must fix: ``status`` (4xx), a short ``error`` kind and a message saying what to do."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def _names(cols: list[Any]) -> str:
    more = f", ... ({len(cols) - _SHOW} more)" if len(cols) > _SHOW else ""
    return ", ".join(repr(str(c)) for c in cols[:_SHOW]) + more


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), type(v).__name__)


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``: 400 for an empty body or malformed JSON, naming line and column."""
    if not body.strip():
        raise RequestError(400, "empty_body", 'the request body is empty; send JSON {"records": [{...}]} or a CSV')
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestError(400, "malformed_json", f"malformed JSON: {exc.msg} at line {exc.lineno} column "
                                                  f"{exc.colno}") from None
    except UnicodeDecodeError:
        raise RequestError(400, "malformed_json", "the body is not UTF-8 text, so it cannot be JSON") from None
    except RecursionError:
        raise RequestError(400, "malformed_json", "the JSON is nested too deeply") from None


def frame_from_records(schema: Schema, payload: Any) -> tuple[pd.DataFrame, list[str]]:
    """``{"records": [...]}`` as a frame of the schema's columns, and the names of the ignored extra columns."""
    shape = 'send a JSON object {"records": [{column: value, ...}, ...]}'
    if not isinstance(payload, dict):
        raise RequestError(422, "bad_shape", f"the body is a JSON {_json_type(payload)}; {shape}")
    if "records" not in payload:
        raise RequestError(422, "bad_shape", f"the JSON object has no 'records' key; {shape}")
    others = [k for k in payload if k != "records"]
    if others:
        raise RequestError(422, "bad_shape", f"unknown top-level keys {_names(others)}; {shape}")
    records = payload["records"]
    if not isinstance(records, list):
        raise RequestError(422, "bad_shape", f"'records' is a JSON {_json_type(records)}, not an array; {shape}")
    if not records:
        raise RequestError(422, "no_records", "'records' is empty: send at least one record")
    needed = [str(c) for c in schema.names(MODELLED)]
    seen: dict[str, None] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(422, "bad_shape", f"records[{i}] is a JSON {_json_type(record)}, not an object of "
                                                 "column: value")
        missing = [c for c in needed if c not in record]
        if missing:
            raise RequestError(422, "missing_column",
                               f"records[{i}] lacks the column(s) {_names(missing)}: every record needs every input "
                               f"column (null for a missing value); input columns: {_names(needed)}")
        seen.update(dict.fromkeys(record))
    known = {str(c) for c in schema.names()}
    ignored = [c for c in seen if c not in known]
    out = {spec.name: _column(spec.name, spec.kind, [r.get(str(spec.name)) for r in records])
           for spec in schema.columns}
    return pd.DataFrame(out), ignored


def _column(name: Any, kind: str, values: list[Any]) -> np.ndarray:
    """One column's JSON values, type-checked: numbers (or null) for a numeric column; single values elsewhere."""
    for i, v in enumerate(values):
        if isinstance(v, (dict, list)):
            raise RequestError(422, "wrong_type", f"column {str(name)!r}: records[{i}] holds a JSON {_json_type(v)}; "
                                                  "send a single value (or null)")
    if kind != NUMERIC:
        return np.array(values, dtype=object)
    out = np.empty(len(values), dtype="float64")
    for i, v in enumerate(values):
        if v is None:
            out[i] = np.nan
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                out[i] = float(v)
            except OverflowError:
                raise RequestError(422, "wrong_type", f"column {str(name)!r}: records[{i}] holds a number too large "
                                                      "for a float") from None
        else:
            raise RequestError(422, "wrong_type", f"column {str(name)!r} is numeric, but records[{i}] holds the "
                                                  f"{_json_type(v)} {v!r}; send a number or null")
    return out


def frame_from_csv(schema: Schema, body: bytes) -> tuple[pd.DataFrame, list[str]]:
    """A CSV body (header row first) as a frame of the schema's columns, and the ignored extra columns."""
    if not body.strip():
        raise RequestError(400, "empty_body", "the CSV is empty: send a header row and at least one row")
    try:
        df = pd.read_csv(io.BytesIO(body))
    except pd.errors.EmptyDataError:
        raise RequestError(400, "empty_body", "the CSV is empty: send a header row and at least one row") from None
    except UnicodeDecodeError:
        raise RequestError(400, "malformed_csv", "the CSV is not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise RequestError(400, "malformed_csv", f"malformed CSV: {str(exc).strip()[:200]}") from None
    if len(df) == 0:
        raise RequestError(422, "no_records", "the CSV has a header but no rows: send at least one row")
    by_text = {str(c): c for c in df.columns}
    missing = [str(c) for c in schema.names(MODELLED) if str(c) not in by_text]
    if missing:
        raise RequestError(422, "missing_column", f"the CSV lacks the column(s) {_names(missing)}; input columns: "
                                                  f"{_names([str(c) for c in schema.names(MODELLED)])}")
    known = {str(c) for c in schema.names()}
    ignored = [str(c) for c in df.columns if str(c) not in known]
    out = {spec.name: df[by_text[str(spec.name)]] for spec in schema.columns if str(spec.name) in by_text}
    return pd.DataFrame(out), ignored


def json_schema_of(schema: Schema) -> dict[str, Any]:
    """The JSON Schema of one record (for the OpenAPI document): numbers for numeric columns, scalars elsewhere."""
    props: dict[str, Any] = {}
    for spec in schema.columns:
        if spec.kind == NUMERIC:
            prop: dict[str, Any] = {"type": ["number", "null"]}
        elif spec.kind in (CATEGORICAL, TEXT):
            prop = {"type": ["string", "number", "boolean", "null"]}
            if spec.categories:
                prop["examples"] = [list(spec.categories[:5])]
        else:
            prop = {"type": ["string", "number", "boolean", "null"]}
        props[str(spec.name)] = {**prop, "description": f"{spec.kind} column (dtype at fit: {spec.dtype})"}
    return {"type": "object", "properties": props, "required": [str(c) for c in schema.names(MODELLED)],
            "additionalProperties": True}
