"""Export fitted models to other runtimes. ONNX: ``to_onnx`` (needs ``pip install "forgeml[export]"``; the
ONNX libraries are imported only when a model is converted)."""
from __future__ import annotations

from forgeml.export._check import Part
from forgeml.export.onnx import ExportError, ExportMismatchError, ExportResult, check_onnx, onnx_feed, to_onnx

__all__ = ["ExportError", "ExportMismatchError", "ExportResult", "Part", "check_onnx", "onnx_feed", "to_onnx"]
