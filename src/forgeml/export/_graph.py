"""A tiny ONNX graph builder: constants, nodes with unique names, and splicing in a converted estimator's graph.

Hand-built nodes use the default domain at ``OPSET`` and ``ai.onnx.ml`` at ``ML_OPSET``; converted estimators are
asked for the same opsets, so the spliced graphs agree on every operator's version.
"""
from __future__ import annotations

from typing import Any

import numpy as np

OPSET = 17
ML_OPSET = 3
IR_VERSION = 8  # read by every onnxruntime since 1.10


class Graph:
    """Nodes, initializers, inputs and outputs of one model, in topological order (each node appended after
    the nodes whose outputs it reads)."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.opsets: dict[str, int] = {"": OPSET, "ai.onnx.ml": ML_OPSET}
        self._n = 0

    def fresh(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, value: Any, dtype: Any = np.float64, base: str = "const") -> str:
        from onnx import numpy_helper

        name = self.fresh(base)
        arr = np.asarray(value, dtype=dtype)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self.fresh(f"node_{op_type}"),
                                           domain=domain, **attrs))
        return out

    def add_input(self, name: str, elem_type: int) -> str:
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, elem_type, [None, 1]))
        return name

    def add_output(self, tensor: str, name: str, elem_type: int, width: int | None) -> None:
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [tensor], [name], name=self.fresh("node_out")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, [None, width]))

    def splice(self, model: Any, prefix: str, feed: str) -> list[str]:
        """Append ``model``'s graph (names prefixed) fed by tensor ``feed``; its output tensor names, in order."""
        from onnx import compose, helper

        m = compose.add_prefix(model, prefix)
        g = m.graph
        self.nodes.append(helper.make_node("Identity", [feed], [g.input[0].name], name=self.fresh("node_feed")))
        self.nodes.extend(g.node)
        self.initializers.extend(g.initializer)
        for imp in m.opset_import:
            self.opsets[imp.domain] = max(self.opsets.get(imp.domain, 0), imp.version)
        return [o.name for o in g.output]

    def model(self, name: str, doc: str) -> Any:
        from onnx import checker, helper

        graph = helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.initializers)
        opsets = [helper.make_opsetid(d, v) for d, v in sorted(self.opsets.items())]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="forgeml", doc_string=doc)
        model.ir_version = IR_VERSION
        checker.check_model(model)
        return model
