"""The HTTP API of a fitted model: ``make_app(model)`` returns a FastAPI application (see docs/serving.md).

The model is loaded once, by the caller; requests only read it. Predictions run one call at a time in a worker
thread (the models use the machine's cores themselves, and the event loop stays free for ``/health``), requests
that arrive meanwhile batched into the next call (see ``batch.py``). Every error is a
JSON object ``{"error": kind, "detail": message}``: 4xx when the request is at fault (the message names the
column, record or value), 500 with a short message otherwise, never an HTML page or a traceback.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any

import anyio
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from forgeml.data.schema import DATETIME
from forgeml.errors import DataError, ForgeMLError, SchemaMismatchError, TaskMismatchError
from forgeml.serve.batch import Batcher
from forgeml.serve.inputs import RequestError, frame_from_csv, frame_from_records, json_schema_of, parse_json

log = logging.getLogger("forgeml.serve")
DEFAULT_MAX_BODY_MB = 10.0
CSV_TYPES = ("text/csv", "application/csv", "text/plain")


class Prediction(BaseModel):
    predictions: list[Any]
    n_records: int
    ignored_columns: list[str]


class Probabilities(BaseModel):
    classes: list[Any]
    probabilities: list[list[float]]
    n_records: int
    ignored_columns: list[str]


class Error(BaseModel):
    error: str
    detail: str


_ERRORS = {code: {"model": Error, "description": text} for code, text in (
    (400, "malformed JSON or CSV, an empty body, or predict_proba on a regression model"),
    (413, "the body is larger than --max-body-mb"), (415, "a content type other than JSON, CSV or a multipart upload"),
    (422, "the records do not match the model's schema (missing column, wrong type, unreadable value)"),
    (500, "the model failed on a valid request"))}


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


class BodyLimit:
    """ASGI middleware refusing bodies above ``max_bytes`` with 413: at once when Content-Length says so, else
    (chunked uploads) as soon as the bytes read pass the limit, so no unbounded body is ever held in memory."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _detail(self) -> str:
        return f"the request body is larger than the server's limit of {self.max_bytes / 2**20:.3g} MB; send fewer rows"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _error(413, "body_too_large", self._detail())(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited, send)


def make_app(model: Any, *, max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 2**20),
             manifest: dict[str, Any] | None = None) -> FastAPI:
    """The API of ``model`` (a fitted ``AutoML`` or ``NASearch``); ``manifest`` (from the model directory) feeds
    ``/metadata``. Bodies above ``max_body_bytes`` are refused with 413."""
    schema = model.schema_
    manifest = manifest or {}
    is_regression = schema.task == "regression"
    limiter = anyio.CapacityLimiter(1)
    batched = not schema.names((DATETIME,))
    predictor = Batcher(model.predict, limiter, enabled=batched)
    prober = Batcher(model.predict_proba, limiter, enabled=batched) if hasattr(model, "predict_proba") else None
    record = json_schema_of(schema)
    body_doc = {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["records"], "additionalProperties": False,
                                         "properties": {"records": {"type": "array", "minItems": 1,
                                                                    "items": record}}}},
        "text/csv": {"schema": {"type": "string", "description": "a header row, then one row per record"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}}}}
    app = FastAPI(title=f"forgeml model: {schema.task} of {schema.target!r}",
                  description="Predictions of a fitted forgeml model. Send JSON {\"records\": [...]} or a CSV.",
                  version=str(manifest.get("versions", {}).get("forgeml", "")) or "0")
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # a backstop: predict catches its own
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal_error", f"{type(exc).__name__}: {str(exc)[:200]}")

    async def frame_of(request: Request) -> tuple[pd.DataFrame, list[str]]:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            form = await request.form()
            upload = form.get("file") or next((v for v in form.values() if hasattr(v, "read")), None)
            if upload is None or not hasattr(upload, "read"):
                raise RequestError(400, "no_file", "the multipart upload has no file: send the CSV as the field 'file'")
            return frame_from_csv(schema, await upload.read())
        body = await request.body()
        if ctype in CSV_TYPES:
            return frame_from_csv(schema, body)
        if ctype == "application/json" or ctype.endswith("+json") or not ctype:
            return frame_from_records(schema, parse_json(body))
        hint = " (curl -d sends it unless told otherwise: add -H 'Content-Type: application/json')" \
            if ctype == "application/x-www-form-urlencoded" else ""
        raise RequestError(415, "unsupported_media_type", f"content type {ctype!r} is not accepted{hint}; send "
                                                          "application/json, text/csv or a multipart CSV upload")

    async def run(batcher: Batcher, frame: pd.DataFrame) -> Any:
        """The model's answer for ``frame``; its own input errors become 422, anything else 500."""
        try:
            return await batcher(frame)
        except SchemaMismatchError as exc:
            raise RequestError(422, "schema_mismatch", str(exc)) from None
        except DataError as exc:
            raise RequestError(422, "invalid_data", str(exc)) from None
        except TaskMismatchError as exc:
            raise RequestError(400, "task_mismatch", str(exc)) from None
        except ForgeMLError as exc:
            raise RequestError(500, "internal_error", f"{type(exc).__name__}: {str(exc)[:300]}") from None
        except Exception as exc:
            log.exception("predict failed")
            raise RequestError(500, "internal_error", f"the model failed on this request ({type(exc).__name__}: "
                                                      f"{str(exc)[:200]})") from None

    @app.post("/predict", response_model=Prediction, responses=_ERRORS, openapi_extra={"requestBody": body_doc},
              summary="Predictions (labels or numbers), one per record")
    async def predict(request: Request) -> dict[str, Any]:
        frame, ignored = await frame_of(request)
        out = await run(predictor, frame)
        return {"predictions": _plain(np.asarray(out).tolist()), "n_records": len(frame), "ignored_columns": ignored}

    @app.post("/predict_proba", response_model=Probabilities, responses=_ERRORS,
              openapi_extra={"requestBody": body_doc}, summary="Class probabilities, one row per record")
    async def predict_proba(request: Request) -> dict[str, Any]:
        if is_regression or prober is None:
            raise RequestError(400, "task_mismatch", "predict_proba needs a classification model, but this one "
                                                         "predicts numbers (regression); use POST /predict")
        frame, ignored = await frame_of(request)
        out = await run(prober, frame)
        classes = list(out.columns) if isinstance(out, pd.DataFrame) else list(schema.classes)
        return {"classes": _plain(classes), "probabilities": np.asarray(out, dtype="float64").tolist(),
                "n_records": len(frame), "ignored_columns": ignored}

    @app.get("/schema", summary="The input columns, the target, the task and the classes")
    async def get_schema() -> dict[str, Any]:
        return {"target": schema.target, "task": schema.task, "classes": _plain(list(schema.classes)),
                "columns": [{"name": str(c.name), "kind": c.kind, "dtype": c.dtype,
                             "required": c.name in schema.modelled, "categories": _plain(list(c.categories))}
                            for c in schema.columns],
                "record": record}

    @app.get("/health", summary="Liveness: the model is loaded; requests predicted and calls into the model")
    async def health() -> dict[str, Any]:
        batchers = [b for b in (predictor, prober) if b is not None]
        return {"status": "ok", "task": schema.task, "target": schema.target,
                "requests_predicted": sum(b.requests for b in batchers), "model_calls": sum(b.calls for b in batchers)}

    meta = _metadata(model, manifest)

    @app.get("/metadata", summary="Versions, metric and CV score, fit time and trials of the model")
    async def metadata() -> dict[str, Any]:
        return meta

    return app


def _metadata(model: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    import fastapi
    import uvicorn

    import forgeml

    metric = manifest.get("metric") or getattr(getattr(model, "metric_", None), "name", None)
    saved = manifest.get("saved_at")
    saved = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved)) if isinstance(saved, (int, float)) else None
    return {
        "kind": manifest.get("kind", type(model).__name__), "task": model.schema_.task, "target": model.schema_.target,
        "metric": metric, "cv_score": _cv_score(model, manifest),
        "fit_seconds": _number(getattr(model, "fit_seconds_", None) or getattr(model, "search_seconds_", None)),
        "n_trials": getattr(model, "n_trials_", None), "pipeline": str(getattr(model, "best_pipeline_", ""))[:500],
        "saved_at": saved,
        "signed": isinstance(manifest.get("signature"), str),
        "saved_with": manifest.get("versions", {}),
        "serving_with": {"forgeml": forgeml.__version__, "fastapi": fastapi.__version__,
                         "uvicorn": uvicorn.__version__},
    }


def _cv_score(model: Any, manifest: dict[str, Any]) -> float | None:
    """The cross-validated score of the kept model: the leaderboard's chosen row (else its best), or the
    manifest's recorded score."""
    for key in ("ensemble_score", "best_score"):
        if isinstance(manifest.get("metrics", {}).get(key), (int, float)):
            return _number(manifest["metrics"][key])
    board = getattr(model, "leaderboard_", None)
    if not isinstance(board, pd.DataFrame) or not len(board):
        return None
    col = next((c for c in board.columns if str(c).startswith("cv_")), None)
    if col is None:
        return None
    rows = board[board["chosen"] == True] if "chosen" in board else board.iloc[:0]  # noqa: E712 (NaN-safe)
    return _number((rows if len(rows) else board)[col].iloc[0])


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _plain(values: list[Any]) -> list[Any]:
    """Labels as JSON values (NumPy scalars as Python ones)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]
